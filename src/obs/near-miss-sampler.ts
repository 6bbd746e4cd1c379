/**
 * Which allowed decisions are worth a log line under VIGIL_LOG_SIGNALS: near misses, each caller's
 * closest approach so far. An allowed exchange is near when one of its signals reached at least half of
 * its threshold (score / threshold ≥ 0.5, signals with a positive threshold). Per key (a caller), within
 * `intervalMs` of vigil's clock, a line is written only when the caller came nearer than its last line
 * by a quarter of the threshold or more; nearness counts up to twice the threshold. So a caller writes
 * at most six such lines an interval (0.5, 0.75, … 1.75 and beyond), however much it sends, and the
 * last one shows how near it came. At most `maxKeys` keys are remembered (the oldest forgotten first).
 */
import type { Signal } from '../detectors/types.js';

const STEPS_PER_THRESHOLD = 4;
const FIRST_STEP = 2; // half the threshold
const LAST_STEP = 7; // 1.75 × the threshold and beyond

/** How near the nearest signal came, in quarters of its threshold (capped); -1 when none has a threshold. */
export function nearness(signals: readonly Signal[]): number {
  let best = -1;
  for (const s of signals) {
    if (!(s.threshold > 0)) continue;
    const step = Math.min(LAST_STEP, Math.floor((s.score / s.threshold) * STEPS_PER_THRESHOLD));
    if (step > best) best = step;
  }
  return best;
}

export class NearMissSampler {
  private readonly seen = new Map<string, { sinceMs: number; step: number }>();

  constructor(
    private readonly intervalMs = 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  /** Whether an allowed exchange with these signals gets a log line. */
  admit(key: string, signals: readonly Signal[], nowMs: number): boolean {
    const step = nearness(signals);
    if (step < FIRST_STEP) return false;
    const s = this.seen.get(key);
    if (s && nowMs - s.sinceMs < this.intervalMs && nowMs >= s.sinceMs && step <= s.step) return false;
    this.seen.delete(key);
    this.seen.set(key, { sinceMs: s && nowMs - s.sinceMs < this.intervalMs && nowMs >= s.sinceMs ? s.sinceMs : nowMs, step });
    if (this.seen.size > this.maxKeys) {
      const oldest = this.seen.keys().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    return true;
  }
}
