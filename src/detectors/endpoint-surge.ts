import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import { loginFailed } from '../request/login.js';
import type { CountOp, OpResult, RateOp } from '../state/store.js';
import { appliesTo } from './applies.js';
import { baselineOp, ewmaAlpha } from './baseline.js';
import type { BaselineConfig } from './baseline.js';
import { makeSeasonal } from './seasonal.js';
import { signal, subjectFor } from './signal.js';
import { endpointSubject } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, PlanPart, Signal } from './types.js';

/**
 * Endpoint surge: attacks spread thin over many IPs and identities (distributed credential stuffing)
 * stay under every per-subject threshold, but not under the endpoint's own. The endpoint's total
 * attempts (or failures) over the last bucket, across all callers, are scored against its own EWMA
 * baseline of past buckets (the rate op's maths, optionally one baseline per hour of the week); while
 * it surges, each caller with fewer than `min_good` good exchanges on the endpoint in the current or
 * previous `history` window gets the detector's action for that request. Known-good callers pass. No
 * penalty is set (the action is per request): the surge ends, the challenges end.
 * Maths: docs/detectors.md.
 *
 * The last bucket is a sliding count (this bucket + the previous one weighted by the part of it still
 * inside the last bucketMs), so a surge does not drop to 0 each time a new bucket starts. Its state
 * subject is always the endpoint (`subject:` may only say `endpoint`); the good history is kept per
 * identity and endpoint group.
 */
export interface EndpointSurgeConfig extends DetectorBase, BaselineConfig {
  type: 'endpoint-surge';
  measure: 'attempts' | 'failures';
  minCount: number;
  seasonal: boolean;
  historyMs: number;
  minGood: number;
}

export class EndpointSurgeDetector implements Detector {
  readonly alpha: number;
  /** State names, fixed per detector (built once, not per request). */
  private readonly recentName: string;
  private readonly rateName: string;

  constructor(readonly config: EndpointSurgeConfig) {
    this.alpha = ewmaAlpha(config.bucketMs, config.halfLifeMs);
    this.recentName = `${config.name}:recent`;
    this.rateName = `${config.name}:rate`;
  }

  plan(x: Exchange, phase: Phase, nowMs: number): PlanPart[] | null {
    const c = this.config;
    if (!appliesTo(c, x)) return null;
    const identity = x.facts.identity.id;
    const good = this.goodName(x);
    if (phase === 'request') {
      return [
        { subject: endpointSubject(x), ops: this.endpointOps(x, nowMs, c.measure === 'attempts' ? 1 : 0), rules: [] },
        {
          subject: identity,
          ops: [
            { kind: 'count', name: good, windowMs: c.historyMs, by: 0 },
            { kind: 'count', name: good, windowMs: c.historyMs, by: 0, sliding: true },
          ],
          rules: [],
        },
      ];
    }
    if (phase !== 'response' || !x.response) return null;
    const parts: PlanPart[] = [];
    if (c.measure === 'failures' && failed(x)) parts.push({ subject: endpointSubject(x), ops: this.endpointOps(x, nowMs, 1), rules: [] });
    if (succeeded(x)) {
      const op: CountOp = { kind: 'count', name: good, windowMs: c.historyMs, by: 1 };
      parts.push({ subject: identity, ops: [op], rules: [] });
    }
    return parts.length > 0 ? parts : null;
  }

  private goodName(x: Exchange): string {
    return `${this.config.name}:good:${x.endpoint.group}`;
  }

  /**
   * The endpoint's baseline (a rate op: mean and variance of past buckets) and its recent count (a
   * sliding count over one bucket, which does not drop to 0 when a new bucket starts mid-surge).
   */
  private endpointOps(x: Exchange, nowMs: number, by: number): [RateOp, CountOp] {
    const c = this.config;
    return [this.rateOp(x, nowMs, by), { kind: 'count', name: this.recentName, windowMs: c.bucketMs, by, sliding: true }];
  }

  private rateOp(x: Exchange, nowMs: number, by: number): RateOp {
    const c = this.config;
    const op = baselineOp(c, this.alpha, this.rateName, by, Math.ceil(c.minCount / x.endpoint.sensitivity));
    return c.seasonal ? makeSeasonal(op, nowMs) : op;
  }

