import type { Evaluation } from '../detectors/engine.js';
import type { Detector, Signal } from '../detectors/types.js';
import type { IdentityKind } from '../request/types.js';
import { inCanary } from './canary.js';
import type { Action, Decision, FailOpenReason, Reason } from './types.js';
import { stronger } from './types.js';

export interface DecideInput {
  evaluation: Pick<Evaluation, 'signals' | 'penalties'> & Partial<Pick<Evaluation, 'creditUntilMs' | 'cleared'>>;
  detectors: readonly Detector[];
  globalShadow: boolean;
  identityKind: IdentityKind;
  /** The caller's pseudonym: canary enforcement is stable per identity. */
  identityId: string;
  /** The request is to a step-up endpoint: challenges are excused there. */
  stepUpEndpoint?: boolean;
  policyChecksum: string;
  nowMs: number;
}

/**
 * Pure: signals + active penalties + policy → Decision (docs/mitigation.md, "Precedence").
 *  1. A penalty or fired signal of a detector no longer in the policy is ignored (removing a detector
 *     lifts its penalties).
 *  2. A challenge is excused — reported, never acted on — while the identity holds step-up credit or
 *     on a step-up endpoint.
 *  3. A candidate is shadowed when the global shadow switch is on, its detector is `shadow:`, or the
 *     identity falls outside the detector's canary share (`enforce_percent`).
 *  4. The strongest enforced candidate is the action (block > challenge > throttle > tag > allow); the
 *     strongest of all candidates, when stronger, is reported as shadowAction.
 * Each detector gives one reason: its penalty (explained by this request's signal when there is one),
 * else its fired signal.
 */
export function decide(input: DecideInput): Decision {
  const { evaluation, detectors, globalShadow, nowMs } = input;
  const creditUntilMs = (evaluation.creditUntilMs ?? 0) > nowMs ? evaluation.creditUntilMs! : 0;
  const excuse: Reason['excused'] | undefined = creditUntilMs > 0 ? 'step-up-credit' : input.stepUpEndpoint ? 'step-up-endpoint' : undefined;

  // Accumulated in an object: TypeScript does not track lets assigned inside the closure.
  const acc: { action: Action; wouldBe: Action; rate: Signal | undefined; untilMs: number } = {
    action: 'allow',
    wouldBe: 'allow',
    rate: undefined,
    untilMs: 0,
  };
  const reasons: Reason[] = [];

  const consider = (detector: Detector, candidate: Action, reason: Reason, signal?: Signal) => {
    const { name, shadow: detectorShadow, enforcePercent } = detector.config;
    if (enforcePercent < 100) reason.canary = inCanary(name, input.identityId, enforcePercent) ? 'enforced' : 'shadowed';
    reason.shadow = globalShadow || detectorShadow || reason.canary === 'shadowed';
    if (candidate === 'challenge' && excuse) reason.excused = excuse;
    reasons.push(reason);
    if (reason.excused) return;
    if (stronger(candidate, acc.wouldBe)) acc.wouldBe = candidate;
    if (!reason.shadow && stronger(candidate, acc.action)) acc.action = candidate;
    if (signal?.limit !== undefined && (!acc.rate || stronger(candidate, acc.rate.action))) acc.rate = signal;
  };

  for (const p of evaluation.penalties) {
    const detector = detectorNamed(detectors, p.detector);
    if (!detector) continue;
    const s = lastSignalOf(evaluation.signals, p.detector);
    const reason: Reason = s
      ? { ...reasonOf(s), action: p.action, penaltyUntilMs: p.untilMs }
      : { detector: p.detector, signal: 'penalty', value: p.score, baseline: 0, threshold: 0, score: p.score, windowMs: 0, action: p.action, shadow: false, penaltyUntilMs: p.untilMs };
    if (p.level > 0) reason.level = p.level;
    consider(detector, p.action, reason, s);
    // A mark (tag) holds nothing back: its expiry is no reason to retry later.
    if (!reason.excused && p.action !== 'tag') acc.untilMs = Math.max(acc.untilMs, p.untilMs);
  }
  for (const s of evaluation.signals) {
    if (!s.fired) continue;
    const detector = detectorNamed(detectors, s.detector);
    if (!detector || reasons.some((r) => r.detector === s.detector)) continue;
    consider(detector, s.action, reasonOf(s), s);
  }

  const { action, wouldBe, untilMs } = acc;
  const rate = acc.rate ?? nearestLimit(evaluation.signals);
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
    creditUntilMs,
    stepUpCleared: evaluation.cleared === true,
    policyChecksum: input.policyChecksum,
  };
}

/** The decision when the store could not be consulted: allow, and say why. */
export function failOpenDecision(reason: FailOpenReason, identityKind: IdentityKind, policyChecksum: string): Decision {
  return { ...allowDecision(identityKind, policyChecksum), failOpen: reason };
}

/** Allow without scoring (static endpoints, allowlisted callers). */
export function allowDecision(identityKind: IdentityKind, policyChecksum: string): Decision {
  return {
    action: 'allow',
    shadowAction: null,
    reasons: [],
    identityKind,
    retryAfterS: null,
    rateLimit: null,
    failOpen: null,
    creditUntilMs: 0,
    stepUpCleared: false,
    policyChecksum,
  };
}

/**
 * Lookups by detector name over the policy's few detectors and a request's few signals: a scan, so an
 * ordinary request (no penalty, nothing fired) builds no index at all.
 */
function detectorNamed(detectors: readonly Detector[], name: string): Detector | undefined {
  return detectors.find((d) => d.config.name === name);
}

/** A detector's signal; the last one when two phases of an exchange both gave one (merged evaluations). */
function lastSignalOf(signals: readonly Signal[], detector: string): Signal | undefined {
  for (let i = signals.length - 1; i >= 0; i--) if (signals[i]!.detector === detector) return signals[i];
  return undefined;
}

/** The rate signal with the largest share of its limit used (soft limits on allowed requests). */
function nearestLimit(signals: readonly Signal[]): Signal | undefined {
  let best: Signal | undefined;
  for (const s of signals) {
    if (s.limit === undefined || s.limit <= 0) continue;
    if (!best || s.value / s.limit > best.value / best.limit!) best = s;
  }
  return best;
}

function reasonOf(s: Signal): Reason {
  const { detector, signal, value, baseline, threshold, score, windowMs, action } = s;
  return { detector, signal, value, baseline, threshold, score, windowMs, action, shadow: false };
}
