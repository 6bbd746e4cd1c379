/**
 * The StateStore contract. Both implementations (memory-store.ts, redis-store.ts) must give the same
 * answers for the same calls and clock; test/state/contract.test.ts runs one suite against both.
 *
 * The unit of work is a Batch: every op of one *subject* (an identity pseudonym, an IP, a username…),
 * executed atomically. `run` executes any number of batches in ONE round trip to the store (one
 * EVALSHA per batch, pipelined), which is how vigil keeps its budget of one Redis round trip per
 * ext_proc message. All keys of a batch share the subject's hash tag, so a batch is Redis-Cluster-safe:
 *   vigil:{<subject>}:penalty           active penalty (hash)
 *   vigil:{<subject>}:rate:<name>       rate op state (hash)
 *   vigil:{<subject>}:count:<name>:<w>  fixed-window counter for window index w
 *   vigil:{<subject>}:hll:<name>:<w>    HyperLogLog for window index w
 *   vigil:{pop}:<name>                  population baseline (hash), see mergePopulation
 * Every key carries a TTL. Time is always an argument (nowMs), never read by the store.
 */

/** RateOp.maxEmpty when not given. */
export const DEFAULT_MAX_EMPTY = 60;
/** PenaltyRule.perAtLeast when not given. */
export const DEFAULT_PER_AT_LEAST = 1;

/** Enforcing actions a penalty can hold, in increasing order of force. */
export type PenaltyAction = 'throttle' | 'challenge' | 'block';
export const PENALTY_ORDER: readonly PenaltyAction[] = ['throttle', 'challenge', 'block'];

export interface Penalty {
  action: PenaltyAction;
  /** Absolute expiry (ms since epoch, on the injected clock). */
  untilMs: number;
  /** Detector (policy name) that set it. */
  detector: string;
  /** The score that fired the rule (e.g. the z-score), for explanations. */
  score: number;
  /** When it was set. */
  sinceMs: number;
}

/**
 * Per-bucket request count with an EWMA baseline of past buckets' counts (mean and variance), blended
 * with a population prior for newcomers. See docs/detectors.md for the maths.
 */
export interface RateOp {
  kind: 'rate';
  name: string;
  bucketMs: number;
  /** EWMA smoothing factor in (0, 1]. */
  alpha: number;
  /** Amount to add to the current bucket (default 1). */
  by?: number;
  /**
   * Prior (population) mean and variance of a bucket's count, and its weight in buckets. The weight
   * fades out linearly as the subject's own history grows: max(0, priorWeight − samples).
   */
  priorMean: number;
  priorVariance: number;
  priorWeight: number;
  /** Lower bound on the variance used for the z-score (the Poisson floor max(var, mean) is applied too). */
  varianceFloor: number;
  /** Below this many requests in the current bucket the op's score is 0 (minimum volume). */
  minCount: number;
  /**
   * What `score` is once current ≥ minCount: 'z' (the z-score) or 'ratio' (current / max(meanEff, 1),
   * the classic "rate above k times the average" rule). Default 'z'.
   */
  scoreMode?: 'z' | 'ratio';
  /**
   * Empty buckets folded (as zeros) when a call comes after a gap: min(gap − 1, maxEmpty) of them.
   * Default 60. With skipLongGaps, a gap of more than maxEmpty empty buckets folds none at all: the
   * pause is not data (used by seasonal keys, which are idle for a week between their hours).
   */
  maxEmpty?: number;
  skipLongGaps?: boolean;
  /**
   * A closed bucket of at least minCount requests (one that could have fired) is folded into the
   * baseline clamped at mean + clampZ·sd (limits poisoning), computed before that fold; smaller buckets
   * are learned as they are; no clamp while there is no baseline at all (no samples, no prior).
   */
  clampZ: number;
  /** TTL of the state key. */
  ttlMs: number;
}

/**
 * Window counter. Fixed: the count of the current window w = floor(now / windowMs). Sliding (two
 * buckets, Cloudflare-style): count(w) + count(w − 1) · (1 − (now mod windowMs) / windowMs), a float.
 * `by` 0 only reads (creates nothing). Keys live 2 × windowMs from their creation.
 */
