import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * A labelled Prometheus counter for the request path: increments are plain Map updates (no label
 * hashing or validation per request) and are handed to prom-client when the registry is scraped.
 * Label values must come from a small, known set (the caller's responsibility, as for any label).
 */
export class Tally<L extends string> {
  private readonly pending = new Map<string, number>();
  readonly counter: Counter<L>;

  constructor(name: string, help: string, labelNames: readonly L[], registry: Registry) {
    const pending = this.pending;
    this.counter = new Counter<L>({
      name,
      help,
      labelNames: [...labelNames],
      registers: [registry],
      collect() {
        for (const [key, n] of pending) {
          const values = key.split('\u0000');
          const labels = Object.fromEntries(labelNames.map((l, i) => [l, values[i] ?? ''])) as Partial<Record<L, string>>;
          this.inc(labels, n);
        }
        pending.clear();
      },
    });
  }

  /** Adds 1 (or n) to the series with these label values, given in labelNames order. */
  inc(values: readonly string[], n = 1): void {
    const key = values.length === 1 ? values[0]! : values.join('\u0000');
    this.pending.set(key, (this.pending.get(key) ?? 0) + n);
  }
}
