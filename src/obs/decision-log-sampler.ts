/**
 * Keeps a flood from writing a log line per request (an attacker must not control the log volume):
 * the first non-allow decision per identity, deciding detector, action and shadow is logged in full;
 * later ones within `intervalMs` of vigil's clock are only counted, and the first one after the
 * interval is logged in full again with `repeated`: how many such decisions the line stands for since
 * the last one logged. Metrics still count every decision. At most `maxKeys` keys are remembered
 * (the oldest is forgotten beyond that, so its next decision is logged in full).
 */
export class DecisionLogSampler {
  private readonly seen = new Map<string, { sinceMs: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = 60_000,
    private readonly maxKeys = 10_000,
  ) {}

  /**
   * Whether this decision is logged; when it is, `repeated` is the count of decisions of its key it
   * stands for (1 for the first).
   */
  admit(key: string, nowMs: number): { log: boolean; repeated: number } {
    const s = this.seen.get(key);
    if (s && nowMs - s.sinceMs < this.intervalMs && nowMs >= s.sinceMs) {
      s.suppressed++;
      return { log: false, repeated: 0 };
    }
    const repeated = (s?.suppressed ?? 0) + 1;
    this.seen.delete(key);
    this.seen.set(key, { sinceMs: nowMs, suppressed: 0 });
    if (this.seen.size > this.maxKeys) {
      const oldest = this.seen.keys().next();
      if (!oldest.done) this.seen.delete(oldest.value);
    }
    return { log: true, repeated };
  }
}
