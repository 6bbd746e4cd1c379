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

  private readonly labelNames: readonly L[];
  private readonly exemplars: boolean;

  /** With `exemplars`, incWithExemplar records one (served when the registry speaks OpenMetrics). */
  constructor(name: string, help: string, labelNames: readonly L[], registry: Registry, exemplars = false) {
    const pending = this.pending;
    this.labelNames = labelNames;
    this.exemplars = exemplars;
    const labelsOf = (key: string) => {
      const values = key.split('\u0000');
      return Object.fromEntries(labelNames.map((l, i) => [l, values[i] ?? ''])) as Partial<Record<L, string>>;
    };
    this.counter = new Counter<L>({
      name,
      help,
      labelNames: [...labelNames],
      registers: [registry],
      enableExemplars: exemplars,
      collect() {
        for (const [key, n] of pending) {
          if (exemplars) this.inc({ labels: labelsOf(key), value: n });
          else this.inc(labelsOf(key), n);
        }
        pending.clear();
      },
    });
  }

  /**
   * Adds 1 with an exemplar (label set ≤ 128 characters, OpenMetrics): for rare series such as
   * non-allow decisions, so it goes to prom-client at once. Without exemplars, the same as inc.
   */
  incWithExemplar(values: readonly string[], exemplarLabels: Record<string, string>): void {
    if (!this.exemplars) {
      this.inc(values);
      return;
    }
    const labels = Object.fromEntries(this.labelNames.map((l, i) => [l, values[i] ?? ''])) as Partial<Record<L, string>>;
    this.counter.inc({ labels, value: 1, exemplarLabels: exemplarLabels as Partial<Record<L, string>> });
  }

  /** Adds 1 (or n) to the series with these label values, given in labelNames order. */
  inc(values: readonly string[], n = 1): void {
    const key = values.length === 1 ? values[0]! : values.join('\u0000');
    this.pending.set(key, (this.pending.get(key) ?? 0) + n);
  }
}
