import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import type { CountOp, DistinctOp, OpResult, StateStore } from '../state/store.js';
import { appliesTo } from './applies.js';
import { readStatuses } from './enumeration.js';
import { PopulationPriors } from './population.js';
import { ratioRule, signal, subjectFor } from './signal.js';
import { subjectOf } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, PlanPart, PlanRule, Signal } from './types.js';

/**
 * Not-found surge: distributed enumeration, hundreds of addresses each asking a handful of
 * backup-like names that do not exist, none near a per-caller threshold. Two measures:
 *
 *   site    distinct paths answered not-found (404, 410) per fixed window (default 1 h), counted
 *           site-wide (one HyperLogLog under the subject `site:<detector>`) and only for callers
 *           with no good history: a caller that had a success (2xx/3xx) in the last `history`
 *           does not count. The site surges while this window's, or the last window's, estimate
 *           is above max(min_paths, μ + population_z·σ), where (μ, σ²) is learned from closed
 *           windows clamped at that threshold, so a surge cannot raise its own baseline;
 *   caller  its answers and its unsuccessful answers over `history` (sliding).
 *
 * While the site surges, a caller with at least min_failures answers in `history`, none of them a
 * success, gets the detector's action (a ratio rule unsuccessful / answers > 0.999 in the store).
 * Callers with any good history pass, and so does everyone once the surge is over. A deploy that
 * breaks one asset link adds one path however many visitors hit it; a crawler following broken
 * links has good history (its other pages answered). Reasoning: docs/detectors.md.
 *
 * Whether the site surges is known in process: each replica reads the site estimate whenever one of
 * its not-found answers adds a path, and keeps the last two windows' values.
 */
export interface NotFoundSurgeConfig extends DetectorBase {
  type: 'not-found-surge';
  windowMs: number;
  minPaths: number;
  populationZ: number;
  historyMs: number;
  minFailures: number;
  notFoundStatuses: number[];
}

const POPULATION_TTL_MS = 30 * 86_400_000;

export class NotFoundSurgeDetector implements Detector {
  private readonly priors: PopulationPriors;
  /** Last estimate seen per window index (the current and the previous window are kept). */
  private readonly seen = new Map<number, number>();
  /** Whether the caller of an exchange had good history when its request was evaluated. */
  private readonly known = new WeakMap<Exchange, boolean>();
  private readonly siteSubject: string;

  constructor(readonly config: NotFoundSurgeConfig) {
    // Capped at the threshold the prior gives: the surge cannot raise its own baseline (learn() caps
    // before the prior is learned too, since its start of 0 is no guess but an empty history).
    this.priors = new PopulationPriors(`nfsurge:${config.name}`, { mean: 0, variance: 0 }, POPULATION_TTL_MS, (p) => this.thresholdOf(p));
    this.siteSubject = `site:${config.name}`;
  }

  /** Distinct not-found paths per window above which the site surges. */
  threshold(): number {
    return this.thresholdOf(this.priors.get(''));
  }

  private thresholdOf(p: { mean: number; variance: number }): number {
    const c = this.config;
    return Math.max(c.minPaths, p.mean + c.populationZ * Math.sqrt(Math.max(p.variance, 0)));
  }

  /** The site surges at nowMs: this window's or the last window's estimate is above the threshold. */
  surging(nowMs: number): boolean {
    const w = Math.floor(nowMs / this.config.windowMs);
    const above = this.threshold();
    return (this.seen.get(w) ?? 0) > above || (this.seen.get(w - 1) ?? 0) > above;
  }

  /** The site estimate shown in signals: the larger of this window's and the last one's. */
  private estimate(nowMs: number): number {
    const w = Math.floor(nowMs / this.config.windowMs);
    return Math.max(this.seen.get(w) ?? 0, this.seen.get(w - 1) ?? 0);
  }

  private rule(x: Exchange): PlanRule {
    return { op: 1, per: 0, above: 0.999, perAtLeast: Math.ceil(this.config.minFailures / x.endpoint.sensitivity) };
  }

