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
    const t = this.now();
    const seen = this.last.get(kind);
    if (seen && t - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    this.last.set(kind, { at: t, suppressed: 0 });
    this.logger.warn({ kind, ...fields, suppressedSinceLast: seen?.suppressed ?? 0 }, msg);
    if (this.last.size > 1000) this.last.clear();
  }
}
