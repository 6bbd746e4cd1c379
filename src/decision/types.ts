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
  /** The penalty's escalation level (repeat offences before it), when above 0. */
  level?: number;
  /** Set when the detector enforces on a share of identities: which side of it this identity is on. */
  canary?: 'enforced' | 'shadowed';
  /**
   * A challenge not raised: the identity satisfied a step-up and holds credit, or the request is to a
   * step-up endpoint (where the challenge is answered). Excused reasons never set the action.
   */
  excused?: 'step-up-credit' | 'step-up-endpoint';
  /** Set when an operator's manual block decided (detector `manual`): its target, who set it and why. */
  manual?: { target: string; by: string; reason: string };
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
  /**
   * For RateLimit headers: the quota of the deciding rate signal, or on other decisions of the rate
   * signal closest to its limit, when there is one.
   */
  rateLimit: { policy: string; limit: number; remaining: number; windowS: number; resetS: number } | null;
  /** Set when the decision was made without the store (fail-open). */
  failOpen: FailOpenReason | null;
  /** Set when the decision was made, but from this replica's own view (`store-sync`: the shared store is away). */
  degraded?: string;
  /** The identity's step-up credit expiry when it holds credit, else 0. */
  creditUntilMs: number;
  /** This request's verified claims cleared the identity's challenge. */
  stepUpCleared: boolean;
  policyChecksum: string;
}
