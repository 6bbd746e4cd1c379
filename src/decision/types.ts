import type { DetectorAction, Signal } from '../detectors/types.js';
import type { IdentityKind } from '../request/types.js';

/** Actions in order of force. */
export type Action = 'allow' | DetectorAction;
export const ACTION_ORDER: readonly Action[] = ['allow', 'tag', 'throttle', 'challenge', 'block'];

export function stronger(a: Action, b: Action): boolean {
  return ACTION_ORDER.indexOf(a) > ACTION_ORDER.indexOf(b);
}

/** Why a decision was made: one per contributing detector, in the detector's own terms. */
export type Reason = Pick<Signal, 'detector' | 'signal' | 'value' | 'baseline' | 'threshold' | 'score' | 'windowMs' | 'action' | 'shadow'> & {
  /** Set when the reason is an active penalty (rather than, or as well as, this request's signal). */
  penaltyUntilMs?: number;
};

export type FailOpenReason = 'store-timeout' | 'store-error' | 'breaker-open' | 'internal';

export interface Decision {
  /** What vigil does with the request. */
  action: Action;
  /** What vigil would have done had nothing been shadowed, when stronger than `action`. */
  shadowAction: Action | null;
  reasons: Reason[];
  identityKind: IdentityKind;
  /** For throttle: seconds until the penalty ends. */
  retryAfterS: number | null;
  /** For RateLimit headers: the quota of the deciding rate signal, when there is one. */
  rateLimit: { policy: string; limit: number; remaining: number; windowS: number; resetS: number } | null;
  /** Set when the decision was made without the store (fail-open). */
  failOpen: FailOpenReason | null;
  policyChecksum: string;
}
