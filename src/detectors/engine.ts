import type { RequestFacts } from '../request/types.js';
import type { Batch, Penalty, PenaltyRule, StateStore } from '../state/store.js';
import type { Detector, Signal } from './types.js';

export interface Evaluation {
  signals: Signal[];
  /** Active penalties of the request's subjects (identity first). */
  penalties: Penalty[];
}

/**
 * Runs every detector of the policy for one request: collects their plans into one batch per subject
 * (the identity's batch always exists, so its penalty is always read), executes them in ONE store
 * round trip, and hands each detector its slice of results. Throws StoreUnavailableError (from the
 * guarded store) for the stream handler to turn into a fail-open answer.
 */
export async function evaluateDetectors(
  detectors: readonly Detector[],
  facts: RequestFacts,
  store: StateStore,
  nowMs: number,
): Promise<Evaluation> {
  const batches = new Map<string, Batch>();
  const batchOf = (subject: string): Batch => {
    let b = batches.get(subject);
    if (!b) {
      b = { subject, ops: [], rules: [] };
      batches.set(subject, b);
    }
    return b;
  };
  batchOf(facts.identity.id);

  const slices: Array<{ detector: Detector; subject: string; from: number; count: number }> = [];
  for (const detector of detectors) {
    const plan = detector.plan(facts, nowMs);
    if (!plan) continue;
    const batch = batchOf(plan.subject);
    const from = batch.ops.length;
    batch.ops.push(...plan.ops);
    for (const rule of plan.rules) {
      const { action, penaltyMs, name } = detector.config;
      if (action === 'tag') continue;
      const r: PenaltyRule = { op: from + rule.op, above: rule.above, action, durationMs: penaltyMs, detector: name };
      batch.rules!.push(r);
    }
    slices.push({ detector, subject: plan.subject, from, count: plan.ops.length });
  }

  const list = [...batches.values()];
  const results = await store.run(list, nowMs);
  const bySubject = new Map(list.map((b, i) => [b.subject, results[i]!] as const));

  const signals: Signal[] = [];
  for (const s of slices) {
    const r = bySubject.get(s.subject);
    if (!r) continue;
    const signal = s.detector.evaluate(r.results.slice(s.from, s.from + s.count), facts);
    if (signal) signals.push(signal);
  }
  const penalties: Penalty[] = [];
  for (const r of results) if (r.penalty) penalties.push(r.penalty);
  return { signals, penalties };
}

/** Starts each detector's off-path work; errors go to onError, never to a request. */
export function runBackground(detectors: readonly Detector[], store: StateStore, nowMs: number, onError: (err: unknown) => void): void {
  for (const d of detectors) {
    const p = d.background?.(store, nowMs);
    if (p) p.catch(onError);
  }
}
