/**
 * Event-loop stalls: stretches of wall time in which vigil ran nothing at all (its container throttled
 * by a CPU limit, the host paused, a stop signal). Node's event-loop delay histogram (prom-client's
 * `nodejs_eventloop_lag_*`) follows busy loops but was seen to record nothing of a process stopped for
 * seconds, so vigil watches for itself: a timer every CHECK_MS compares the monotonic clock with when
 * it should have run; a gap of STALL_MS or more is one stall, counted and timed, and logged (one
 * warning a minute at most). Decisions and syncs waited through it; deadline.ts makes sure the store
 * is not blamed for it.
 */
import type { ThrottledLog } from './throttled-log.js';

/** How often the loop is checked. */
export const CHECK_MS = 100;
/** A gap counted as a stall: Envoy's default message_timeout, past which a decision fails open. */
export const STALL_MS = 200;

export interface StallSink {
  /** A stall of `seconds` was seen. */
  stalled(seconds: number): void;
}

export interface LoopStallWatch {
  stop(): void;
}

export function watchLoopStalls(sink: StallSink, problems: ThrottledLog, now: () => number = () => performance.now()): LoopStallWatch {
  let last = now();
  const timer = setInterval(() => {
    const t = now();
    const gapMs = t - last - CHECK_MS;
    last = t;
    if (gapMs < STALL_MS) return;
    sink.stalled(gapMs / 1000);
    problems.warn('event-loop-stall', { stalledMs: Math.round(gapMs) }, 'event loop stalled: vigil got no CPU, decisions waited (not a store fault)');
  }, CHECK_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
