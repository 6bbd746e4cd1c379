/**
 * TCP segments → connections with each direction's bytes in sequence order (docs/replay-captures.md,
 * "Reassembly"). Sequence arithmetic is modulo 2^32 (RFC 9293 §3.4); SYN and FIN each take one sequence
 * number, so a stream's first data byte is ISN + 1. Overlapping bytes: the first copy captured wins.
 */
import type { Problem, StreamPiece, TcpConnection, TcpEndpoint } from '../types.js';
import { guessClient } from './guess-client.js';
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from './tcp.js';

const SEQ_SPACE = 4294967296;

export interface TcpSegment {
  tsUs: number;
  src: TcpEndpoint;
  dst: TcpEndpoint;
  seq: number;
  ack: number;
  flags: number;
  /** Captured payload. */
  payload: Buffer;
  /** Payload length per the IP header (more than payload.length when the frame was snapped). */
  payloadLen: number;
}

/** A run of captured bytes at absolute (unwrapped) stream positions [start, end). */
interface Run {
  start: number;
  end: number;
  data: Buffer;
  tsUs: number;
}

interface Direction {
  from: TcpEndpoint;
  /** ISN from this side's SYN (or SYN-ACK), as an unwrapped position. */
  synAbs: number | null;
  /** Unwrapping reference: the furthest position seen so far (null before the first segment). */
  ref: number | null;
  runs: Run[];
  /** Lowest data position seen: the stream base when no SYN was captured. */
  lowest: number | null;
  /** The furthest position the stream is known to reach (FIN, snapped segments' claimed length). */
  knownEnd: number | null;
  lastTsUs: number;
}

interface Conn {
  id: number;
  firstTsUs: number;
  /** Keyed by `ip|port` of the sender. */
  dirs: Map<string, Direction>;
  /** Key of the side known to have opened the connection. */
  clientKey: string | null;
  sawSyn: boolean;
  closed: boolean;
  hasData: boolean;
}

