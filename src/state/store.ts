/**
 * The StateStore contract. Both implementations (memory-store.ts, redis-store.ts) must give the same
 * answers for the same calls and clock; test/state/contract.test.ts runs one suite against both.
 *
 * The unit of work is a Batch: every op of one *subject* (an identity pseudonym, an IP, a username…),
 * executed atomically. `run` executes any number of batches in one call (in process for the memory
 * store and the tier; one pipelined round trip of `vigil_batch` FCALLs for RedisStore). All keys of a
 * batch share the subject's hash tag, so a batch is Redis-Cluster-safe:
 *   vigil:{<subject>}:penalty           active penalty (hash)
 *   vigil:{<subject>}:strikes           offences for escalation (hash: n, last, w, k), see Escalation, Suspicion
 *   vigil:{<subject>}:credit            step-up credit: absolute expiry ms (string), see StepUp
 *   vigil:{<subject>}:rate:<name>       rate op state (hash)
 *   vigil:{<subject>}:count:<name>:<w>  fixed-window counter for window index w
 *   vigil:{<subject>}:hll:<name>:<w>    HyperLogLog for window index w
 *   vigil:{pop}:<name>                  population baseline (hash), see mergePopulation
 * Every key carries a TTL. Time is always an argument (nowMs), never read by the store: a penalty or
 * credit whose stored expiry is ≤ nowMs counts as none, whatever Redis's own (wall-clock) TTL says.
 */

import type { SubjectDelta, SyncResult } from './delta.js';

/** RateOp.maxEmpty when not given. */
export const DEFAULT_MAX_EMPTY = 60;
/** PenaltyRule.perAtLeast when not given. */
export const DEFAULT_PER_AT_LEAST = 1;

/**
 * Actions a penalty can hold, in increasing order of force. `tag` is a *mark*, the weakest rung: set
 * by a fired rule of a `tag` detector, it lets the subject's requests through tagged for the upstream
 * until it expires (so a signal learned from a response — 404s, bytes sent — reaches the subject's
 * next requests). A mark is held, listed, lifted and shared exactly like a penalty, but it is never an
 * offence for escalation (see Escalation): it is never escalated, and it reads and writes no strikes.
 * Being the weakest rung, it never replaces an active stronger penalty, and any stronger one replaces it.
 */
export type PenaltyAction = 'tag' | 'throttle' | 'challenge' | 'block';
export const PENALTY_ORDER: readonly PenaltyAction[] = ['tag', 'throttle', 'challenge', 'block'];
/** The enforcing rungs (escalation steps between them; max_action is one of them). */
export type EnforcingAction = Exclude<PenaltyAction, 'tag'>;
export const ENFORCING_ORDER: readonly EnforcingAction[] = ['throttle', 'challenge', 'block'];

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
  /**
   * Escalation level: how many earlier offences (decayed) this subject had when the penalty was set;
   * 0 without escalation or for a first offence. action and untilMs are already the escalated ones.
   */
  level: number;
}

/**
 * Escalation and decay (policy responses.escalation), applied by the store whenever a batch SETS a
 * penalty (a new one, or a stronger one replacing the active one). Each set is an offence, kept in the
 * subject's strikes hash {n, last}. Offences decay: at time t the effective count is
 * n_eff = max(0, n − floor((t − last) / windowMs)). When a penalty is set at t with base action A and
 * base duration D (the fired rule's):
 *   level    = n_eff (before this offence)
 *   action   = the PENALTY_ORDER entry `level` steps above A, capped at maxAction — but never weaker
 *              than A itself (a block rule stays block even when maxAction is challenge)
 *   duration = min(D · factor^level, max(D, maxMs))
 *   strikes  = {n: n_eff + 1, last: t}, key TTL (n_eff + 1) · windowMs (it has decayed to 0 by then)
 * Without escalation the store neither reads nor writes strikes; level is 0.
 * A mark (a rule whose own action is `tag`) is no offence: it is set with its own duration and level
 * 0, never escalated, and neither reads nor writes the strikes; only the enforcing rungs escalate
 * (a throttle never escalates down into, nor a mark up into, anything else).
 *
 * Precisely (both stores, number for number):
 *  - D is the rule's durationMs rounded up to whole ms (as without escalation); factor^level is
 *    multiplied out step by step (stopping once the cap is reached) and the result rounded up to
 *    whole ms, so untilMs = t + that. Strikes TTL: (n_eff + 1) · windowMs rounded up to whole ms.
 *  - t − last is taken as 0 when the clock is before `last` (a late event decays nothing).
 *  - The strikes hash also keeps w = windowMs at the last offence, so inspect can decay it without
 *    the policy.
 *  - Which rule sets: of the fired rules (those a credit does not suppress, see StepUp) the one with
 *    the strongest OWN action, ties to the first (escalation is monotone in the action, so it also
 *    has the strongest escalated action). It is set, escalated, when no penalty is active or its OWN
 *    action is stronger than the active penalty's. So a rule firing again while its (or a stronger)
 *    penalty is active is not a new offence: the NEXT penalty steps up, not the next request (the
 *    penalized requests still feed the detectors; comparing escalated actions would turn every
 *    throttle into a challenge on the next request over the threshold, and a block on the one after).
 *    A stronger own action replaces the active penalty and is escalated like any other set; since
 *    escalation never lowers an action, no penalty is ever downgraded.
 *  - The strikes are read only when a penalty is about to be set: escalation given and some fired
 *    rule's own action stronger than the active penalty's and than `tag` (a mark reads none).
 */