  private callerPart(x: Exchange, subject: string, nowMs: number, answered: number, failed: number): PlanPart {
    const c = this.config;
    const ops: CountOp[] = [
      { kind: 'count', name: `${c.name}:answers`, windowMs: c.historyMs, by: answered, sliding: true },
      { kind: 'count', name: `${c.name}:failed`, windowMs: c.historyMs, by: failed, sliding: true },
    ];
    return { subject, ops, rules: this.surging(nowMs) ? [this.rule(x)] : [] };
  }

  plan(x: Exchange, phase: Phase, nowMs: number): PlanPart[] | null {
    const c = this.config;
    if (!appliesTo(c, x)) return null;
    const subject = subjectOf(c.subject, x);
    if (subject === null) return null;
    if (phase === 'request') return [this.callerPart(x, subject, nowMs, 0, 0)];
    if (phase !== 'response' || !x.response) return null;
    const status = x.response.status;
    const parts = [this.callerPart(x, subject, nowMs, 1, status >= 200 && status < 400 ? 0 : 1)];
    if (c.notFoundStatuses.includes(status) && this.known.get(x) === false) {
      const op: DistinctOp = { kind: 'distinct', name: `${c.name}:paths`, member: x.facts.endpoint.path, windowMs: c.windowMs, learn: true };
      parts.push({ subject: this.siteSubject, ops: [op], rules: [] });
    }
    return parts;
  }

  evaluate(results: OpResult[][], x: Exchange, phase: Phase, ran: { parts: readonly PlanPart[]; nowMs: number }): Signal | null {
    const [answers, failed] = results[0] ?? [];
    if (answers?.kind !== 'count' || failed?.kind !== 'count') return null;
    const c = this.config;
    if (phase === 'request') this.known.set(x, answers.score - failed.score > 1e-9);
    const site = results[1]?.[0];
    if (site?.kind === 'distinct') this.learn(site, ran.nowMs);
    const rule = ran.parts[0]?.rules[0];
    const verdict = rule ? ratioRule(failed.score, answers.score, rule.above, rule.perAtLeast ?? 1) : { score: 0, fired: false };
    return signal(c, {
      signal: 'not-found-surge',
      value: this.estimate(ran.nowMs),
      baseline: failed.count,
      threshold: this.threshold(),
      score: verdict.score,
      windowMs: c.windowMs,
      fired: verdict.fired,
    });
  }

  private learn(site: OpResult & { kind: 'distinct' }, nowMs: number): void {
    const w = Math.floor(nowMs / this.config.windowMs);
    if (site.changed) this.seen.set(w, Math.max(this.seen.get(w) ?? 0, site.estimate));
    if (site.closed >= 0) this.priors.add('', Math.min(site.closed, this.threshold()));
    for (const k of this.seen.keys()) if (k < w - 1) this.seen.delete(k);
  }

  background(store: StateStore, nowMs: number): Promise<void> | null {
    return this.priors.refresh(store, nowMs);
  }
}

export const notFoundSurgeFactory: DetectorFactory<NotFoundSurgeConfig> = {
  type: 'not-found-surge',
  summary: 'distributed enumeration: a site-wide surge of distinct not-found paths from callers with no good history; while it lasts, callers whose every answer failed get the action',
  parse(f: Fields, base: DetectorBase): NotFoundSurgeConfig {
    return {
      ...base,
      type: 'not-found-surge',
      subject: subjectFor(f, base, ['identity', 'client-ip', 'ip-prefix'], 'identity'),
      windowMs: f.duration('window', 3_600_000, 60_000, 86_400_000),
      minPaths: f.number('min_paths', 50, 1, 1e6, true),
      populationZ: f.number('population_z', 4, 0, 100),
      historyMs: f.duration('history', 86_400_000, 60_000, 30 * 86_400_000),
      minFailures: f.number('min_failures', 2, 1, 1e6, true),
      notFoundStatuses: readStatuses(f, 'not_found_statuses', [404, 410]),
    };
  },
  create: (config) => new NotFoundSurgeDetector(config),
};
