/**
 * Small helpers the counting detectors share:
 * building a Signal, repeating the store's rule comparisons so `fired` is exactly what the store
 * decided, choosing one signal when a phase checks two rules, and reading a subject a type accepts.
 */
import type { Fields } from '../policy/fields.js';
import type { OpResult } from '../state/store.js';
import type { DetectorBase, SubjectKind, Signal } from './types.js';

/** What a detector measured for one rule; `fired` must be the store's own comparison. */
export type Measure = Pick<Signal, 'signal' | 'value' | 'baseline' | 'threshold' | 'score' | 'windowMs' | 'fired'>;

export function signal(c: DetectorBase, m: Measure): Signal {
  return {
    detector: c.name,
    type: c.type,
    signal: m.signal,
    value: round(m.value),
    baseline: round(m.baseline),
    threshold: round(m.threshold),
    score: round(m.score),
    windowMs: m.windowMs,
    fired: m.fired,
    action: c.action,
    shadow: c.shadow,
  };
}

/** The first signal that fired, else the first one (the phase's main measure); null for none. */
export function pick(candidates: Array<Signal | null>): Signal | null {
  const signals = candidates.filter((s): s is Signal => s !== null);
  return signals.find((s) => s.fired) ?? signals[0] ?? null;
}

/**
 * A distinct-count measure, or null when this add did not grow the set: the store then did not read
 * the estimate (DistinctOp in state/store.ts), nothing new was measured, and an active penalty is
 * explained by itself rather than by an empty measure.
 */
export function distinctSignal(c: DetectorBase, name: string, r: OpResult | undefined, threshold: number, windowMs: number, baseline = 0): Signal | null {
  if (r?.kind !== 'distinct' || !r.changed) return null;
  return signal(c, { signal: name, value: r.estimate, baseline, threshold, score: r.score, windowMs, fired: r.score > threshold });
}

/**
 * A ratio rule as the store checks it (PenaltyRule with `per`): the denominator must reach perAtLeast
 * and be non-zero, then num / den > above. score is the ratio when it is defined, else 0.
 */
export function ratioRule(num: number, den: number, above: number, perAtLeast: number): { score: number; fired: boolean } {
  if (!(den >= perAtLeast) || den === 0) return { score: 0, fired: false };
  const score = num / den;
  return { score, fired: score > above };
}

/**
 * The subject of a detector whose type accepts only some kinds: `subject:` when given (the loader has
 * read it into base), else the type's default. A kind the type cannot use is a policy error.
 */
export function subjectFor(f: Fields, base: DetectorBase, allowed: readonly SubjectKind[], dflt: SubjectKind): SubjectKind {
  const kind = f.has('subject') ? base.subject : dflt;
  if (!allowed.includes(kind)) {
    f.problems.push(`${f.where}.subject: must be one of ${allowed.join(', ')} for ${base.type}`);
    return dflt;
  }
  return kind;
}

export function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
