import type { Evaluation } from '../detectors/engine.js';
import type { Detector, Signal } from '../detectors/types.js';
import type { IdentityKind } from '../request/types.js';
import type { Action, Decision, FailOpenReason, Reason } from './types.js';
import { stronger } from './types.js';

export interface DecideInput {
  evaluation: Pick<Evaluation, 'signals' | 'penalties'>;
  detectors: readonly Detector[];
  globalShadow: boolean;
  identityKind: IdentityKind;
  policyChecksum: string;
  nowMs: number;
}

/**
 * Pure: signals + active penalties + policy → Decision. Precedence: the strongest action wins
 * (block > challenge > throttle > tag > allow). A candidate is shadowed when the global shadow switch
 * is on or its detector is marked `shadow:`; shadowed candidates never set `action`, but the strongest
 * of them is reported as `shadowAction` when it is stronger than what is enforced. A penalty whose
 * detector is no longer in the policy is ignored (removing a detector lifts its penalties).
 */
export function decide(input: DecideInput): Decision {
  const { evaluation, detectors, globalShadow, nowMs } = input;
  const byName = new Map(detectors.map((d) => [d.config.name, d] as const));
  const signalOf = new Map(evaluation.signals.map((s) => [s.detector, s] as const));

  // Accumulated in an object: TypeScript does not track lets assigned inside the closure.
  const acc: { action: Action; wouldBe: Action; rate: Signal | undefined; untilMs: number } = {
    action: 'allow',
    wouldBe: 'allow',
    rate: undefined,
    untilMs: 0,
  };
  const reasons: Reason[] = [];

  const consider = (candidate: Action, shadow: boolean, reason: Reason, signal?: Signal) => {
    reasons.push(reason);
    if (stronger(candidate, acc.wouldBe)) acc.wouldBe = candidate;
    if (!shadow && stronger(candidate, acc.action)) acc.action = candidate;
    if (signal?.limit !== undefined && (!acc.rate || stronger(candidate, acc.rate.action))) acc.rate = signal;
  };

  for (const p of evaluation.penalties) {
    const detector = byName.get(p.detector);
    if (!detector) continue;
    const shadow = globalShadow || detector.config.shadow;
    const s = signalOf.get(p.detector);
    acc.untilMs = Math.max(acc.untilMs, p.untilMs);
    const reason: Reason = s
      ? { ...reasonOf(s, shadow), action: p.action, penaltyUntilMs: p.untilMs }
      : { detector: p.detector, signal: 'penalty', value: p.score, baseline: 0, threshold: 0, score: p.score, windowMs: 0, action: p.action, shadow, penaltyUntilMs: p.untilMs };
    consider(p.action, shadow, reason, s);
  }
  for (const s of evaluation.signals) {
    if (!s.fired || reasons.some((r) => r.detector === s.detector)) continue;
    const shadow = globalShadow || s.shadow;
    consider(s.action, shadow, reasonOf(s, shadow), s);
  }

  const { action, wouldBe, rate, untilMs } = acc;
  const decisive = stronger(wouldBe, action) ? wouldBe : action;
  const retryAfterS = decisive === 'throttle' || decisive === 'block' ? Math.max(1, Math.ceil((untilMs - nowMs) / 1000)) : null;
  return {
    action,
    shadowAction: stronger(wouldBe, action) ? wouldBe : null,
    reasons,
    identityKind: input.identityKind,
    retryAfterS,
    rateLimit: rate?.limit !== undefined
      ? {
          policy: rate.detector,
          limit: rate.limit,
          remaining: Math.max(0, rate.limit - rate.value),
          windowS: Math.max(1, Math.round(rate.windowMs / 1000)),
          resetS: retryAfterS ?? Math.max(1, Math.ceil((rate.windowMs - (nowMs % rate.windowMs)) / 1000)),
        }
      : null,
    failOpen: null,
    policyChecksum: input.policyChecksum,
  };
}

/** The decision when the store could not be consulted: allow, and say why. */
export function failOpenDecision(reason: FailOpenReason, identityKind: IdentityKind, policyChecksum: string): Decision {
  return {
    action: 'allow',
    shadowAction: null,
    reasons: [],
    identityKind,
    retryAfterS: null,
    rateLimit: null,
    failOpen: reason,
    policyChecksum,
  };
}

function reasonOf(s: Signal, shadow: boolean): Reason {
  const { detector, signal, value, baseline, threshold, score, windowMs, action } = s;
  return { detector, signal, value, baseline, threshold, score, windowMs, action, shadow };
}
