import { Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/** What prom-client's Histogram keeps for one label set (lib/histogram.js, createBaseValues). */
interface HistogramValues {
  bucketValues: Record<number, number>;
  sum: number;
  count: number;
}

/**
 * A label-free Prometheus histogram for the request path, the histogram counterpart of tally.ts: an
 * observation is a bucket search and two additions on plain numbers, and the counts are handed to a
 * prom-client Histogram in bulk when the registry is scraped. The Histogram does the exposition, so
 * the series are exactly prom-client's (test/obs/tally-histogram.test.ts compares them).
 */
export class TallyHistogram {
  readonly histogram: Histogram;
  private readonly bounds: readonly number[];
  /** Observations since the last scrape, per bucket: i for bounds[i], the last one above every bound. */
  private readonly counts: number[];
  private sum = 0;

  constructor(name: string, help: string, buckets: readonly number[], registry: Registry) {
    this.bounds = buckets;
    this.counts = new Array<number>(buckets.length + 1).fill(0);
    const flush = (h: Histogram) => this.flush(h);
    this.histogram = new Histogram({
      name,
      help,
      buckets: [...buckets],
      registers: [registry],
      collect() {
        flush(this);
      },
    });
  }

  /** Records one value (seconds, a finite number). */
  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
  }

  private flush(h: Histogram): void {
    let total = 0;
    for (const n of this.counts) total += n;
    if (total === 0) return;
    // A label-free Histogram holds one value set, created at construction or by zero() after a reset.
    const store = (h as unknown as { hashMap: Record<string, HistogramValues> }).hashMap;
    if (Object.keys(store).length === 0) h.zero({});
    const values = Object.values(store)[0]!;
    this.bounds.forEach((bound, i) => (values.bucketValues[bound]! += this.counts[i]!));
    values.sum += this.sum;
    values.count += total;
    this.counts.fill(0);
    this.sum = 0;
  }
}
