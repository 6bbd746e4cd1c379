import type { StateStore } from '../state/store.js';

/** How often population priors are merged and refreshed (clock time, so replay is deterministic). */
export const POPULATION_REFRESH_MS = 5000;
/** Samples kept between refreshes; the rest are dropped (the prior moves slowly anyway). */
const MAX_PENDING_SAMPLES = 10_000;
const POPULATION_ALPHA = 0.01;
/** Decayed sample weight the merged estimate needs before it replaces the configured prior (≤ 1/α). */
const MIN_POPULATION_WEIGHT = 20;

export interface Prior {
  mean: number;
  variance: number;
  /** Whether the population has replaced the configured values yet. */
  learned: boolean;
}

/**
 * A detector's population baselines, one per group (endpoint group, or '' for one overall): closed
 * window values of many subjects are queued on the request path and merged into the store's shared
 * population estimate off the path, every POPULATION_REFRESH_MS of clock time, so every replica
 * converges on the same prior. See StateStore.mergePopulation for the maths.
 *
 * Robust to the callers the prior should catch: once the prior is learned, a value is queued
 * winsorised at the group's current threshold, `cap(prior)` (the detector's own "a newcomer fires above this"), so one attacker's
 * windows of thousands count as windows at the threshold. A real shift of the population still moves
 * the prior: each capped value pulls the mean and the variance up, and so the cap (docs/detectors.md,
 * "Robust population").
 */
export class PopulationPriors {
  private readonly groups = new Map<string, Prior & { pending: number[] }>();
  private lastRefreshMs = -Infinity;
  private refreshing = false;

  constructor(
    /** Store key prefix, e.g. `rate:request-rate`. */
    private readonly key: string,
    private readonly initial: { mean: number; variance: number },
    private readonly ttlMs: number,
    /** The value above which a newcomer judged against this prior would fire: samples are capped there. */
    private readonly cap: (prior: { mean: number; variance: number }) => number,
  ) {}

  get(group: string): Prior {
    return this.entry(group);
  }

  private entry(group: string): Prior & { pending: number[] } {
    let g = this.groups.get(group);
    if (!g) {
      g = { mean: this.initial.mean, variance: this.initial.variance, learned: false, pending: [] };
      this.groups.set(group, g);
    }
    return g;
  }

  /**
   * Queues a closed-window value of one subject, winsorised at the group's current threshold once the
   * prior is learned (the configured prior is a guess: capping at it would make the guess stick).
   */
  add(group: string, value: number): void {
    const g = this.entry(group);
    if (g.pending.length < MAX_PENDING_SAMPLES) g.pending.push(g.learned ? winsorise(value, this.cap(g)) : value);
  }

  /** Merges queued samples and refreshes the priors, at most every POPULATION_REFRESH_MS; null when not due. */
  refresh(store: StateStore, nowMs: number): Promise<void> | null {
    if (this.refreshing || nowMs - this.lastRefreshMs < POPULATION_REFRESH_MS) return null;
    this.lastRefreshMs = nowMs;
    this.refreshing = true;
    const merges = [...this.groups.entries()].map(([group, g]) => {
      const samples = g.pending;
      g.pending = [];
      return store.mergePopulation(group ? `${this.key}:${group}` : this.key, samples, POPULATION_ALPHA, this.ttlMs, nowMs).then((stats) => {
        if (stats.weight >= MIN_POPULATION_WEIGHT) {
          g.mean = stats.mean;
          g.variance = stats.variance;
          g.learned = true;
        }
      });
    });
    return Promise.all(merges)
      .then(() => undefined)
      .finally(() => {
        this.refreshing = false;
      });
  }
}

/** value capped at cap (a cap that is not a finite number caps nothing). */
export function winsorise(value: number, cap: number): number {
  return Number.isFinite(cap) && value > cap ? cap : value;
}