  evaluate(results: OpResult[][], x: Exchange, phase: Phase, ran: { parts: readonly PlanPart[]; nowMs: number }): Signal | null {
    if (phase !== 'request') return null;
    const [r, recent] = results[0] ?? [];
    const [fixed, sliding] = results[1] ?? [];
    if (r?.kind !== 'rate' || recent?.kind !== 'count' || fixed?.kind !== 'count' || sliding?.kind !== 'count') return null;
    const c = this.config;
    const threshold = c.thresholdZ / x.endpoint.sensitivity;
    const surge = surgeScore(recent.count, r.mean, r.variance, c.varianceFloor);
    const surging = recent.count >= Math.ceil(c.minCount / x.endpoint.sensitivity) && surge > threshold;
    // The good history spans two windows; the previous one is recovered from the sliding read.
    const known = fixed.count >= c.minGood || twoWindowCount(fixed.count, sliding.count, ran.nowMs, c.historyMs) >= c.minGood;
    return signal(c, {
      signal: 'endpoint-surge',
      value: recent.count,
      baseline: r.mean,
      threshold,
      score: surge,
      windowMs: c.bucketMs,
      fired: surging && !known,
    });
  }
}

/** The rate op's z-score (lua/rate.lua) of a count against a baseline: Poisson floor and variance floor. */
export function surgeScore(count: number, mean: number, variance: number, varianceFloor: number): number {
  const sd = Math.sqrt(Math.max(variance, mean, varianceFloor));
  return sd > 0 ? (count - mean) / sd : 0;
}

/**
 * count(w) + count(w − 1) from a fixed read (count(w)) and a sliding read of the same counter
 * (count(w) + count(w − 1)·(1 − (now mod window)/window), lua/count.lua): the previous window's count
 * is the difference divided by its weight, which is never 0.
 */
export function twoWindowCount(fixed: number, sliding: number, nowMs: number, windowMs: number): number {
  const into = nowMs - Math.floor(nowMs / windowMs) * windowMs;
  const weight = 1 - into / windowMs;
  return fixed + Math.round((sliding - fixed) / weight);
}

/** Whether the upstream refused the attempt: the login failure signal on login endpoints, else status ≥ 400. */
export function failed(x: Exchange): boolean {
  if (!x.response) return false;
  const login = x.login?.failure ?? x.endpoint.rule?.login?.failure;
  return login ? loginFailed(login, x.response) : x.response.status >= 400;
}

/** A good exchange: 2xx/3xx and, on login endpoints, not a failed login. */
export function succeeded(x: Exchange): boolean {
  if (!x.response || x.response.status < 200 || x.response.status >= 400) return false;
  const login = x.login?.failure ?? x.endpoint.rule?.login?.failure;
  return !(login && loginFailed(login, x.response));
}

export const endpointSurgeFactory: DetectorFactory<EndpointSurgeConfig> = {
  type: 'endpoint-surge',
  summary: 'an endpoint’s total attempts or failures per window vs its own baseline; while it surges, callers with no good history there are challenged',
  parse(f: Fields, base: DetectorBase): EndpointSurgeConfig {
    const bucketMs = f.duration('bucket', 60_000, 1000, 3_600_000);
    const thresholdZ = f.number('threshold_z', 4, 0.5, 100);
    return {
      ...base,
      type: 'endpoint-surge',
      subject: subjectFor(f, base, ['endpoint'], 'endpoint'),
      measure: f.oneOf('measure', ['attempts', 'failures'] as const, 'attempts'),
      bucketMs,
      halfLifeMs: f.duration('half_life', 3_600_000, bucketMs, 30 * 86_400_000),
      thresholdZ,
      minCount: f.number('min_count', 60, 1, 1e9, true),
      varianceFloor: f.number('variance_floor', 4, 0, 1e12),
      priorMean: f.number('prior_mean', 0, 0, 1e9),
      priorVariance: f.number('prior_variance', 1e6, 0, 1e18),
      priorWeight: f.number('prior_weight', 30, 0, 1e6),
      clampZ: f.number('clamp_z', thresholdZ, 0.5, 100),
      stateTtlMs: f.duration('state_ttl', 86_400_000, bucketMs * 2, 90 * 86_400_000),
      seasonal: f.bool('seasonal', false),
      historyMs: f.duration('history', 7 * 86_400_000, 3_600_000, 90 * 86_400_000),
      minGood: f.number('min_good', 1, 1, 1_000_000, true),
    };
  },
  create: (config) => new EndpointSurgeDetector(config),
};
