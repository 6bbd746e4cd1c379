/**
 * The even-paced load generator: `node paced.js '<PacedSpec JSON>'`, run in its own (pinned) process
 * like h2load, printing one PacedResult as JSON on stdout.
 *
 * h2load --rps starts the requests that fell due in bursts off a coarse timer. Here request i starts at
 * t0 + i/rate exactly: the loop spins on performance.now() (the monotonic high-resolution clock) and
 * yields to the event loop with setImmediate between checks, so responses are read within
 * microseconds; only gaps longer than 2 ms sleep on a timer (and wake 1.5 ms early). Each start and
 * its lateness against the schedule are recorded, so the report can show the generator kept up.
 * Without a rate it is a closed loop with `streams` in flight. Paced, at most MAX_IN_FLIGHT streams are
 * open at once (an overloaded server would otherwise collect an unbounded backlog and start refusing
 * streams): a start held back by that cap counts as late, so the report shows it.
 *
 * Every request is one stream carrying a pre-encoded gRPC-framed ProcessingRequest read from
 * `payloadFile` (one or more frames back to back; request i carries frame i mod n, so n API keys are
 * visited evenly), on `connections` HTTP/2 connections taken in turn. A request ends at the response's
 * trailers; it counts as answered when it got HTTP 200 and grpc-status 0.
 */
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { PROCESS_METHOD } from '../src/extproc/proto.js';
import { splitFrames } from './payload.js';
import { summarise, type PacedRecords } from './paced-summary.js';

export interface PacedSpec {
  port: number;
  payloadFile: string;
  connections: number;
  /** Starts per second; absent = closed loop. */
  rate?: number;
  /** Closed loop: streams in flight across all connections. */
  streams?: number;
  durationS: number;
  /** Stop after this many starts even if durationS has not elapsed. */
  requests?: number;
  /** Requests started in the first dropMs are left out of the figures. */
  dropMs: number;
}

const DRAIN_MS = 30_000;
const MAX_IN_FLIGHT = 1024;
const SLEEP_ABOVE_MS = 2;
const WAKE_EARLY_MS = 1.5;

const HEADERS = {
  [constants.HTTP2_HEADER_METHOD]: 'POST',
  [constants.HTTP2_HEADER_PATH]: PROCESS_METHOD,
  'content-type': 'application/grpc',
  te: 'trailers',
};

function openSessions(port: number, n: number): Promise<ClientHttp2Session[]> {
  return Promise.all(
    Array.from({ length: n }, () =>
      new Promise<ClientHttp2Session>((resolve, reject) => {
        const s = connect(`http://127.0.0.1:${port}`);
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
    ),
  );
}

async function run(spec: PacedSpec): Promise<void> {
  const frames = splitFrames(readFileSync(spec.payloadFile));
  const sessions = await openSessions(spec.port, spec.connections);
  const paced = spec.rate !== undefined;
  const intervalMs = paced ? 1000 / spec.rate! : 0;
  const durationMs = spec.durationS * 1000;
  const cap = spec.requests ?? (paced ? Math.ceil(spec.rate! * spec.durationS) : Infinity);
  // Closed loop: size the records for a generous 60k req/s.
  const size = Number.isFinite(cap) ? cap : Math.ceil(60_000 * spec.durationS) + 1024;
  const rec: PacedRecords = {
    sent: 0,
    start: new Float64Array(size),
    due: new Float64Array(size),
    latency: new Float64Array(size).fill(NaN),
    outcome: new Uint8Array(size),
    status2xx: 0,
  };
  let inFlight = 0;
  let onIdle: (() => void) | null = null;
  let onAnswer: (() => void) | null = null;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();

  const send = (i: number, due: number): void => {
    const started = performance.now() - t0;
    rec.start[i] = started;
    rec.due[i] = due;
    rec.sent = i + 1;
    inFlight++;
    let ended = false;
    let http200 = false;
    const end = (grpcStatus: unknown): void => {
      if (ended) return;
      ended = true;
      inFlight--;
      rec.latency[i] = performance.now() - t0 - started;
      rec.outcome[i] = http200 && String(grpcStatus) === '0' ? 2 : 1;
      if (onAnswer) onAnswer();
      if (inFlight === 0 && onIdle) onIdle();
    };
    const req = sessions[i % sessions.length]!.request(HEADERS, { endStream: false });
    req.on('response', (h: IncomingHttpHeaders) => {
      http200 = Number(h[':status']) === 200;
      if (http200) rec.status2xx++;
      // A trailers-only answer carries grpc-status in the headers.
      if (h['grpc-status'] !== undefined) end(h['grpc-status']);
    });
    req.on('trailers', (t: IncomingHttpHeaders) => end(t['grpc-status']));
    req.on('error', () => undefined);
    req.on('close', () => {
      if (!ended) {
        ended = true;
        inFlight--;
        if (onAnswer) onAnswer();
        if (inFlight === 0 && onIdle) onIdle();
      }
    });
    req.resume();
    req.end(frames[i % frames.length]!);
  };

  await new Promise<void>((resolve) => {
    if (paced) {
      let next = 0;
      const tick = (): void => {
        const now = performance.now() - t0;
        while (next < cap && next * intervalMs <= now && inFlight < MAX_IN_FLIGHT) {
          send(next, next * intervalMs);
          next++;
        }
        if (next >= cap || now >= durationMs) return resolve();
        const wait = next * intervalMs - (performance.now() - t0);
        if (wait > SLEEP_ABOVE_MS) setTimeout(tick, wait - WAKE_EARLY_MS);
        else setImmediate(tick);
      };
      tick();
    } else {
      let next = 0;
      const streams = spec.streams ?? 1;
      // Each answer starts the next request until the time or the count is up; then the drain below.
      onAnswer = () => {
        const now = performance.now() - t0;
        if (next < cap && next < size && now < durationMs) {
          send(next, now);
          next++;
        } else resolve();
      };
      for (; next < Math.min(streams, cap, size); next++) send(next, 0);
    }
  });
  onAnswer = null;
  if (inFlight > 0) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, DRAIN_MS);
      onIdle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  for (const s of sessions) s.destroy();
  const result = summarise(rec, {
    dropMs: spec.dropMs,
    offeredRps: paced ? spec.rate! : null,
    generatorCpu: (cpu.user + cpu.system) / 1000 / wallMs,
    payloads: frames.length,
  });
  process.stdout.write(JSON.stringify(result) + '\n');
}

run(JSON.parse(process.argv[2] ?? '{}') as PacedSpec).catch((err: unknown) => {
  process.stderr.write(`paced: ${String((err as Error)?.stack ?? err)}\n`);
  process.exitCode = 1;
});
