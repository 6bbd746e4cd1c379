import type { RateOp } from '../state/store.js';

const HOUR_MS = 3_600_000;
const WEEK_MS = 7 * 24 * HOUR_MS;

/** Hour of the week in UTC, 0 = Monday 00:00–01:00 (the Unix epoch fell on a Thursday). */
export function hourOfWeek(nowMs: number): number {
  return Math.floor(((nowMs + 3 * 24 * HOUR_MS) % WEEK_MS) / HOUR_MS);
}

/**
 * Makes a rate op seasonal: one baseline per hour of the week (its own key), empty buckets folded only
 * within that hour (a week-long pause between an hour's visits is not data), and a TTL that outlives
 * the pause. The op is changed in place.
 */
export function makeSeasonal(op: RateOp, nowMs: number): RateOp {
  op.name = `${op.name}:how${hourOfWeek(nowMs)}`;
  op.maxEmpty = Math.max(0, Math.floor(HOUR_MS / op.bucketMs) - 1);
  op.skipLongGaps = true;
  op.ttlMs = Math.max(op.ttlMs, 5 * WEEK_MS);
  return op;
}
