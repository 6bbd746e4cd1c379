import type { Exchange, Phase } from '../request/exchange.js';
import type { Batch, BatchResult, Escalation, Penalty, PenaltyRule, StateStore, StepUp } from '../state/store.js';
import type { Detector, PlanPart, Signal } from './types.js';
import { round } from './signal.js';

export interface Evaluation {
  signals: Signal[];
  /** Active penalties (marks included) of the subjects read (identity first when it was read). */
  penalties: Penalty[];
  /** Penalties set by this evaluation (a rule fired and was stronger than what was active). */
  newPenalties: Array<Penalty & { subject: string }>;
  /** The identity's step-up credit expiry when active (read with stepUp), else 0. */
  creditUntilMs: number;
  /** This evaluation's verified claims cleared the identity's challenge. */
  cleared: boolean;
}

export const EMPTY_EVALUATION: Evaluation = { signals: [], penalties: [], newPenalties: [], creditUntilMs: 0, cleared: false };

export interface EvaluateOptions {
  /** Always read the identity's batch, so its penalty (and credit) is read: the deciding phases. */
  readIdentity: boolean;
  /** The policy's escalation, for every batch (state/store.ts Escalation). */
  escalation?: Escalation | null;
  /** Step-up handling on the identity's batch; only with readIdentity. */
  stepUp?: StepUp;
}

/**
 * Runs every detector of the policy for some phases of one exchange: collects their plans into one
 * batch per subject, executes them in ONE store round trip, and hands each detector its slices of
 * results. With `readIdentity` the identity's batch always exists, so its penalty is always read
 * (request and login phases decide). While the identity holds step-up credit, the store compares its
 * rules against relaxed thresholds; the signals of detectors keeping state for the identity are
 * relaxed the same way here, so a signal fires exactly when its rule did. Likewise, while a subject is
 * suspect (a recent offence, state/store.ts Suspicion) the store tightens its rules and the signals of
 * the detectors with rules on it are tightened here. Throws
 * StoreUnavailableError (from the guarded store) for the caller to turn into a fail-open answer.
 */
export async function evaluateDetectors(
  detectors: readonly Detector[],
  x: Exchange,
  phases: readonly Phase[],
  store: StateStore,
  nowMs: number,
  opts: EvaluateOptions,
): Promise<Evaluation> {
  const identity = x.facts.identity.id;
  const batches = new Map<string, Batch>();
  const batchOf = (subject: string): Batch => {
    let b = batches.get(subject);
    if (!b) {
      b = { subject, ops: [], rules: [] };
      if (opts.escalation) b.escalation = opts.escalation;
      if (subject === identity && opts.stepUp && opts.readIdentity) b.stepUp = opts.stepUp;
      batches.set(subject, b);
    }
    return b;
  };
  if (opts.readIdentity) batchOf(identity);

  type Slice = { subject: string; from: number; count: number };
  const plans: Array<{ detector: Detector; phase: Phase; parts: PlanPart[]; slices: Slice[] }> = [];
  for (const phase of phases) {
    for (const detector of detectors) {
      const plan = detector.plan(x, phase, nowMs);
      if (!plan) continue;
      const parts: PlanPart[] = Array.isArray(plan) ? plan : [plan];
      const slices = parts.map((part) => addPart(batchOf(part.subject), part, detector));
      plans.push({ detector, phase, parts, slices });
    }
  }
  if (batches.size === 0) return EMPTY_EVALUATION;

  const list = [...batches.values()];
  const results = await store.run(list, nowMs);
  const bySubject = new Map<string, BatchResult>(list.map((b, i) => [b.subject, results[i]!] as const));

  const own = bySubject.get(identity);
  const creditUntilMs = own && own.creditUntilMs > nowMs ? own.creditUntilMs : 0;
  const relax = creditUntilMs > 0 ? (opts.stepUp?.relax ?? 1) : 1;
  const signals: Signal[] = [];
  for (const p of plans) {
    const slices = p.slices.map((s) => bySubject.get(s.subject)?.results.slice(s.from, s.from + s.count) ?? []);
    const signal = p.detector.evaluate(slices, x, p.phase, { parts: p.parts, nowMs });
    if (!signal) continue;
    const judged = relax > 1 && p.slices.some((s) => s.subject === identity) ? relaxed(signal, relax) : signal;
    // Suspicion: the store divided the rules of a suspect subject's batch by s (state/store.ts Suspicion).
    let s = 1;
    p.slices.forEach((slice, i) => {
      if ((p.parts[i]?.rules.length ?? 0) > 0) s = Math.max(s, bySubject.get(slice.subject)?.suspicion ?? 1);
    });
    signals.push(s > 1 ? suspected(judged, s) : judged);
  }
  const penalties: Penalty[] = [];
  const newPenalties: Evaluation['newPenalties'] = [];
  list.forEach((b, i) => {
    const r = results[i]!;
    if (!r.penalty) return;
    penalties.push(r.penalty);
    if (r.fired.length > 0 && r.penalty.sinceMs === nowMs) newPenalties.push({ ...r.penalty, subject: b.subject });
  });
  return { signals, penalties, newPenalties, creditUntilMs, cleared: own?.cleared === true };
}

