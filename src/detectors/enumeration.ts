import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import type { CountOp, DistinctOp, OpResult, StateStore } from '../state/store.js';
import { appliesTo } from './applies.js';
import { PopulationPriors } from './population.js';
import { distinctSignal, pick, ratioRule, signal, subjectFor } from './signal.js';
import { subjectOf } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, Plan, PlanPart, Signal } from './types.js';

/**
 * Enumeration (broken object-level authorisation, BOLA): a subject reading many distinct object ids
 * of an `object_read` endpoint group in a window, or getting mostly "not yours" answers (403/404)
 * there. Two measures per subject × endpoint group:
 *
 *   distinct-ids  HyperLogLog of the object ids read per fixed window, against
 *                 min(max_distinct, max(min_distinct, μp + population_z·σp)) / sensitivity, where
 *                 (μp, σp²) is the population of subjects' closed-window counts on that group;
 *   deny-ratio    denied / all responses (sliding window), against deny_ratio / sensitivity once at
 *                 least min_responses / sensitivity responses were seen.
 *
 * The response phase counts responses (state for the next requests); the request phase adds the id
 * and re-checks the deny ratio from read-only counts, so a subject stays penalised while it is over
 * either limit. Maths: docs/detectors.md.
 */
export interface EnumerationConfig extends DetectorBase {
  type: 'enumeration';
  windowMs: number;
  maxDistinct: number;
  minDistinct: number;
  populationZ: number;
  learnPopulation: boolean;
  denyStatuses: number[];
  denyRatio: number;
  minResponses: number;
}

const POPULATION_TTL_MS = 7 * 86_400_000;

export class EnumerationDetector implements Detector {
  /** Population of closed-window distinct counts, per endpoint group. */
  private readonly priors: PopulationPriors;

  constructor(readonly config: EnumerationConfig) {
    const m = config.minDistinct / 3;
    // Closed windows are learned at most at the population threshold μp + population_z·σp.
    const cap = (p: { mean: number; variance: number }) => p.mean + config.populationZ * Math.sqrt(Math.max(p.variance, 0));
    this.priors = new PopulationPriors(`enum:${config.name}`, { mean: m, variance: m * m }, POPULATION_TTL_MS, cap);
  }

  private applies(x: Exchange): boolean {
    return appliesTo(this.config, x) && x.endpoint.rule?.objectRead != null && x.endpoint.objectId !== null;
  }

  /** Distinct ids per window above which the subject is enumerating (divided by the endpoint's sensitivity). */
  distinctThreshold(x: Exchange): number {
    const c = this.config;
    const p = this.priors.get(x.endpoint.group);
    const learned = p.mean + c.populationZ * Math.sqrt(Math.max(p.variance, 0));
    return Math.min(c.maxDistinct, Math.max(c.minDistinct, learned)) / x.endpoint.sensitivity;
  }

  private ratioThreshold(x: Exchange): { above: number; perAtLeast: number } {
    const c = this.config;
    return { above: c.denyRatio / x.endpoint.sensitivity, perAtLeast: Math.ceil(c.minResponses / x.endpoint.sensitivity) };
  }

  private counts(x: Exchange, respBy: number, denyBy: number): CountOp[] {
    const c = this.config;
    const g = x.endpoint.group;
    return [
      { kind: 'count', name: `${c.name}:resp:${g}`, windowMs: c.windowMs, by: respBy, sliding: true },
      { kind: 'count', name: `${c.name}:deny:${g}`, windowMs: c.windowMs, by: denyBy, sliding: true },
    ];
  }

  plan(x: Exchange, phase: Phase): Plan | null {
    const c = this.config;
    if (!this.applies(x)) return null;
    const subject = subjectOf(c.subject, x);
    if (subject === null) return null;
    const ratio = this.ratioThreshold(x);
    if (phase === 'request') {
      const above = this.distinctThreshold(x);
      const ids: DistinctOp = { kind: 'distinct', name: `${c.name}:ids:${x.endpoint.group}`, member: x.endpoint.objectId!, windowMs: c.windowMs };
      if (c.learnPopulation) ids.learn = true;
      return {
        subject,
        ops: [ids, ...this.counts(x, 0, 0)],
        rules: [
          { op: 0, above },
          { op: 2, per: 1, above: ratio.above, perAtLeast: ratio.perAtLeast },
        ],
      };
    }
    if (phase === 'response' && x.response) {
      const denied = c.denyStatuses.includes(x.response.status) ? 1 : 0;
      return { subject, ops: this.counts(x, 1, denied), rules: [{ op: 1, per: 0, above: ratio.above, perAtLeast: ratio.perAtLeast }] };
    }
    return null;
  }