const endpointKey = (e: TcpEndpoint): string => `${e.ip}|${e.port}`;
export const endpointText = (e: TcpEndpoint): string => (e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`);

export class TcpReassembler {
  private readonly conns: Conn[] = [];
  /** 4-tuple → the latest connection on it. */
  private readonly byTuple = new Map<string, Conn>();

  add(seg: TcpSegment): void {
    const srcKey = endpointKey(seg.src);
    const dstKey = endpointKey(seg.dst);
    const tuple = srcKey < dstKey ? `${srcKey}/${dstKey}` : `${dstKey}/${srcKey}`;
    const isSyn = (seg.flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;
    let conn = this.byTuple.get(tuple);
    if (conn && isSyn && this.startsNewConnection(conn, srcKey, seg.seq)) conn = undefined;
    if (!conn) {
      conn = { id: this.conns.length, firstTsUs: seg.tsUs, dirs: new Map(), clientKey: null, sawSyn: false, closed: false, hasData: false };
      conn.dirs.set(srcKey, newDirection(seg.src));
      conn.dirs.set(dstKey, newDirection(seg.dst));
      this.conns.push(conn);
      this.byTuple.set(tuple, conn);
    }
    const dir = conn.dirs.get(srcKey)!;
    dir.lastTsUs = seg.tsUs;
    const seqAbs = unwrap(dir, seg.seq);
    if (seg.flags & TCP_SYN) {
      if (dir.synAbs === null) dir.synAbs = seqAbs;
      if (conn.clientKey === null) conn.clientKey = isSyn ? srcKey : dstKey;
      if (isSyn) conn.sawSyn = true;
    }
    if (seg.flags & (TCP_FIN | TCP_RST)) conn.closed = true;
    const dataAbs = seg.flags & TCP_SYN ? seqAbs + 1 : seqAbs;
    const claimedEnd = dataAbs + seg.payloadLen;
    if (seg.flags & TCP_FIN || seg.payloadLen > seg.payload.length) {
      dir.knownEnd = Math.max(dir.knownEnd ?? claimedEnd, claimedEnd);
    }
    dir.ref = Math.max(dir.ref ?? claimedEnd, claimedEnd);
    if (seg.payload.length === 0) return;
    conn.hasData = true;
    dir.lowest = Math.min(dir.lowest ?? dataAbs, dataAbs);
    insertRun(dir.runs, { start: dataAbs, end: dataAbs + seg.payload.length, data: seg.payload, tsUs: seg.tsUs });
  }

  /** A SYN from `srcKey` with ISN `seq` on a tuple that already has `conn`: is it a new connection? */
  private startsNewConnection(conn: Conn, srcKey: string, seq: number): boolean {
    const dir = conn.dirs.get(srcKey)!;
    if (conn.sawSyn && conn.clientKey === srcKey && dir.synAbs !== null) {
      // Same ISN: a retransmitted SYN. A different one: the port pair was reused.
      return ((dir.synAbs % SEQ_SPACE) + SEQ_SPACE) % SEQ_SPACE !== seq;
    }
    return conn.closed || conn.hasData || conn.sawSyn;
  }

  /** Every connection, in order of first packet, plus a `tcp-gap` problem per hole. */
  finish(): { connections: TcpConnection[]; problems: Problem[] } {
    const problems: Problem[] = [];
    const connections = this.conns.map((conn) => {
      const [first, second] = [...conn.dirs.values()] as [Direction, Direction];
      const streams = new Map<Direction, StreamPiece[]>([
        [first, []],
        [second, []],
      ]);
      for (const dir of [first, second]) {
        const other = dir === first ? second : first;
        const where = `conn ${conn.id} ${endpointText(dir.from)} → ${endpointText(other.from)}`;
        streams.set(dir, buildStream(dir, where, problems));
      }
      let client: Direction;
      if (conn.clientKey !== null) client = conn.dirs.get(conn.clientKey)!;
      else client = guessClient(first.from, streams.get(first)!, second.from, streams.get(second)!) === 0 ? first : second;
      const server = client === first ? second : first;
      return {
        id: conn.id,
        client: client.from,
        server: server.from,
        firstTsUs: conn.firstTsUs,
        midStream: !conn.sawSyn,
        toServer: streams.get(client)!,
        toClient: streams.get(server)!,
      };
    });
    return { connections, problems };
  }
}

function newDirection(from: TcpEndpoint): Direction {
  return { from, synAbs: null, ref: null, runs: [], lowest: null, knownEnd: null, lastTsUs: 0 };
}

/** The unwrapped position nearest the direction's reference that is congruent to `seq` modulo 2^32. */
function unwrap(dir: Direction, seq: number): number {
  if (dir.ref === null) return seq;
  const refMod = ((dir.ref % SEQ_SPACE) + SEQ_SPACE) % SEQ_SPACE;
  return dir.ref + ((seq - refMod) | 0);
}

/** Add a run to a sorted, non-overlapping list, keeping bytes already there (first copy wins). */
function insertRun(runs: Run[], run: Run): void {
  const last = runs[runs.length - 1];
  if (!last || run.start >= last.end) {
    runs.push(run);
    return;
  }
  let lo = 0;
  let hi = runs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (runs[mid]!.end > run.start) hi = mid;
    else lo = mid + 1;
  }
  const merged: Run[] = [];
  const part = (from: number, to: number): Run => ({
    start: from,
    end: to,
    data: run.data.subarray(from - run.start, to - run.start),
    tsUs: run.tsUs,
  });
  let cur = run.start;
  let i = lo;
  for (; i < runs.length; i++) {
    const r = runs[i]!;
    if (r.start >= run.end) break;
    if (r.start > cur) merged.push(part(cur, r.start));
    merged.push(r);
    cur = Math.max(cur, r.end);
  }
  if (cur < run.end) merged.push(part(cur, run.end));
  runs.splice(lo, i - lo, ...merged);
}

/** Runs from the stream base on, with a gap piece (and a problem) for every hole, trailing ones included. */
function buildStream(dir: Direction, where: string, problems: Problem[]): StreamPiece[] {
  const base = dir.synAbs !== null ? dir.synAbs + 1 : dir.lowest;
  if (base === null) return [];
  const out: StreamPiece[] = [];
  let pos = base;
  const gap = (to: number, tsUs: number): void => {
    const bytes = to - pos;
    out.push({ kind: 'gap', tsUs, bytes });
    problems.push({ kind: 'tcp-gap', detail: `${where}: ${bytes} bytes never captured at stream offset ${pos - base}` });
  };
  for (const r of dir.runs) {
    if (r.end <= pos) continue;
    if (r.start > pos) gap(r.start, r.tsUs);
    const from = Math.max(r.start, pos);
    out.push({ kind: 'data', tsUs: r.tsUs, data: r.data.subarray(from - r.start) });
    pos = r.end;
  }
  if (dir.knownEnd !== null && dir.knownEnd > pos) gap(dir.knownEnd, dir.lastTsUs);
  return out;
}
