/**
 * What one replica changed for one subject since it last synchronised with the shared store (a
 * SubjectDelta), and what the shared store holds for that subject once the changes are merged (a
 * SubjectSnapshot). tiered-store.ts records deltas on the request path; the shared store (Redis's
 * `vigil_sync` function, or a MemoryStore in tests) merges them:
 *
 *   rate      the increments of each bucket, in order, applied with the rate op's own maths (a bucket
 *             that closes folds into the baseline exactly as it did in the replica): counts add
 *   count     INCRBY: counts add
 *   distinct  PFADD of the members added: HyperLogLog registers merge (max)
 *   penalty   the stronger action wins (a mark, tag, is the weakest); of two of the same action the
 *             later expiry
 *   strikes   the larger count once both are decayed to now; a tie goes to the later offence (its
 *             suspicion keep k travels with it)
 *   credit    the later expiry
 *   cleared   a challenge set at or before clearedSinceMs is deleted (before the penalty is merged)
 *
 * A delta may hold keys with nothing to add (count by 0, distinct with no member): they are read back,
 * so the replica learns what other replicas wrote there (a sliding count's previous window, a learning
 * distinct's previous window).
 */
import { PENALTY_ORDER, type Penalty, type RateOp } from './store.js';

/** Increments of one rate key in one bucket: the op as first seen in the bucket, and the sum of `by`. */
export interface RateGroup {
  name: string;
  op: RateOp;
  /** Time of the first call in this bucket (it folds the previous bucket). */
  atMs: number;
  /** Time of the last call (the key's expiry is counted from it). */
  lastMs: number;
  by: number;
}

export interface CountDelta {
  name: string;
  w: number;
  windowMs: number;
  by: number;
  /** Time of the first change (a counter the shared store creates lives two windows from it). */
  atMs: number;
}

export interface DistinctDelta {
  name: string;
  w: number;
  windowMs: number;
  members: Set<string>;
  /** Time of the last member added (the HyperLogLog lives two windows from its last change). */
  lastMs: number;
}

export interface Strikes {
  n: number;
  last: number;
  w: number;
  /** Suspicion's keepMs at the last offence (0 = none): the key lives max(n·w, k) after `last`. */
  k: number;
}

/** How long strikes are kept after their last offence (whole ms ≥ 1): max(n·w, k), see Suspicion. */
export function strikesLifeMs(s: Strikes): number {
  return Math.max(1, Math.ceil(Math.max(s.n * s.w, s.k)));
}

export interface SubjectDelta {
  subject: string;
  rates: RateGroup[];
  /** By key suffix `count:<name>:<w>`. */
  counts: Map<string, CountDelta>;
  /** By key suffix `hll:<name>:<w>`. */
  hlls: Map<string, DistinctDelta>;
  penalty: Penalty | null;
  strikes: Strikes | null;
  /** Credit granted (expiry), or 0. */
  creditUntilMs: number;
  /** A challenge was cleared at this time (step-up), or -1. */
  clearedSinceMs: number;
}

/** The rate key's hash: bucket, count, EWMA mean, variance, samples, and its expiry on the clock (x). */
export interface RateState {
  b: number;
  c: number;
  m: number;
  v: number;
  n: number;
  x: number;
}

export interface SubjectSnapshot {
  subject: string;
  /** Active at the sync's nowMs, or null. */
  penalty: Penalty | null;
  strikes: Strikes | null;
  creditUntilMs: number;
  /** Every rate name of the delta: its state, or null when the store holds none. */
  rates: Map<string, RateState | null>;
  /** Every count suffix of the delta: its value (0 when absent). */
  counts: Map<string, number>;
  /** Every hll suffix of the delta: its 2^14 registers, or null when absent. */
  hlls: Map<string, Uint8Array | null>;
}

export function emptyDelta(subject: string): SubjectDelta {
  return { subject, rates: [], counts: new Map(), hlls: new Map(), penalty: null, strikes: null, creditUntilMs: 0, clearedSinceMs: -1 };
}

/** tag (a mark) 1, throttle 2, challenge 3, block 4; lua/penalty.lua's PENALTY_RANK. */
const RANK: Record<string, number> = Object.fromEntries(PENALTY_ORDER.map((a, i) => [a, i + 1]));

