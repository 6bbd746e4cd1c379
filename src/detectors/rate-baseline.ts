import type { Fields } from '../policy/fields.js';
import type { RequestFacts } from '../request/types.js';
import type { OpResult, RateOp, StateStore } from '../state/store.js';
import { subjectOf } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, Plan, Signal } from './types.js';

/**
 * Rate baseline: requests per bucket (default one minute) for each subject, compared with that
 * subject's own EWMA mean and variance of past buckets as a z-score. Newcomers borrow a prior learned
 * from the population of subjects; a variance floor (and the Poisson floor var ≥ mean) and a minimum
 * volume keep small numbers from looking like attacks. Maths: docs/detectors.md.
 */
export interface RateBaselineConfig extends DetectorBase {
  type: 'rate-baseline';
  bucketMs: number;
  halfLifeMs: number;
  thresholdZ: number;
  minCount: number;
  varianceFloor: number;
  priorMean: number;
  priorVariance: number;
  priorWeight: number;
  clampZ: number;
  learnPopulation: boolean;
  stateTtlMs: number;
}

/** How often the population prior is merged and refreshed (clock time, so replay is deterministic). */
const POPULATION_REFRESH_MS = 5000;
/** Closed-bucket samples kept between refreshes; the rest are dropped (the prior moves slowly anyway). */
const MAX_PENDING_SAMPLES = 10_000;
const POPULATION_ALPHA = 0.01;
/** Decayed sample weight the merged population estimate needs before it replaces the configured prior (≤ 1/α). */
const MIN_POPULATION_WEIGHT = 20;

export class RateBaselineDetector implements Detector {
  private priorMean: number;
  private priorVariance: number;
  private pending: number[] = [];
  private lastRefreshMs = -Infinity;
  private refreshing = false;
  readonly alpha: number;

  constructor(readonly config: RateBaselineConfig) {
    this.priorMean = config.priorMean;
    this.priorVariance = config.priorVariance;
    // Half-life h in buckets: weight of a bucket k steps old is (1-α)^k = 2^(-k/h).
    this.alpha = 1 - Math.pow(2, -config.bucketMs / config.halfLifeMs);
  }

  plan(facts: RequestFacts): Plan {
    const c = this.config;
    const op: RateOp = {
      kind: 'rate',
      name: c.name,
      bucketMs: c.bucketMs,
      alpha: this.alpha,
      priorMean: this.priorMean,
      priorVariance: this.priorVariance,
      priorWeight: c.priorWeight,
      varianceFloor: c.varianceFloor,
      minCount: c.minCount,
      clampZ: c.clampZ,
      ttlMs: c.stateTtlMs,
    };
    const rules = c.action === 'tag' ? [] : [{ op: 0, above: c.thresholdZ }];
    return { subject: subjectOf(c.subject, facts), ops: [op], rules };
  }

  evaluate(results: OpResult[]): Signal | null {
    const r = results[0];
    if (!r || r.kind !== 'rate') return null;
    const c = this.config;
    if (c.learnPopulation && r.closed > 0 && this.pending.length < MAX_PENDING_SAMPLES) this.pending.push(r.closed);
    const sd = Math.sqrt(Math.max(r.variance, r.mean, c.varianceFloor));
    return {
      detector: c.name,
      type: c.type,
      signal: 'rate-z',
      value: r.current,
      baseline: round(r.mean),
      threshold: c.thresholdZ,
      score: round(r.z),
      windowMs: c.bucketMs,
      fired: r.score > c.thresholdZ,
      action: c.action,
      shadow: c.shadow,
      limit: Math.max(c.minCount, Math.floor(r.mean + c.thresholdZ * sd)),
    };
  }

  background(store: StateStore, nowMs: number): Promise<void> | null {
    if (!this.config.learnPopulation || this.refreshing) return null;
    if (nowMs - this.lastRefreshMs < POPULATION_REFRESH_MS) return null;
    this.lastRefreshMs = nowMs;
    const samples = this.pending;
    this.pending = [];
    this.refreshing = true;
    const ttl = Math.max(this.config.stateTtlMs, 7 * 86_400_000);
    return store
      .mergePopulation(`rate:${this.config.name}`, samples, POPULATION_ALPHA, ttl, nowMs)
      .then((stats) => {
        if (stats.weight >= MIN_POPULATION_WEIGHT) {
          this.priorMean = stats.mean;
          this.priorVariance = stats.variance;
        }
      })
      .finally(() => {
        this.refreshing = false;
      });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export const rateBaselineFactory: DetectorFactory<RateBaselineConfig> = {
  type: 'rate-baseline',
  summary: 'requests per window vs the subject’s own EWMA baseline (z-score), with a population prior',
  parse(f: Fields, base: DetectorBase): RateBaselineConfig {
    const bucketMs = f.duration('bucket', 60_000, 1000, 3_600_000);
    const thresholdZ = f.number('threshold_z', 3, 0.5, 100);
    return {
      ...base,
      type: 'rate-baseline',
      bucketMs,
      halfLifeMs: f.duration('half_life', 30 * 60_000, bucketMs, 30 * 86_400_000),
      thresholdZ,
      minCount: f.number('min_count', 120, 1, 1e9, true),
      varianceFloor: f.number('variance_floor', 4, 0, 1e12),
      priorMean: f.number('prior_mean', 5, 0, 1e9),
      priorVariance: f.number('prior_variance', 25, 0, 1e18),
      priorWeight: f.number('prior_weight', 10, 0, 1e6),
      clampZ: f.number('clamp_z', thresholdZ, 0.5, 100),
      learnPopulation: f.bool('learn_population', true),
      stateTtlMs: f.duration('state_ttl', 86_400_000, bucketMs * 2, 90 * 86_400_000),
    };
  },
  create: (config) => new RateBaselineDetector(config),
};

