import type { RateOp } from '../state/store.js';

/**
 * The EWMA baseline every rate-op detector configures (rate-baseline, exfiltration, endpoint-surge):
 * bucket and half-life, the z threshold, floors, the prior for subjects with little history, the
 * poisoning clamp and the state's TTL. The maths is the rate op's (src/state/lua/rate.lua).
 */
export interface BaselineConfig {
  bucketMs: number;
  halfLifeMs: number;
  thresholdZ: number;
  varianceFloor: number;
  priorMean: number;
  priorVariance: number;
  priorWeight: number;
  clampZ: number;
  stateTtlMs: number;
}

/** EWMA α for a half-life of h buckets: a bucket k steps old weighs (1 − α)^k = 2^(−k/h). */
export function ewmaAlpha(bucketMs: number, halfLifeMs: number): number {
  return 1 - Math.pow(2, -bucketMs / halfLifeMs);
}

/** The rate op of a baseline config; `prior` replaces the configured one once a population is learned. */
export function baselineOp(
  c: BaselineConfig,
  alpha: number,
  name: string,
  by: number,
  minCount: number,
  prior: { mean: number; variance: number } = { mean: c.priorMean, variance: c.priorVariance },
): RateOp {
  return {
    kind: 'rate',
    name,
    bucketMs: c.bucketMs,
    alpha,
    by,
    priorMean: prior.mean,
    priorVariance: prior.variance,
    priorWeight: c.priorWeight,
    varianceFloor: c.varianceFloor,
    minCount,
    clampZ: c.clampZ,
    ttlMs: c.stateTtlMs,
  };
}
