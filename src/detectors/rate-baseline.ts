import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import type { OpResult, StateStore } from '../state/store.js';
import { appliesTo } from './applies.js';
import { baselineOp, ewmaAlpha } from './baseline.js';
import type { BaselineConfig } from './baseline.js';
import { PopulationPriors } from './population.js';
import { makeSeasonal } from './seasonal.js';
import { subjectOf } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, Plan, Signal } from './types.js';

/**
 * Rate baseline: requests per bucket (default one minute) for each subject, compared with that
 * subject's own EWMA mean and variance of past buckets as a z-score. Newcomers borrow a prior learned
 * from the population of subjects; a variance floor (and the Poisson floor var ≥ mean) and a minimum
 * volume keep small numbers from looking like attacks. Maths: docs/detectors.md.
 *
 * Options: per_endpoint keeps one baseline per subject × endpoint group (and one population prior per
 * group); seasonal keeps one baseline per hour of the week (UTC), for subjects whose normal follows
 * the week (an endpoint's total traffic); rule `ratio` fires on current > ratio_k × the average
 * instead of on the z-score.
 */
export interface RateBaselineConfig extends DetectorBase, BaselineConfig {
  type: 'rate-baseline';
  minCount: number;
  learnPopulation: boolean;
  perEndpoint: boolean;
  seasonal: boolean;
  rule: 'z' | 'ratio';
  ratioK: number;
}

export class RateBaselineDetector implements Detector {
  /** Population prior per endpoint group ('' when not per_endpoint), learned off the request path. */
  private readonly priors: PopulationPriors;
  readonly alpha: number;

  constructor(readonly config: RateBaselineConfig) {
    this.alpha = ewmaAlpha(config.bucketMs, config.halfLifeMs);
    const ttl = Math.max(config.stateTtlMs, 7 * 86_400_000);
    // A closed bucket above what a newcomer could send without firing (z over the prior) is learned as
    // that many: the population is not taught that floods are normal.
    const cap = (p: { mean: number; variance: number }) =>
      config.rule === 'ratio' ? config.ratioK * Math.max(p.mean, 1) : p.mean + config.thresholdZ * Math.sqrt(Math.max(p.variance, p.mean, config.varianceFloor));
    this.priors = new PopulationPriors(`rate:${config.name}`, { mean: config.priorMean, variance: config.priorVariance }, ttl, cap);
  }

  private group(x: Exchange): string {
    return this.config.perEndpoint ? x.endpoint.group : '';
  }

  plan(x: Exchange, phase: Phase, nowMs: number): Plan | null {
    const c = this.config;
    if (phase !== 'request' || !appliesTo(c, x)) return null;
    const subject = subjectOf(c.subject, x);
    if (subject === null) return null;
    const group = this.group(x);
    const prior = this.priors.get(group);
    const name = group ? `${c.name}:${group}` : c.name;
    const op = baselineOp(c, this.alpha, name, 1, Math.ceil(c.minCount / x.endpoint.sensitivity), prior);
    op.scoreMode = c.rule;
    if (c.seasonal) makeSeasonal(op, nowMs);
    return { subject, ops: [op], rules: [{ op: 0, above: this.threshold(x) }] };
  }

  private threshold(x: Exchange): number {
    const c = this.config;
    return (c.rule === 'ratio' ? c.ratioK : c.thresholdZ) / x.endpoint.sensitivity;
  }

  evaluate(results: OpResult[][], x: Exchange): Signal | null {
    const r = results[0]?.[0];
    if (!r || r.kind !== 'rate') return null;
    const c = this.config;
    if (c.learnPopulation && !c.seasonal && r.closed > 0) this.priors.add(this.group(x), r.closed);
    const threshold = this.threshold(x);
    const minCount = Math.ceil(c.minCount / x.endpoint.sensitivity);
    const sd = Math.sqrt(Math.max(r.variance, r.mean, c.varianceFloor));
    const limit = allowedCount(c.rule === 'ratio', r.mean, sd, threshold, minCount);
    return {
      detector: c.name,
      type: c.type,
      signal: c.rule === 'ratio' ? 'rate-ratio' : 'rate-z',
      value: r.current,
      baseline: round(r.mean),
      threshold: round(threshold),
      score: round(c.rule === 'ratio' ? r.ratio : r.z),
      windowMs: c.bucketMs,
      fired: r.score > threshold,
      action: c.action,
      shadow: c.shadow,
      ...(limit !== null ? { limit } : {}),
      // score is z (or the ratio) below min_count too, where the store does not compare it.
      floor: minCount,
    };
  }

  background(store: StateStore, nowMs: number): Promise<void> | null {
    const c = this.config;
    if (!c.learnPopulation || c.seasonal) return null;
    return this.priors.refresh(store, nowMs);
  }
}

/**
 * The requests a bucket allows, this one included: the largest count c that does not fire, where c fires
 * when c ≥ minCount and its score (as the store computes it: (c − mean) / sd, or c / max(mean, 1)) is
 * above the threshold. That is max(minCount − 1, ⌊mean + threshold·sd⌋) (⌊threshold·max(mean, 1)⌋ for
 * ratio), nudged so that it agrees with the score's own floating point. null when no count fires (sd 0).
 */
export function allowedCount(ratio: boolean, mean: number, sd: number, threshold: number, minCount: number): number | null {
  const score = (n: number) => (ratio ? n / Math.max(mean, 1) : sd > 0 ? (n - mean) / sd : 0);
  const fires = (n: number) => n >= minCount && score(n) > threshold;
  if (!ratio && sd <= 0) return threshold < 0 ? Math.max(0, minCount - 1) : null;
  let n = Math.max(minCount - 1, Math.floor(ratio ? threshold * Math.max(mean, 1) : mean + threshold * sd), 0);
  for (let i = 0; i < 4 && n > 0 && fires(n); i++) n--;
  for (let i = 0; i < 4 && !fires(n + 1); i++) n++;
  return n;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export const rateBaselineFactory: DetectorFactory<RateBaselineConfig> = {
  type: 'rate-baseline',
  summary: 'requests per window vs the subject’s own EWMA baseline (z-score or k × average), with a population prior; per endpoint group, hour-of-week seasonality',
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
      perEndpoint: f.bool('per_endpoint', false),
      seasonal: f.bool('seasonal', false),
      rule: f.oneOf('rule', ['z', 'ratio'] as const, 'z'),
      ratioK: f.number('ratio_k', 3, 1.01, 1000),
    };
  },
  create: (config) => new RateBaselineDetector(config),
};

