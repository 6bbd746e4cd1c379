/**
 * Reads a message body once its framing is known (see framing.ts): a fixed length (RFC 9112 §6.2), the chunked
 * transfer coding (RFC 9112 §7.1: chunk extensions ignored, trailer section read and discarded) or everything up
 * to the end of the connection. Bodies are kept up to a cap while their full decoded length is counted.
 *
 * Gaps: bytes missing inside body data are counted as body (the body is then incomplete) and reading goes on after
 * the gap. When a gap swallows the end of a body, or falls in chunked framing, the message's end is unknown.
 */
import { readLine, type Cursor, type Run } from './byte-stream.js';
import { readHeaderSection } from './header-section.js';

export type BodyResult =
  | {
      kind: 'done';
      body: Buffer;
      bodyBytes: number;
      /** False when bytes of the body were not captured or the stream ended first. */
      complete: boolean;
      /** Bytes of the body that fell in gaps. */
      gapBytes: number;
      /** The stream ended before the body did. */
      truncated: boolean;
      next: Cursor;
      /** The body's end fell inside a gap: the next message must be searched for from `next`. */
      resync: boolean;
    }
  | { kind: 'dropped'; problem: 'gap-in-framing' | 'bad-chunk'; detail: string; resume: Cursor };

/** Keeps the first `cap` bytes of a body and counts all of them. */
class BodySink {
  private readonly parts: Buffer[] = [];
  private kept = 0;
  total = 0;
  gapBytes = 0;
  constructor(private readonly cap: number) {}
  add(data: Buffer): void {
    this.total += data.length;
    if (this.kept < this.cap && data.length > 0) {
      const part = data.length > this.cap - this.kept ? data.subarray(0, this.cap - this.kept) : data;
      this.parts.push(part);
      this.kept += part.length;
    }
  }
  skip(bytes: number): void {
    this.total += bytes;
    this.gapBytes += bytes;
  }
  body(): Buffer {
    return this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts, this.kept);
  }
}

function done(sink: BodySink, next: Cursor, extra: { truncated?: boolean; resync?: boolean } = {}): BodyResult {
  const truncated = extra.truncated ?? false;
  return { kind: 'done', body: sink.body(), bodyBytes: sink.total, complete: !truncated && sink.gapBytes === 0, gapBytes: sink.gapBytes, truncated, next, resync: extra.resync ?? false };
}

function endOf(runs: readonly Run[]): Cursor {
  const r = Math.max(0, runs.length - 1);
  return { r, o: runs[r]?.data.length ?? 0 };
}

type DataResult = { kind: 'ok'; next: Cursor } | { kind: 'ended' } | { kind: 'lost-end'; next: Cursor };

/** Moves `length` bytes of body data into the sink, across gaps that lie wholly inside them. */
function readData(runs: readonly Run[], c: Cursor, length: number, sink: BodySink): DataResult {
  let { r, o } = c;
  let remaining = length;
  for (;;) {
    const run = runs[r] as Run;
    const take = Math.min(run.data.length - o, remaining);
    sink.add(run.data.subarray(o, o + take));
    o += take;
    remaining -= take;
    if (remaining === 0) return { kind: 'ok', next: { r, o } };
    if (r >= runs.length - 1) return { kind: 'ended' };
    if (run.gapAfter > remaining) {
      sink.skip(remaining);
      return { kind: 'lost-end', next: { r: r + 1, o: 0 } };
    }
    sink.skip(run.gapAfter);
    remaining -= run.gapAfter;
    r += 1;
    o = 0;
  }
}

/** A body of `length` bytes (Content-Length, RFC 9112 §6.2). */
export function readLengthBody(runs: readonly Run[], c: Cursor, length: number, cap: number): BodyResult {
  const sink = new BodySink(cap);
  const res = readData(runs, c, length, sink);
  if (res.kind === 'ended') return done(sink, endOf(runs), { truncated: true });
  return done(sink, res.next, { resync: res.kind === 'lost-end' });
}

/** A response body delimited by the end of the connection (RFC 9112 §6.3 item 8). */
export function readUntilClose(runs: readonly Run[], c: Cursor, cap: number): BodyResult {
  const sink = new BodySink(cap);
  for (let r = c.r; r < runs.length; r++) {
    const run = runs[r] as Run;
    sink.add(run.data.subarray(r === c.r ? c.o : 0));
    if (r < runs.length - 1) sink.skip(run.gapAfter);
  }
  return done(sink, endOf(runs));
}

/** chunk-size [ chunk-ext ] (RFC 9112 §7.1, §7.1.1: chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] )). */
const CHUNK_LINE = /^([0-9A-Fa-f]+)[ \t]*(?:;.*)?$/s;

/** A chunked body (RFC 9112 §7.1): chunks, the last chunk, the trailer section and its empty line. */
export function readChunkedBody(runs: readonly Run[], c: Cursor, cap: number, maxLine: number): BodyResult {
  const sink = new BodySink(cap);
  let { r, o } = c;
  const gapInFraming = (what: string): BodyResult => ({ kind: 'dropped', problem: 'gap-in-framing', detail: `bytes missing in ${what}`, resume: { r: r + 1, o: 0 } });
  for (;;) {
    const run = runs[r] as Run;
    const last = r === runs.length - 1;
    const line = readLine(run, o, maxLine, last);
    if (line.kind === 'end') return done(sink, endOf(runs), { truncated: true });
    if (line.kind === 'gap') return gapInFraming('a chunk-size line');
    if (line.kind === 'too-long') return { kind: 'dropped', problem: 'bad-chunk', detail: `chunk-size line longer than ${maxLine} bytes`, resume: { r, o } };
    const m = CHUNK_LINE.exec(line.text);
    if (m === null) return { kind: 'dropped', problem: 'bad-chunk', detail: `bad chunk-size line ${JSON.stringify(line.text.slice(0, 40))}`, resume: { r, o } };
    const hex = (m[1] as string).replace(/^0+(?=.)/, '');
    // More than 13 hex digits is over 2^52 bytes: read to the end of the stream, whatever the exact number.
    const size = hex.length > 13 ? Number.MAX_SAFE_INTEGER : parseInt(hex, 16);
    o = line.next;
    if (size === 0) {
      const trailers = readHeaderSection(run, o, maxLine, last);
      if (trailers.kind === 'ok') return done(sink, { r, o: trailers.next });
      if (trailers.kind === 'end') return done(sink, endOf(runs), { truncated: true });
      if (trailers.kind === 'gap') return gapInFraming('the trailer section');
      return { kind: 'dropped', problem: 'bad-chunk', detail: `trailer section longer than ${maxLine} bytes`, resume: { r, o } };
    }
    const data = readData(runs, { r, o }, size, sink);
    if (data.kind === 'ended') return done(sink, endOf(runs), { truncated: true });
    if (data.kind === 'lost-end') return { kind: 'dropped', problem: 'gap-in-framing', detail: 'bytes missing across the end of a chunk', resume: data.next };
    ({ r, o } = data.next);
    const endRun = runs[r] as Run;
    const crlf = readLine(endRun, o, 2, r === runs.length - 1);
    if (crlf.kind === 'end') return done(sink, endOf(runs), { truncated: true });
    if (crlf.kind === 'gap') return gapInFraming('the CRLF after chunk data');
    if (crlf.kind === 'too-long' || crlf.text.length > 0)
      return { kind: 'dropped', problem: 'bad-chunk', detail: `chunk data of ${size} bytes not followed by CRLF`, resume: { r, o } };
    o = crlf.next;
  }
}
