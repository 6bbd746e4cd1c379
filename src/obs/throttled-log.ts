import type { Logger } from './logger.js';

/**
 * Logs a given kind of problem at most once per interval, with the count suppressed since — so bad
 * input or a flapping dependency yields a metric per event but only one log line, not a flood.
 */
export class ThrottledLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = () => performance.now(),
  ) {}

  warn(kind: string, fields: Record<string, unknown>, msg: string): void {
    const suppressed = this.admit(kind);
    if (suppressed !== null) this.logger.warn({ kind, ...fields, suppressedSinceLast: suppressed }, msg);
  }

  /** The caller has just logged `kind` itself: its interval starts now (or it counts as suppressed). */
  noteLogged(kind: string): void {
    this.admit(kind);
  }

  /** null when `kind` was logged less than an interval ago (then counted); else how many were suppressed since. */
  private admit(kind: string): number | null {
    const t = this.now();
    const seen = this.last.get(kind);
    if (seen && t - seen.at < this.intervalMs) {
      seen.suppressed++;
      return null;
    }
    if (this.last.size >= 1000) this.last.clear();
    this.last.set(kind, { at: t, suppressed: 0 });
    return seen?.suppressed ?? 0;
  }
}
