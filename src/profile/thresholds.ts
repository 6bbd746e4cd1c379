/**
 * Thresholds from traffic. For each count a detector limits, each caller's count per window of that
 * detector (fixed windows aligned on the epoch; a caller's busiest window is its figure), and over
 * callers the distribution p50 / p99 / max, overall and per identity kind. The recommendation:
 *
 *   recommended = min(current, max(floor, ceil(MARGIN × p99), ceil(BUSIEST × max)))
 *
 * p99 by nearest rank, MARGIN = 2 (twice what 99 % of the callers ever did in one window) and
 * BUSIEST = 1.25 (a quarter above the busiest caller seen), whichever is higher: the traffic profiled
 * is taken as the site's normal, so no caller in it reaches a learned threshold. Never looser than the
 * base policy's own value (profile tightens what the traffic shows to be generous, it never relaxes a
 * limit) and never under a floor below which ordinary use would trip it. A caller in the traffic still
 * above the recommendation (only when the base policy's own value is lower) is counted, and the cost
 * diff names what either policy does to it. Traffic with an attack in it teaches the attack's volume:
 * profile traffic you trust (docs/profile.md).
 *
 *   rate-baseline       min_count       requests per bucket (static endpoints excluded, as vigil does)
 *   slow-brute-force    max_failures    failed logins per window on the learned login endpoints
 *                                       (subjects identity and client-ip)
 *   enumeration         min_distinct    distinct object ids per window on the learned object_read endpoints
 *   scraping            max_endpoints   distinct endpoint templates per window
 */
import type { Detector } from '../detectors/types.js';
import type { Policy } from '../policy/policy.js';
import type { IdentityKind } from '../request/types.js';
import type { Observation } from './observe.js';
import type { LearnedEndpoint } from './roles.js';

export const MARGIN = 2;
export const BUSIEST = 1.25;

export interface Distribution {
  callers: number;
  p50: number;
  p99: number;
  max: number;
}

