import type { Fields } from '../policy/fields.js';
import type { RequestFacts } from '../request/types.js';
import type { Op, OpResult, PenaltyAction, StateStore } from '../state/store.js';

/** What a detector does when it fires: tag the request for the upstream, or set a penalty. */
export type DetectorAction = 'tag' | PenaltyAction;
export const DETECTOR_ACTIONS: readonly DetectorAction[] = ['tag', 'throttle', 'challenge', 'block'];

/** Whose behaviour a detector keeps state for. */
export type SubjectKind = 'identity' | 'client-ip';
export const SUBJECT_KINDS: readonly SubjectKind[] = ['identity', 'client-ip'];

/** Fields every detector has, read by the policy loader before the type-specific ones. */
export interface DetectorBase {
  name: string;
  type: string;
  subject: SubjectKind;
  action: DetectorAction;
  /** How long a penalty set by this detector lasts. */
  penaltyMs: number;
  /** Decide and report, never enforce. */
  shadow: boolean;
}

/** The state a detector wants touched for one request: ops on one subject, and when to penalise. */
export interface Plan {
  subject: string;
  ops: Op[];
  /** Penalty rules over this plan's ops (op indexes are local to `ops`). */
  rules: Array<{ op: number; above: number }>;
}

/** A detector's explanation of one request: what it measured against what. */
export interface Signal {
  detector: string;
  type: string;
  /** Short signal name, e.g. `rate-z`. */
  signal: string;
  /** Observed value (e.g. requests in the current window). */
  value: number;
  /** What is normal for this subject (e.g. the baseline mean per window). */
  baseline: number;
  /** The threshold the score is compared with (e.g. z > 3). */
  threshold: number;
  score: number;
  windowMs: number;
  fired: boolean;
  action: DetectorAction;
  shadow: boolean;
  /** Requests per window this subject may make before firing (for RateLimit headers), when meaningful. */
  limit?: number;
}

export interface Detector {
  readonly config: DetectorBase;
  /** Ops to run for this request, or null when the detector does not apply. Pure. */
  plan(facts: RequestFacts, nowMs: number): Plan | null;
  /** Turns this plan's results into a signal. Pure. */
  evaluate(results: OpResult[], facts: RequestFacts): Signal | null;
  /** Optional off-path work (e.g. refreshing a population prior); never awaited by a request. */
  background?(store: StateStore, nowMs: number): Promise<void> | null;
}

export interface DetectorFactory<C extends DetectorBase = DetectorBase> {
  readonly type: string;
  /** One line for docs and `vigil check-policy`. */
  readonly summary: string;
  /** Reads the type-specific fields (the reader rejects unknown keys afterwards). */
  parse(fields: Fields, base: DetectorBase): C;
  create(config: C): Detector;
}
