import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import type { Op, OpResult, PenaltyAction, StateStore } from '../state/store.js';

/**
 * What a detector does when it fires: tag the request for the upstream, or set a penalty. A fired
 * rule sets a penalty of the detector's action for `penaltyMs`; for `tag` that penalty is a mark
 * (state/store.ts PenaltyAction): the subject's next requests are tagged too.
 */
export type DetectorAction = PenaltyAction;
export const DETECTOR_ACTIONS: readonly DetectorAction[] = ['tag', 'throttle', 'challenge', 'block'];

/** Whose behaviour a detector keeps state for (detectors/subject.ts). */
export type SubjectKind = 'identity' | 'client-ip' | 'ip-prefix' | 'username' | 'endpoint';
export const SUBJECT_KINDS: readonly SubjectKind[] = ['identity', 'client-ip', 'ip-prefix', 'username', 'endpoint'];

/** Fields every detector has, read by the policy loader before the type-specific ones. */
export interface DetectorBase {
  name: string;
  type: string;
  subject: SubjectKind;
  action: DetectorAction;
  /** How long a penalty (for `tag`: a mark) set by this detector lasts. */
  penaltyMs: number;
  /** Decide and report, never enforce. */
  shadow: boolean;
  /**
   * Canary enforcement: the share of identities (0–100, stable per identity and detector,
   * decision/canary.ts) on which this detector is enforced; the others are shadowed. 100 = all.
   */
  enforcePercent: number;
  /** Endpoint groups (policy endpoint names, or `other`) the detector applies to; null = all. */
  endpoints: string[] | null;
}

/** A penalty condition over a plan's ops (indexes local to the plan); see PenaltyRule in state/store.ts. */
export interface PlanRule {
  op: number;
  above: number;
  per?: number;
  perAtLeast?: number;
}

/**
 * The state a detector wants touched in one phase of one exchange: ops per subject, and when to
 * penalise. Most plans have one part; a detector that compares two subjects (say an endpoint's surge
 * and an identity's history there) has two.
 */
export interface PlanPart {
  subject: string;
  ops: Op[];
  /** Penalty rules over this part's ops; the penalty falls on this part's subject. */
  rules: PlanRule[];
}
export type Plan = PlanPart | PlanPart[];

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
  /**
   * The volume below which the store does not compare this signal's score (a rate op's minCount) when
   * `score` is not the store's own score (which is 0 below it): lets suspicion be mirrored exactly.
   */
  floor?: number;
}

export interface Detector {
  readonly config: DetectorBase;
  /** Ops to run in this phase of this exchange, or null when the detector does not apply. Pure. */
  plan(x: Exchange, phase: Phase, nowMs: number): Plan | null;
  /**
   * Turns the results of this phase's plan (one OpResult[] per plan part, in order) into a signal.
   * `ran` is the plan as the store ran it (its parts, their rules' thresholds) and the time it ran at,
   * so a detector never has to remember what it planned. Pure apart from feeding its own population
   * learning.
   */
  evaluate(results: OpResult[][], x: Exchange, phase: Phase, ran: { parts: readonly PlanPart[]; nowMs: number }): Signal | null;
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