export interface Escalation {
  windowMs: number;
  /** ≥ 1. */
  factor: number;
  maxAction: EnforcingAction;
  maxMs: number;
  /** Decaying suspicion after an offence (see Suspicion); absent = none. */
  suspicion?: Suspicion;
}

/**
 * Suspicion (policy responses.escalation.suspicion): a subject that was penalised is watched more
 * closely for hours after, as if every endpoint were more sensitive, so that a repeat offender's next
 * burst is stopped early; the watch decays and ends. From the subject's last offence `last` (the
 * strikes hash) at time t, with Δ = max(0, t − last):
 *   s = 1 + (sensitivity − 1) · 2^(−Δ / halfLifeMs), rounded to 6 decimals (floor(s·1e6 + 0.5) / 1e6),
 *       while Δ < keepMs and s ≥ 1.01; else s = 1 (no suspicion).
 * While s > 1, at the start of the batch (before its ops), every rule of the batch compares against
 * above / s (after × relax while credit is active: (above · relax) / s), and every rate op of the
 * batch scores from ceil(minCount / s) requests on (its baseline folds still clamp from minCount, as
 * without suspicion). result.suspicion = s (1 without). The strikes key is then read on every batch.
 * When a penalty is set, the strikes hash also keeps k = keepMs and its TTL is
 * max(n · windowMs, keepMs), rounded up to whole ms: suspicion outlives the escalation count.
 * keepMs (suspicionKeepMs) is the time s takes to decay to 1.01: halfLifeMs · log2(100·(sensitivity − 1)).
 */
export interface Suspicion {
  /** > 1: thresholds and volume floors are divided by up to this right after an offence. */
  sensitivity: number;
  halfLifeMs: number;
  /** suspicionKeepMs(sensitivity, halfLifeMs). */
  keepMs: number;
}

/** How long suspicion lasts: until 1 + (S − 1)·2^(−Δ/h) has decayed to 1.01; whole ms. 0 when S ≤ 1.01. */
export function suspicionKeepMs(sensitivity: number, halfLifeMs: number): number {
  if (!(sensitivity > 1.01)) return 0;
  return Math.ceil(halfLifeMs * Math.log2(100 * (sensitivity - 1)));
}

/** s of a subject whose last offence was at `last` (lua/escalation.lua's suspicion_at); 1 when none. */
export function suspicionAt(sp: Suspicion, last: number, nowMs: number): number {
  const d = Math.max(0, nowMs - last);
  if (!(d < sp.keepMs)) return 1;
  const s = Math.floor((1 + (sp.sensitivity - 1) * Math.pow(2, -d / sp.halfLifeMs)) * 1e6 + 0.5) / 1e6;
  return s >= 1.01 ? s : 1;
}

/**
 * Step-up handling on the IDENTITY's batch only (never on another subject's), in the same atomic
 * script as its ops and rules:
 *  1. clear: when `clear` is given and the active penalty is a `challenge` whose sinceMs ≤
 *     clear.authTimeMs + clear.skewMs (the user authenticated after, or just before, being challenged),
 *     the penalty is deleted and credit is granted: credit key = nowMs + creditMs (PX creditMs;
 *     creditMs rounded up to whole ms). result.cleared = true. The strikes are kept (a repeat
 *     offender still escalates).
 *  2. credit: the credit key is read; while nowMs < its value the credit is active
 *     (result.creditUntilMs = its value, else 0), and then
 *       - every rule of this batch compares against above × relax (ratio rules: the ratio against
 *         above × relax; perAtLeast unchanged);
 *       - a fired rule whose (escalated) action would be `challenge` sets no penalty (the identity has
 *         just proved itself); throttle and block rules still set theirs. Such a rule is still listed
 *         in result.fired (its condition held). A challenge rule that escalates to block is set.
 *     A credit granted by step 1 applies to the same batch.
 *  3. rules and escalation as usual.
 * Without stepUp the credit key is neither read nor applied (creditUntilMs 0) even when one exists.
 */
export interface StepUp {
  /** Threshold multiplier while credit is active, ≥ 1. */
  relax: number;
  /** Credit granted when a challenge is cleared. */
  creditMs: number;
  /** Present when this request carries verified claims that meet the policy's step-up requirements. */
  clear?: { authTimeMs: number; skewMs: number };
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
  /** Escalate penalties this batch sets (see Escalation); absent = the rule's action and duration as they are. */
  escalation?: Escalation;
  /** Only on the identity's batch (see StepUp). */
  stepUp?: StepUp;
}

