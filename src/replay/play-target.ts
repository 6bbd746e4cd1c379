/**
 * Replay against a vigil that is already running (`--target HOST:PORT`): envoy-sim plays each exchange
 * at its captured offset on the wall clock (sped up by `speed`), or back to back when speed is
 * unbounded. That vigil keeps its own clock and state, so the decisions depend on when and how often
 * the replay runs; only what the wire shows is recorded (action and detectors, no reasons).
 */
import { EnvoySim } from '../envoy-sim/index.js';
import { REPLAY_SIM_CONFIG } from './play-in-process.js';
import type { PlayResult } from './play-in-process.js';
import { recordFromWire } from './record.js';
import type { ReplayRecord } from './record.js';
import { toSimExchange } from './to-sim-exchange.js';
import type { ReplayExchange } from './types.js';
import { classify } from './wire-outcome.js';

export interface TargetOptions {
  target: string;
  /** Capture time runs this many times faster than the wall clock; Infinity = back to back, one at a time. */
  speed: number;
  /** Envoy's per-message timeout (its default is 200 ms). */
  messageTimeoutMs: number;
  onRecord?: (r: ReplayRecord) => void;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function playAgainstTarget(exchanges: readonly ReplayExchange[], opts: TargetOptions): Promise<PlayResult> {
  // A running vigil is someone's Envoy peer: play it with Envoy's message timeout, and fail-closed as in
  // process, so that a vigil that does not answer (down, or the wrong port) shows as an error with its
  // gRPC cause. Fail-open would let the request through and the replay would read it as an allow.
  const sim = new EnvoySim(opts.target, { ...REPLAY_SIM_CONFIG, message_timeout_ms: opts.messageTimeoutMs });
  const started = performance.now();
  const records: ReplayRecord[] = new Array(exchanges.length);
  const t0 = exchanges[0]?.tsUs ?? 0;
  const one = async (i: number, x: ReplayExchange) => {
    const r = await sim.exchange(toSimExchange(x));
    const record = recordFromWire(i, x, r, classify(r));
    records[i] = record;
    opts.onRecord?.(record);
  };
  try {
    if (!Number.isFinite(opts.speed)) {
      for (const [i, x] of exchanges.entries()) await one(i, x);
    } else {
      const inFlight: Array<Promise<void>> = [];
      for (const [i, x] of exchanges.entries()) {
        const due = (x.tsUs - t0) / 1000 / opts.speed - (performance.now() - started);
        if (due > 0) await sleep(due);
        inFlight.push(one(i, x));
      }
      await Promise.all(inFlight);
    }
  } finally {
    sim.close();
  }
  return { records, elapsedMs: performance.now() - started };
}