  evaluate(results: OpResult[][], x: Exchange, phase: Phase, ran: { parts: readonly PlanPart[]; nowMs: number }): Signal | null {
    const r = results[0] ?? [];
    if (phase === 'response') return this.denySignal(x, r[0], r[1]);
    const ids = r[0];
    if (!ids || ids.kind !== 'distinct') return null;
    const c = this.config;
    const group = x.endpoint.group;
    if (c.learnPopulation && ids.closed > 0) this.priors.add(group, ids.closed);
    // The threshold the store compared with (a population refresh may have moved the prior since).
    const above = ran.parts[0]?.rules[0]?.above ?? this.distinctThreshold(x);
    const distinct = distinctSignal(c, 'distinct-ids', ids, above, c.windowMs, this.priors.get(group).mean);
    const deny = this.denySignal(x, r[1], r[2]);
    return pick([distinct, deny]);
  }

  private denySignal(x: Exchange, resp: OpResult | undefined, deny: OpResult | undefined): Signal | null {
    if (!resp || resp.kind !== 'count' || !deny || deny.kind !== 'count') return null;
    const { above, perAtLeast } = this.ratioThreshold(x);
    const { score, fired } = ratioRule(deny.score, resp.score, above, perAtLeast);
    return signal(this.config, { signal: 'deny-ratio', value: deny.count, baseline: resp.count, threshold: above, score, windowMs: this.config.windowMs, fired });
  }

  background(store: StateStore, nowMs: number): Promise<void> | null {
    return this.config.learnPopulation ? this.priors.refresh(store, nowMs) : null;
  }
}

/** A non-empty list of HTTP statuses (default when absent). */
export function readStatuses(f: Fields, key: string, dflt: number[]): number[] {
  if (!f.has(key)) return dflt;
  const raw = f.list(key);
  const out: number[] = [];
  raw.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 100 || v > 599) f.problems.push(`${f.where}.${key}[${i}]: must be an HTTP status from 100 to 599`);
    else out.push(v);
  });
  if (Array.isArray(f.raw(key)) && raw.length === 0) f.problems.push(`${f.where}.${key}: must list at least one status`);
  return out.length > 0 ? out : dflt;
}

export const enumerationFactory: DetectorFactory<EnumerationConfig> = {
  type: 'enumeration',
  summary: 'BOLA: distinct object ids read per window (vs the population of subjects, capped) and the ratio of denied (403/404) responses, per object_read endpoint group',
  parse(f: Fields, base: DetectorBase): EnumerationConfig {
    const subject = subjectFor(f, base, ['identity', 'client-ip', 'ip-prefix'], 'identity');
    const maxDistinct = f.number('max_distinct', 200, 1, 1e6, true);
    const minDistinct = f.number('min_distinct', 30, 1, 1e6, true);
    if (minDistinct > maxDistinct) f.problems.push(`${f.where}.min_distinct: must not be above max_distinct (${maxDistinct})`);
    return {
      ...base,
      type: 'enumeration',
      subject,
      windowMs: f.duration('window', 10 * 60_000, 60_000, 86_400_000),
      maxDistinct,
      minDistinct,
      populationZ: f.number('population_z', 4, 0, 100),
      learnPopulation: f.bool('learn_population', true),
      denyStatuses: readStatuses(f, 'deny_statuses', [403, 404]),
      denyRatio: f.number('deny_ratio', 0.5, 0.01, 1),
      minResponses: f.number('min_responses', 20, 1, 1e6, true),
    };
  },
  create: (config) => new EnumerationDetector(config),
};