export interface BatchResult {
  results: OpResult[];
  /** The subject's active penalty after this batch (one set by this batch included), or null. */
  penalty: Penalty | null;
  /** Indexes into rules of those whose condition held (with relax applied while credit is active). */
  fired: number[];
  /** With stepUp: the credit's expiry when credit is active after this batch, else 0. Without stepUp: 0. */
  creditUntilMs: number;
  /** With stepUp.clear: whether this batch cleared a challenge (and granted credit). */
  cleared: boolean;
  /** The subject's suspicion s when the batch ran (see Suspicion); 1 without. */
  suspicion: number;
}

/** What the store holds for one subject, for the admin API's look-up. */
export interface SubjectState {
  subject: string;
  penalty: Penalty | null;
  /** Effective (decayed) offence count and the last offence time, or null when none is held. */
  strikes: { n: number; lastMs: number } | null;
  /** Active credit expiry, or 0. */
  creditUntilMs: number;
  /** Every other key of the subject, by its name after `vigil:{<subject>}:`, with what it holds now. */
  state: Array<{ key: string; ttlMs: number; value: Record<string, number> }>;
}

export interface LiftedPenalty extends Penalty {
  reset: string[];
}

/** Whether a subject's key name (after `vigil:{<subject>}:`) holds state of the detector named `detector`. */
export function isDetectorState(name: string, detector: string): boolean {
  for (const kind of ['rate:', 'count:', 'hll:']) {
    if (!name.startsWith(kind)) continue;
    const rest = name.slice(kind.length);
    return rest === detector || rest.startsWith(`${detector}:`);
  }
  return false;
}

export interface ListedPenalty extends Penalty {
  subject: string;
}

export interface PopulationStats {
  mean: number;
  variance: number;
  /** Samples merged so far (decayed). */
  weight: number;
}

/**
 * A store that replicas share (Redis; a MemoryStore in tests): a StateStore that also merges the
 * changes an in-process tier recorded (delta.ts) and answers with the merged state (tiered-store.ts).
 */
export interface SharedStore extends StateStore {
  /**
   * Merges the deltas (delta.ts), records the penalties they set as events, and answers with the
   * merged snapshots and the penalty events after `cursor` (lifts by operators included).
   */
  sync(deltas: SubjectDelta[], nowMs: number, cursor: string): Promise<SyncResult>;
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
  /**
   * Operator lift: removes the subject's penalty and strikes (a false positive must not escalate the
   * next time), atomically. Returns the penalty that was active at nowMs, or null (the keys are
   * deleted either way). When one was active, the subject's state of the detector that set it is
   * reset too (its keys rate:<d>, rate:<d>:…, count:<d>:…, hll:<d>:…), so the burst that fired it
   * does not set a new penalty at the next request; `reset` lists those key names (after
   * `vigil:{<subject>}:`), sorted.
   */
  liftPenalty(subject: string, nowMs: number): Promise<LiftedPenalty | null>;
  /**
   * Step-up confirmed by the upstream (response path): when the subject's active penalty is a
   * challenge, deletes it and grants credit until nowMs + creditMs (PX creditMs, rounded up to whole
   * ms), atomically. Returns whether it cleared one. No challenge → nothing changes (no credit without
   * a challenge). No authTime check (the upstream has confirmed); the strikes are kept.
   */
  confirmStepUp(subject: string, creditMs: number, nowMs: number): Promise<boolean>;
  /**
   * Active penalties (untilMs > nowMs) of every subject, sorted by untilMs ascending then subject
   * (code-unit order), at most `limit` (none when limit ≤ 0). Off the request path. Redis: SCAN MATCH
   * vigil:{*}:penalty over the whole keyspace, then pipelined reads; subject = the text between the
   * braces; keys that are not penalty hashes are skipped. On Redis Cluster this would see one node's
   * keys only (RedisStore talks to a single endpoint).
   */
  listPenalties(nowMs: number, limit: number): Promise<ListedPenalty[]>;
  /**
   * Everything held for one subject (admin look-up). Off the request path. penalty and creditUntilMs
   * are judged on nowMs; strikes are decayed to nowMs with the windowMs stored in the hash (null when
   * none are left). state: every other key of the subject (Redis: SCAN MATCH vigil:{<subject>}:* with
   * the glob characters * ? [ ] \ of the subject escaped), sorted by key (code-unit order), with
   *   ttlMs  Redis: PTTL (wall clock); memory: expiry − the latest nowMs the store has seen
   *   value  hash: its numeric fields as numbers (non-numeric ones left out); HyperLogLog:
   *          {estimate} (PFCOUNT); other string: {value} when numeric, else {}; other types: {}.
   * Redis may list keys the memory store has already expired on the clock (wall-clock TTLs).
   */
  inspect(subject: string, nowMs: number): Promise<SubjectState>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