export interface CountOp {
  kind: 'count';
  name: string;
  windowMs: number;
  /** Default 1; 0 reads without writing. */
  by?: number;
  sliding?: boolean;
}

/**
 * Distinct members per fixed window (HyperLogLog). The estimate is read (PFCOUNT) only when PFADD
 * changed the HLL (docs/performance.md B4); otherwise the result says `changed: false` and the score
 * is 0, so a rule can only fire on a call that raised the count. With `learn`, the call that creates
 * a window's HLL also reports the previous window's final estimate (`closed`), for population
 * baselines. `member` '' only reads nothing and adds nothing (estimate −1, changed false).
 */
export interface DistinctOp {
  kind: 'distinct';
  name: string;
  member: string;
  windowMs: number;
  learn?: boolean;
}

export type Op = RateOp | CountOp | DistinctOp;

export interface RateResult {
  kind: 'rate';
  /** Count in the current bucket including this call. */
  current: number;
  /** Baseline used (own EWMA blended with the prior). */
  mean: number;
  variance: number;
  /** Closed buckets folded into the own baseline so far. */
  samples: number;
  /** (current - mean) / sqrt(max(variance, mean, varianceFloor)); 0 when that sd is 0. */
  z: number;
  /** current / max(meanEff, 1). */
  ratio: number;
  /** z (or ratio, per scoreMode) when current ≥ minCount, else 0. What penalty rules compare. */
  score: number;
  /** Count of the bucket this call closed, or -1 when no bucket was closed (feeds the population). */
  closed: number;
}

export interface CountResult {
  kind: 'count';
  count: number;
  score: number;
}

export interface DistinctResult {
  kind: 'distinct';
  /** PFCOUNT after the add when the add changed the HLL; −1 when it did not (not read). */
  estimate: number;
  changed: boolean;
  /** With learn: the previous window's estimate when this call created the current window's HLL, else −1. */
  closed: number;
  /** estimate when changed, else 0. */
  score: number;
}

export type OpResult = RateResult | CountResult | DistinctResult;

/**
 * Set the subject's penalty when the rule holds (checked in the store, in the same round trip):
 * without `per`, ops[op].score > above; with `per` (a ratio such as failures / attempts),
 * ops[per].score ≥ perAtLeast and ops[op].score / ops[per].score > above.
 */
export interface PenaltyRule {
  op: number;
  above: number;
  per?: number;
  /** Minimum denominator for a ratio rule (default 1). */
  perAtLeast?: number;
  action: PenaltyAction;
  durationMs: number;
  detector: string;
}

export interface Batch {
  subject: string;
  ops: Op[];
  rules?: PenaltyRule[];
}

export interface BatchResult {
  results: OpResult[];
  /** The subject's active penalty after this batch (one set by this batch included), or null. */
  penalty: Penalty | null;
  /** Indexes into rules of those whose condition held. */
  fired: number[];
}

export interface PopulationStats {
  mean: number;
  variance: number;
  /** Samples merged so far (decayed). */
  weight: number;
}

export interface StateStore {
  readonly kind: 'memory' | 'redis';
  /** Executes every batch atomically per subject, all in one round trip. Results are in batch order. */
  run(batches: Batch[], nowMs: number): Promise<BatchResult[]>;
  /**
   * Folds samples (closed bucket counts of many identities) into the named population baseline and
   * returns it. Called off the request path by the detector's population refresher. Per sample x, in
   * order: with weight 0, mean = x and variance = 0; else d = x - mean, mean += alpha·d,
   * variance = (1 - alpha)·(variance + alpha·d²); then weight = weight·(1 - alpha) + 1 (so it tends to
   * 1/alpha). With no samples it only reads ({0, 0, 0} when there is no baseline). TTL ttlMs.
   */
  mergePopulation(name: string, samples: number[], alpha: number, ttlMs: number, nowMs: number): Promise<PopulationStats>;
  /** Removes a subject's penalty (operator lift, step-up cleared). Returns whether one existed. */
  clearPenalty(subject: string): Promise<boolean>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
