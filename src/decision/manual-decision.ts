/**
 * The decision for a request a manual block rule matched (state/manual-rules.ts): a block, explained
 * by a reason of its own (detector and signal `manual`, the rule's target, who set it and why, until
 * when), made without the store or any detector. Shadow mode (or observe mode) reports it as
 * shadowAction instead, like any other block.
 */
import type { IdentityKind } from '../request/types.js';
import type { ManualRule } from '../state/manual-rules.js';
import { allowDecision } from './decide.js';
import type { Decision, Reason } from './types.js';

export const MANUAL_DETECTOR = 'manual';

export function manualBlockDecision(rule: ManualRule, identityKind: IdentityKind, policyChecksum: string, shadow: boolean, nowMs: number): Decision {
  const reason: Reason = {
    detector: MANUAL_DETECTOR,
    signal: MANUAL_DETECTOR,
    value: 0,
    baseline: 0,
    threshold: 0,
    score: 0,
    windowMs: 0,
    action: 'block',
    shadow,
    penaltyUntilMs: rule.untilMs,
    manual: { target: rule.target, by: rule.by, reason: rule.reason },
  };
  return {
    ...allowDecision(identityKind, policyChecksum),
    action: shadow ? 'allow' : 'block',
    shadowAction: shadow ? 'block' : null,
    reasons: [reason],
    retryAfterS: Math.max(1, Math.ceil((rule.untilMs - nowMs) / 1000)),
  };
}