export interface Recommendation {
  detector: string;
  type: string;
  /** The policy key it sets. */
  key: string;
  what: string;
  /** The window, as a duration (`1m`, `24h`). */
  window: string;
  current: number;
  recommended: number;
  floor: number;
  all: Distribution;
  byKind: Partial<Record<IdentityKind, Distribution>>;
  /** Callers whose busiest window is above the recommendation. */
  above: number;
  /** In a sentence: the rule and why this value. */
  margin: string;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function distribution(values: number[]): Distribution {
  const s = [...values].sort((a, b) => a - b);
  return { callers: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.length === 0 ? 0 : s[s.length - 1]! };
}

export function durationText(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Each caller's busiest window: count(o) summed, or distinct(o) counted, per fixed window. */
function peaks(observations: readonly Observation[], windowMs: number, value: (o: Observation) => string | 1 | null): Map<string, { kind: IdentityKind; peak: number }> {
  const windows = new Map<string, { kind: IdentityKind; n: number; distinct: Set<string> | null }>();
  for (const o of observations) {
    const v = value(o);
    if (v === null) continue;
    const k = `${o.caller}\0${Math.floor(o.tsMs / windowMs)}`;
    let w = windows.get(k);
    if (!w) windows.set(k, (w = { kind: o.kind, n: 0, distinct: v === 1 ? null : new Set() }));
    if (v === 1) w.n++;
    else w.distinct!.add(v);
  }
  const out = new Map<string, { kind: IdentityKind; peak: number }>();
  for (const [k, w] of windows) {
    const caller = k.slice(0, k.indexOf('\0'));
    const n = w.distinct ? w.distinct.size : w.n;
    const prev = out.get(caller);
    if (!prev || n > prev.peak) out.set(caller, { kind: w.kind, peak: n });
  }
  return out;
}

interface Measure {
  key: string;
  what: string;
  floor: number;
  windowMs: number;
  current: number;
  value: (o: Observation) => string | 1 | null;
}

function failed(o: Observation, e: LearnedEndpoint): boolean {
  const f = e.login!.failure;
  return 'every_attempt' in f || (o.status !== null && f.status.includes(o.status));
}

function measureFor(d: Detector, endpoints: readonly LearnedEndpoint[]): Measure | null {
  const c = d.config as unknown as Record<string, unknown>;
  const templatesOf = (role: LearnedEndpoint['role']): Map<string, LearnedEndpoint> =>
    new Map(endpoints.filter((e) => e.role === role).flatMap((e) => e.templates.map((t) => [t, e] as const)));
  const statics = new Set(templatesOf('static').keys());
  const notStatic = (o: Observation): boolean => !(statics.has(o.template) && (o.method === 'GET' || o.method === 'HEAD'));
  switch (d.config.type) {
    case 'rate-baseline':
      return { key: 'min_count', what: 'requests', floor: 30, windowMs: c['bucketMs'] as number, current: c['minCount'] as number, value: (o) => (notStatic(o) ? 1 : null) };
    case 'slow-brute-force': {
      if (d.config.subject !== 'identity' && d.config.subject !== 'client-ip') return null;
      const logins = templatesOf('login');
      return {
        key: 'max_failures',
        what: 'failed logins',
        floor: 5,
        windowMs: c['windowMs'] as number,
        current: c['maxFailures'] as number,
        value: (o) => {
          const e = logins.get(o.template);
          return e && o.method !== 'GET' && o.method !== 'HEAD' && failed(o, e) ? 1 : null;
        },
      };
    }
    case 'enumeration': {
      const reads = templatesOf('object_read');
      return {
        key: 'min_distinct',
        what: 'distinct object ids',
        floor: 10,
        windowMs: c['windowMs'] as number,
        current: c['minDistinct'] as number,
        value: (o) => (reads.has(o.template) && !(o.method !== 'GET' && o.method !== 'HEAD') ? `${o.template} ${o.objectIds[o.objectIds.length - 1]}` : null),
      };
    }
    case 'scraping':
      return { key: 'max_endpoints', what: 'distinct endpoint templates', floor: 20, windowMs: c['windowMs'] as number, current: c['maxEndpoints'] as number, value: (o) => (notStatic(o) ? `${o.method} ${o.template}` : null) };
    default:
      return null;
  }
}

/** A recommendation for every detector of the policy whose threshold the traffic can speak to. */
export function recommendThresholds(policy: Policy, observations: readonly Observation[], endpoints: readonly LearnedEndpoint[]): Recommendation[] {
  const out: Recommendation[] = [];
  for (const d of policy.detectors) {
    const m = measureFor(d, endpoints);
    if (m === null) continue;
    const per = peaks(observations, m.windowMs, m.value);
    const all = distribution([...per.values()].map((p) => p.peak));
    const byKind: Recommendation['byKind'] = {};
    for (const kind of new Set([...per.values()].map((p) => p.kind))) {
      byKind[kind] = distribution([...per.values()].filter((p) => p.kind === kind).map((p) => p.peak));
    }
    const byP99 = Math.ceil(MARGIN * all.p99);
    const byMax = Math.ceil(BUSIEST * all.max);
    const learned = Math.max(m.floor, byP99, byMax);
    const recommended = all.callers === 0 ? m.current : Math.min(m.current, learned);
    const rule = `max(${MARGIN} × p99 = ${byP99}, ${BUSIEST} × max = ${byMax}${m.floor > Math.max(byP99, byMax) ? `, floor ${m.floor}` : ''}) = ${learned}`;
    const margin =
      all.callers === 0
        ? `no ${m.what} in the input: kept at ${m.current}`
        : recommended === m.current
          ? `${rule}: not tighter than the policy's ${m.current}, kept`
          : `${rule}, tighter than the policy's ${m.current}`;
    out.push({
      detector: d.config.name,
      type: d.config.type,
      key: m.key,
      what: m.what,
      window: durationText(m.windowMs),
      current: m.current,
      recommended,
      floor: m.floor,
      all,
      byKind,
      above: [...per.values()].filter((p) => p.peak > recommended).length,
      margin,
    });
  }
  return out;
}