/** A signal judged against its threshold × relax, as the store judged its rule during credit. */
function relaxed(s: Signal, relax: number): Signal {
  const threshold = s.threshold * relax;
  return { ...s, threshold: round(threshold), fired: s.fired && s.score > threshold };
}

/**
 * A signal judged as the store judged its rule under suspicion s: against threshold / s, with a volume
 * floor (when the signal has one) of ceil(floor / s). A rule that fired without suspicion fires with it.
 * The quota (`limit`) was computed without suspicion and is left out: the subject gets no soft-limit hint.
 */
function suspected(sig: Signal, s: number): Signal {
  const threshold = sig.threshold / s;
  const volume = sig.floor === undefined || sig.value >= Math.ceil(sig.floor / s);
  const { limit: _limit, ...rest } = sig;
  return { ...rest, threshold: round(threshold), fired: sig.fired || (volume && sig.score > threshold) };
}

function addPart(batch: Batch, part: PlanPart, detector: Detector): { subject: string; from: number; count: number } {
  const from = batch.ops.length;
  batch.ops.push(...part.ops);
  // Every action sets a penalty, a `tag` detector a mark (state/store.ts PenaltyAction): that is how a
  // response-phase signal (404s, bytes sent) reaches the subject's next requests.
  const { action, penaltyMs, name } = detector.config;
  for (const rule of part.rules) {
    const r: PenaltyRule = { op: from + rule.op, above: rule.above, action, durationMs: penaltyMs, detector: name };
    if (rule.per !== undefined) {
      r.per = from + rule.per;
      if (rule.perAtLeast !== undefined) r.perAtLeast = rule.perAtLeast;
    }
    batch.rules!.push(r);
  }
  return { subject: part.subject, from, count: part.ops.length };
}

/** Combines the evaluations of two phases of one exchange (headers, then body) for one decision. */
export function mergeEvaluations(a: Evaluation, b: Evaluation): Evaluation {
  const seen = new Set(a.penalties.map((p) => `${p.detector}|${p.sinceMs}|${p.untilMs}`));
  return {
    signals: [...a.signals, ...b.signals],
    penalties: [...a.penalties, ...b.penalties.filter((p) => !seen.has(`${p.detector}|${p.sinceMs}|${p.untilMs}`))],
    newPenalties: [...a.newPenalties, ...b.newPenalties],
    creditUntilMs: Math.max(a.creditUntilMs, b.creditUntilMs),
    cleared: a.cleared || b.cleared,
  };
}

/** Starts each detector's off-path work; errors go to onError, never to a request. */
export function runBackground(detectors: readonly Detector[], store: StateStore, nowMs: number, onError: (err: unknown) => void): void {
  for (const d of detectors) {
    const p = d.background?.(store, nowMs);
    if (p) p.catch(onError);
  }
}