/** The penalty that wins a merge (see the file header); null only when both are. */
export function strongerPenalty(a: Penalty | null, b: Penalty | null): Penalty | null {
  if (!a) return b;
  if (!b) return a;
  const ra = RANK[a.action] ?? 0;
  const rb = RANK[b.action] ?? 0;
  if (ra !== rb) return ra > rb ? a : b;
  return b.untilMs > a.untilMs ? b : a;
}

/** Decayed offence count of strikes at nowMs. */
export function strikesAt(s: Strikes, nowMs: number): number {
  return s.w > 0 ? Math.max(0, s.n - Math.floor(Math.max(0, nowMs - s.last) / s.w)) : s.n;
}

/** The strikes that win a merge at nowMs; null only when both are. */
export function strongerStrikes(a: Strikes | null, b: Strikes | null, nowMs: number): Strikes | null {
  if (!a) return b;
  if (!b) return a;
  const na = strikesAt(a, nowMs);
  const nb = strikesAt(b, nowMs);
  if (na !== nb) return na > nb ? a : b;
  return b.last > a.last ? b : a;
}

/**
 * `later` appended to `earlier` (a failed sync puts its changes back in front of the ones made since):
 * rate groups in order, counts summed, members united, penalty/strikes/credit merged, clear kept.
 */
export function concatDeltas(earlier: SubjectDelta, later: SubjectDelta, nowMs: number): SubjectDelta {
  const out = emptyDelta(earlier.subject);
  out.rates = [...earlier.rates];
  for (const g of later.rates) {
    const last = lastGroup(out.rates, g.name);
    if (last && Math.floor(last.atMs / last.op.bucketMs) === Math.floor(g.atMs / g.op.bucketMs)) {
      const i = out.rates.lastIndexOf(last);
      out.rates[i] = { ...last, by: last.by + g.by, lastMs: Math.max(last.lastMs, g.lastMs) };
    } else out.rates.push(g);
  }
  for (const src of [earlier, later]) {
    for (const [k, c] of src.counts) {
      const have = out.counts.get(k);
      out.counts.set(k, have ? { ...have, by: have.by + c.by, atMs: Math.min(have.atMs, c.atMs) } : { ...c });
    }
    for (const [k, h] of src.hlls) {
      const have = out.hlls.get(k);
      if (have) {
        for (const m of h.members) have.members.add(m);
        have.lastMs = Math.max(have.lastMs, h.lastMs);
      } else out.hlls.set(k, { ...h, members: new Set(h.members) });
    }
  }
  out.penalty = strongerPenalty(earlier.penalty, later.penalty);
  // A challenge cleared later must not come back from the earlier changes.
  const p = out.penalty;
  if (p && p.action === 'challenge' && later.clearedSinceMs >= 0 && p.sinceMs <= later.clearedSinceMs && p !== later.penalty) out.penalty = later.penalty;
  out.strikes = strongerStrikes(earlier.strikes, later.strikes, nowMs);
  out.creditUntilMs = Math.max(earlier.creditUntilMs, later.creditUntilMs);
  out.clearedSinceMs = Math.max(earlier.clearedSinceMs, later.clearedSinceMs);
  return out;
}

/** The last rate group of `name`, or undefined. */
export function lastGroup(groups: RateGroup[], name: string): RateGroup | undefined {
  for (let i = groups.length - 1; i >= 0; i--) if (groups[i]!.name === name) return groups[i];
  return undefined;
}

/**
 * Penalties set or lifted anywhere, as every replica learns them at its next sync whether or not it
 * is busy with the subject (a penalty must not wait for the subject's next request to cross replicas).
 * penalty null: lifted by an operator.
 */
export interface PenaltyEvent {
  subject: string;
  penalty: Penalty | null;
  /** With a lift: the detector whose state was reset with it. */
  detector?: string;
}

export interface SyncResult {
  /** One per delta, in order; null when that subject's node could not be reached (the changes are kept). */
  snapshots: Array<SubjectSnapshot | null>;
  /** Penalty events after the cursor given, oldest first (at most a bounded number). */
  events: PenaltyEvent[];
  /** Pass it to the next sync. */
  cursor: string;
}

/** The cursor of a replica that has seen no event yet: it reads the most recent ones kept. */
export const FIRST_CURSOR = '-';
/** Penalty events the shared store keeps (and a sync reads at most). */
export const EVENTS_KEPT = 10_000;
