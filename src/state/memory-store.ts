/**
 * MemoryStore: the StateStore in one process, for unit tests, replay and single-instance use.
 *
 * Same keys, same maths and same answers as redis-store.ts + lua/*.lua (the contract suite checks
 * both, and checks they agree number for number). The rate, count and distinct ops, the penalty
 * rules, escalation and step-up are lua/rate.lua, count.lua, distinct.lua, escalation.lua, credit.lua
 * and batch.lua statement by statement; liftPenalty and confirmStepUp are lift.lua and confirm.lua;
 * population merging is lua/population.lua; HyperLogLogs change the registers Redis changes and give
 * Redis's estimates (hyperloglog.ts), so a distinct op's `changed` agrees too.
 *
 * Time: only the nowMs arguments. A key's expiry is an absolute time on that clock, set like the Redis
 * TTL (rate: every call; count: at creation; hll: whenever a register changed; penalty: when set;
 * strikes: when an offence is counted; credit: when granted; population: when samples were merged).
 * inspect reports a key's TTL as its expiry minus the latest nowMs seen (its own included).
 * Redis expires keys on wall time instead; the two agree whenever nowMs is wall time. Under a test
 * clock that steps back across a penalty's expiry, Redis still holds the key and reports the penalty
 * again (its until is after the late nowMs), while this store has already dropped it.
 *
 * Bounded memory: at most `maxKeys` keys (default 100_000). The Map's insertion order is the LRU
 * order, approximately: a key moves to the end when it is used after more than maxKeys / 8 other
 * accesses (see get); inserting beyond maxKeys evicts the key at the front. Expired keys are dropped
 * when touched and by an incremental sweep that inspects `sweepPerCall` keys (default 16) per call,
 * resuming where it stopped. Worst case per key: a dense
 * HyperLogLog, 16 KiB; the rest are a few hundred bytes.
 */
import { EVENTS_KEPT, strikesLifeMs, strongerPenalty, strongerStrikes, type PenaltyEvent, type SubjectDelta, type SubjectSnapshot, type Strikes, type SyncResult } from './delta.js';
import { HyperLogLog } from './hyperloglog.js';
import {
  DEFAULT_MAX_EMPTY,
  DEFAULT_PER_AT_LEAST,
  PENALTY_ORDER,
  type Batch,
  type BatchResult,
  type CountOp,
  type DistinctOp,
  isDetectorState,
  type LiftedPenalty,
  type ListedPenalty,
  type OpResult,
  type Penalty,
  type PenaltyAction,
  type PopulationStats,
  type RateOp,
  type StateStore,
  type SubjectState,
  suspicionAt,
} from './store.js';

interface RateState {
  b: number;
  c: number;
  m: number;
  v: number;
  n: number;
}
interface PopState {
  m: number;
  v: number;
  w: number;
}
type Value =
  | { t: 'rate'; s: RateState }
  | { t: 'count'; n: number }
  | { t: 'hll'; h: HyperLogLog }
  | { t: 'penalty'; p: Penalty }
  | { t: 'strikes'; n: number; last: number; w: number; k: number }
  | { t: 'credit'; untilMs: number }
  | { t: 'pop'; s: PopState };
interface Entry {
  expiresAt: number;
  value: Value;
  /** The store's access count when the entry last moved to the LRU end. */
  gen: number;
}

export interface MemoryStoreOptions {
  /** Most keys held at once; the least recently used is evicted beyond it. Default 100_000. */
  maxKeys?: number;
  /** Keys inspected for expiry per call by the incremental sweep. Default 16. */
  sweepPerCall?: number;
}

function rank(action: PenaltyAction | undefined): number {
  return action === undefined ? 0 : PENALTY_ORDER.indexOf(action) + 1;
}
/** The rank of a mark (PENALTY_ORDER's weakest rung). */
const TAG_RANK = 1;

/** Positive integer milliseconds, as redis-store sends them to PEXPIRE. */
export function ttlArg(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}

/** n_eff: n offences at `last` decayed to nowMs (lua/escalation.lua's strikes_level). */
function decayed(n: number, last: number, windowMs: number, nowMs: number): number {
  return Math.max(0, n - Math.floor(Math.max(0, nowMs - last) / windowMs));
}

/** Rank `base` escalated `level` steps, capped at capRank, never below base (escalate_rank). */
function escalateRank(base: number, level: number, capRank: number): number {
  const r = Math.min(base + level, capRank);
  return r < base ? base : r;
}

/** min(D·factor^level, max(D, maxMs)) multiplied out step by step, rounded up (escalate_duration). */
function escalateDuration(d: number, level: number, factor: number, maxMs: number): number {
  const cap = Math.max(d, maxMs);
  let x = d;
  if (factor > 1) {
    for (let i = 1; i <= level; i++) {
      if (x >= cap) break;
      x = x * factor;
    }
  }
  return Math.max(1, Math.ceil(Math.min(x, cap)));
}

/** Finite numbers only, as redis-store reads a hash's numeric fields. */
function finite(fields: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [f, v] of Object.entries(fields)) if (Number.isFinite(v)) out[f] = v;
  return out;
}

/** The prior's weight fades out linearly as the subject's own history grows (see lua/rate.lua). */
function baseline(s: RateState, op: RateOp): [number, number] {
  const w = Math.max(0, op.priorWeight - s.n);
  const total = s.n + w;
  if (total === 0) return [0, 0];
  const mean = (s.n * s.m + w * op.priorMean) / total;
  const variance = (s.n * s.v + w * op.priorVariance) / total;
  return [mean, variance];
}

function sdOf(mean: number, variance: number, floor: number): number {
  return Math.sqrt(Math.max(variance, mean, floor));
}

function fold(s: RateState, op: RateOp, x: number): void {
  if (x >= op.minCount && s.n + op.priorWeight > 0) {
    // Only buckets that could have fired are clamped; none before there is any baseline.
    const [mean, variance] = baseline(s, op);
    const cap = mean + op.clampZ * sdOf(mean, variance, op.varianceFloor);
    if (x > cap) x = cap;
  }
  if (s.n === 0) {
    s.m = x;
    s.v = 0;
  } else {
    const d = x - s.m;
    s.m = s.m + op.alpha * d;
    s.v = (1 - op.alpha) * (s.v + op.alpha * d * d);
  }
  s.n = s.n + 1;
}

export class MemoryStore implements StateStore {
  readonly kind = 'memory' as const;
  private readonly map = new Map<string, Entry>();
  private readonly maxKeys: number;
  private readonly sweepPerCall: number;
  private sweeper: IterableIterator<[string, Entry]> | null = null;
  private gen = 0;
  private readonly moveAfter: number;
  private lastNowMs = -Infinity;
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    this.maxKeys = Math.max(1, opts.maxKeys ?? 100_000);
    this.moveAfter = this.maxKeys >= Number.MAX_SAFE_INTEGER ? Infinity : Math.floor(this.maxKeys / 8);
    this.sweepPerCall = Math.max(0, opts.sweepPerCall ?? 16);
  }

  /** Keys held now, expired ones not yet swept included. */
  get size(): number {
    return this.map.size;
  }

  /** Remaining TTL of a key at nowMs, like PTTL: -2 when missing or expired. For tests and debugging. */
  pttl(key: string, nowMs: number): number {
    const e = this.map.get(key);
    if (!e || e.expiresAt <= nowMs) return -2;
    return e.expiresAt - nowMs;
  }

  /** Every live key at nowMs. For tests and debugging. */
  keys(nowMs: number): string[] {
    return [...this.map].filter(([, e]) => e.expiresAt > nowMs).map(([k]) => k);
  }

  async run(batches: Batch[], nowMs: number): Promise<BatchResult[]> {
    return this.runNow(batches, nowMs);
  }

  /** run, answered synchronously (the in-process tier's request path). */
  runNow(batches: Batch[], nowMs: number): BatchResult[] {
    this.tick(nowMs);
    const out: BatchResult[] = new Array(batches.length);
    for (let i = 0; i < batches.length; i++) out[i] = this.runBatch(batches[i]!, nowMs);
    return out;
  }

  /**
   * As a shared store (tests, and the contract suite's second backend for the tier): merges each
   * replica's changes (delta.ts) and answers with what it then holds for those keys.
   */
  async sync(deltas: SubjectDelta[], nowMs: number, cursor: string): Promise<SyncResult> {
    this.tick(nowMs);
    const snapshots = deltas.map((d) => {
      this.applyDelta(d, nowMs);
      if (d.penalty) this.addEvent({ subject: d.subject, penalty: { ...d.penalty } });
      return this.snapshot(d, nowMs);
    });
    const after = cursor === '-' ? 0 : Number(cursor);
    const events = this.events.filter((e) => e.id > after);
    const last = this.events[this.events.length - 1];
    return { snapshots, events: events.map(({ subject, penalty }) => ({ subject, penalty })), cursor: last ? String(last.id) : cursor };
  }

  private readonly events: Array<PenaltyEvent & { id: number }> = [];
  private eventId = 0;

  private addEvent(e: PenaltyEvent): void {
    this.events.push({ ...e, id: ++this.eventId });
    if (this.events.length > EVENTS_KEPT) this.events.shift();
  }

  /** Merges one subject's changes into this store with delta.ts's rules (lua/sync.lua does the same). */
  applyDelta(d: SubjectDelta, nowMs: number): void {
    const prefix = `vigil:{${d.subject}}`;
    for (const g of d.rates) {
      const key = `${prefix}:rate:${g.name}`;
      this.rate(key, g.by === (g.op.by ?? 1) ? g.op : { ...g.op, by: g.by }, g.atMs);
      const e = this.map.get(key);
      if (e) e.expiresAt = g.lastMs + ttlArg(g.op.ttlMs);
    }
    for (const [suffix, c] of d.counts) {
      if (c.by === 0) continue;
      const key = `${prefix}:${suffix}`;
      const found = this.get(key, nowMs);
      if (found?.t === 'count') found.n += c.by;
      else this.set(key, { t: 'count', n: c.by }, c.atMs + ttlArg(c.windowMs * 2));
    }
    for (const [suffix, h] of d.hlls) {
      if (h.members.size === 0) continue;
      const key = `${prefix}:${suffix}`;
      const found = this.get(key, nowMs);
      const hll = found?.t === 'hll' ? found.h : new HyperLogLog();
      let changed = false;
      for (const m of h.members) if (hll.add(m)) changed = true;
      if (changed) this.set(key, { t: 'hll', h: hll }, h.lastMs + ttlArg(h.windowMs * 2));
    }
    const penaltyKey = `${prefix}:penalty`;
    if (d.clearedSinceMs >= 0) {
      const held = this.get(penaltyKey, nowMs);
      if (held?.t === 'penalty' && held.p.action === 'challenge' && held.p.sinceMs <= d.clearedSinceMs) this.map.delete(penaltyKey);
    }
    if (d.penalty && d.penalty.untilMs > nowMs) {
      const held = this.get(penaltyKey, nowMs);
      const active = held?.t === 'penalty' && held.p.untilMs > nowMs ? held.p : null;
      const wins = strongerPenalty(active, d.penalty);
      if (wins !== active) this.set(penaltyKey, { t: 'penalty', p: { ...wins! } }, wins!.untilMs);
    }
    if (d.strikes) {
      const key = `${prefix}:strikes`;
      const held = this.get(key, nowMs);
      const have: Strikes | null = held?.t === 'strikes' ? { n: held.n, last: held.last, w: held.w, k: held.k } : null;
      const wins = strongerStrikes(have, d.strikes, nowMs);
      if (wins && wins !== have) this.set(key, { t: 'strikes', ...wins }, wins.last + strikesLifeMs(wins));
    }
    if (d.creditUntilMs > nowMs) {
      const key = `${prefix}:credit`;
      const held = this.get(key, nowMs);
      if (!(held?.t === 'credit' && held.untilMs >= d.creditUntilMs)) this.set(key, { t: 'credit', untilMs: d.creditUntilMs }, d.creditUntilMs);
    }
  }

  /** What this store holds for the delta's subject and keys (the shape lua/sync.lua replies with). */
  snapshot(d: SubjectDelta, nowMs: number): SubjectSnapshot {
    const prefix = `vigil:{${d.subject}}`;
    const live = (key: string): Entry | undefined => {
      const e = this.map.get(key);
      return e && e.expiresAt > nowMs ? e : undefined;
    };
    const p = live(`${prefix}:penalty`)?.value;
    const s = live(`${prefix}:strikes`)?.value;
    const c = live(`${prefix}:credit`)?.value;
    const snap: SubjectSnapshot = {
      subject: d.subject,
      penalty: p?.t === 'penalty' && p.p.untilMs > nowMs ? { ...p.p } : null,
      strikes: s?.t === 'strikes' ? { n: s.n, last: s.last, w: s.w, k: s.k } : null,
      creditUntilMs: c?.t === 'credit' && nowMs < c.untilMs ? c.untilMs : 0,
      rates: new Map(),
      counts: new Map(),
      hlls: new Map(),
    };
    for (const g of d.rates) {
      const e = live(`${prefix}:rate:${g.name}`);
      snap.rates.set(g.name, e?.value.t === 'rate' ? { ...e.value.s, x: e.expiresAt } : null);
    }
    for (const suffix of d.counts.keys()) {
      const v = live(`${prefix}:${suffix}`)?.value;
      snap.counts.set(suffix, v?.t === 'count' ? v.n : 0);
    }
    for (const suffix of d.hlls.keys()) {
      const v = live(`${prefix}:${suffix}`)?.value;
      snap.hlls.set(suffix, v?.t === 'hll' ? v.h.registers() : null);
    }
    return snap;
  }

  /**
   * Replaces what this store holds for the snapshot's subject and keys with the snapshot (the tier
   * taking the shared store's merged state). Counts and HyperLogLogs keep their local expiry when they
   * exist here, else live two windows from nowMs.
   */
  importSnapshot(s: SubjectSnapshot, d: SubjectDelta, nowMs: number): void {
    const prefix = `vigil:{${s.subject}}`;
    const put = (key: string, value: Value | null, expiresAt: number): void => {
      if (value === null || !(expiresAt > nowMs)) this.map.delete(key);
      else this.set(key, value, expiresAt);
    };
    put(`${prefix}:penalty`, s.penalty ? { t: 'penalty', p: { ...s.penalty } } : null, s.penalty?.untilMs ?? 0);
    put(`${prefix}:strikes`, s.strikes ? { t: 'strikes', ...s.strikes } : null, s.strikes ? s.strikes.last + strikesLifeMs(s.strikes) : 0);
    put(`${prefix}:credit`, s.creditUntilMs > 0 ? { t: 'credit', untilMs: s.creditUntilMs } : null, s.creditUntilMs);
    for (const [name, st] of s.rates) {
      put(`${prefix}:rate:${name}`, st ? { t: 'rate', s: { b: st.b, c: st.c, m: st.m, v: st.v, n: st.n } } : null, st?.x ?? 0);
    }
    for (const [suffix, n] of s.counts) {
      const key = `${prefix}:${suffix}`;
      const windowMs = d.counts.get(suffix)?.windowMs ?? 0;
      put(key, n !== 0 ? { t: 'count', n } : null, this.map.get(key)?.expiresAt ?? nowMs + ttlArg(windowMs * 2));
    }
    for (const [suffix, regs] of s.hlls) {
      const key = `${prefix}:${suffix}`;
      const windowMs = d.hlls.get(suffix)?.windowMs ?? 0;
      put(key, regs ? { t: 'hll', h: HyperLogLog.fromRegisters(regs) } : null, this.map.get(key)?.expiresAt ?? nowMs + ttlArg(windowMs * 2));
    }
  }

  /** The subject's strikes as held (not decayed), or null. */
  strikesOf(subject: string, nowMs: number): Strikes | null {
    const e = this.map.get(`vigil:{${subject}}:strikes`);
    return e && e.expiresAt > nowMs && e.value.t === 'strikes' ? { n: e.value.n, last: e.value.last, w: e.value.w, k: e.value.k } : null;
  }

  /** Whether the key is held (expired ones not yet swept included). */
  has(key: string): boolean {
    return this.map.has(key);
  }

  /** Drops these keys (the tier evicting a subject it has flushed). */
  forget(keys: Iterable<string>): void {
    for (const k of keys) this.map.delete(k);
  }

  async mergePopulation(name: string, samples: number[], alpha: number, ttlMs: number, nowMs: number): Promise<PopulationStats> {
    this.tick(nowMs);
    const key = `vigil:{pop}:${name}`;
    const found = this.get(key, nowMs);
    const s: PopState = found?.t === 'pop' ? found.s : { m: 0, v: 0, w: 0 };
    for (const x of samples) {
      if (s.w === 0) {
        s.m = x;
        s.v = 0;
      } else {
        const d = x - s.m;
        s.m = s.m + alpha * d;
        s.v = (1 - alpha) * (s.v + alpha * d * d);
      }
      s.w = s.w * (1 - alpha) + 1;
    }
    if (samples.length > 0) this.set(key, { t: 'pop', s }, nowMs + ttlArg(ttlMs));
    return { mean: s.m, variance: s.v, weight: s.w };
  }

  /** lua/lift.lua, then the lifted detector's state (StateStore.liftPenalty). */
  async liftPenalty(subject: string, nowMs: number): Promise<LiftedPenalty | null> {
    this.tick(nowMs);
    const key = `vigil:{${subject}}:penalty`;
    const held = this.get(key, nowMs);
    const p = held?.t === 'penalty' && held.p.untilMs > nowMs ? { ...held.p } : null;
    this.map.delete(key);
    this.map.delete(`vigil:{${subject}}:strikes`);
    this.addEvent({ subject, penalty: null, ...(p ? { detector: p.detector } : {}) });
    return p ? { ...p, reset: this.resetDetector(subject, p.detector) } : null;
  }

  /** Deletes the subject's state of one detector; returns the key names deleted, sorted. */
  resetDetector(subject: string, detector: string): string[] {
    const prefix = `vigil:{${subject}}:`;
    const reset: string[] = [];
    for (const key of [...this.map.keys()]) {
      if (!key.startsWith(prefix)) continue;
      const name = key.slice(prefix.length);
      if (!isDetectorState(name, detector)) continue;
      this.map.delete(key);
      reset.push(name);
    }
    return reset.sort();
  }

  /** lua/confirm.lua. */
  async confirmStepUp(subject: string, creditMs: number, nowMs: number): Promise<boolean> {
    this.tick(nowMs);
    const key = `vigil:{${subject}}:penalty`;
    const held = this.get(key, nowMs);
    if (held?.t !== 'penalty' || !(held.p.untilMs > nowMs) || held.p.action !== 'challenge') return false;
    this.map.delete(key);
    this.grantCredit(`vigil:{${subject}}:credit`, ttlArg(creditMs), nowMs);
    return true;
  }

  /** redis-store's listPenalties: every live penalty key, expired-by-nowMs ones left out. */
  async listPenalties(nowMs: number, limit: number): Promise<ListedPenalty[]> {
    this.tick(nowMs);
    if (!(limit > 0)) return [];
    const out: ListedPenalty[] = [];
    for (const [key, e] of this.map) {
      if (e.value.t !== 'penalty' || e.expiresAt <= nowMs || !(e.value.p.untilMs > nowMs)) continue;
      if (!key.startsWith('vigil:{') || !key.endsWith('}:penalty')) continue;
      out.push({ subject: key.slice('vigil:{'.length, key.length - '}:penalty'.length), ...e.value.p });
    }
    out.sort((a, b) => a.untilMs - b.untilMs || (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
    return out.slice(0, Math.floor(limit));
  }

  /** redis-store's inspect; reads leave the LRU order as it is. */
  async inspect(subject: string, nowMs: number): Promise<SubjectState> {
    this.tick(nowMs);
    const clock = this.lastNowMs;
    const prefix = `vigil:{${subject}}:`;
    const live = (key: string): Value | undefined => {
      const e = this.map.get(key);
      return e && e.expiresAt > nowMs ? e.value : undefined;
    };
    const p = live(`${prefix}penalty`);
    const penalty = p?.t === 'penalty' && p.p.untilMs > nowMs ? { ...p.p } : null;
    const s = live(`${prefix}strikes`);
    let strikes: SubjectState['strikes'] = null;
    if (s?.t === 'strikes') {
      const n = s.w > 0 ? decayed(s.n, s.last, s.w, nowMs) : s.n;
      if (n > 0) strikes = { n, lastMs: s.last };
    }
    const c = live(`${prefix}credit`);
    const creditUntilMs = c?.t === 'credit' && nowMs < c.untilMs ? c.untilMs : 0;
    const state: SubjectState['state'] = [];
    for (const [key, e] of this.map) {
      if (!key.startsWith(prefix) || e.expiresAt <= clock) continue;
      const name = key.slice(prefix.length);
      if (name === 'penalty' || name === 'strikes' || name === 'credit') continue;
      const v = e.value;
      let value: Record<string, number>;
      if (v.t === 'rate') value = finite({ b: v.s.b, c: v.s.c, m: v.s.m, v: v.s.v, n: v.s.n });
      else if (v.t === 'pop') value = finite({ m: v.s.m, v: v.s.v, w: v.s.w });
      else if (v.t === 'count') value = finite({ value: v.n });
      else if (v.t === 'hll') value = { estimate: v.h.count() };
      else value = {}; // penalty, strikes and credit live under their own names only (skipped above)
      state.push({ key: name, ttlMs: e.expiresAt - clock, value });
    }
    state.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return { subject, penalty, strikes, creditUntilMs, state };
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.map.clear();
    this.sweeper = null;
  }

  private runBatch(batch: Batch, nowMs: number): BatchResult {
    const prefix = `vigil:{${batch.subject}}`;
    const strikesKey = `${prefix}:strikes`;
    // Suspicion (store.ts Suspicion, lua/batch.lua): read before the ops, from the last offence.
    const sp = batch.escalation?.suspicion;
    let suspicion = 1;
    if (sp && sp.keepMs > 0) {
      const s = this.get(strikesKey, nowMs);
      if (s?.t === 'strikes') suspicion = suspicionAt(sp, s.last, nowMs);
    }
    const results: OpResult[] = [];
    for (const op of batch.ops) {
      if (op.kind === 'rate') results.push(this.rate(`${prefix}:rate:${op.name}`, op, nowMs, suspicion > 1 ? Math.ceil(op.minCount / suspicion) : op.minCount));
      else if (op.kind === 'count') results.push(this.count(prefix, op, nowMs));
      else results.push(this.distinct(prefix, op, nowMs));
    }

    const penaltyKey = `${prefix}:penalty`;
    const held = this.get(penaltyKey, nowMs);
    let penalty = held?.t === 'penalty' && held.p.untilMs > nowMs ? held.p : null;

    // Step-up (lua/batch.lua): clear a challenge, then read the credit.
    const stepUp = batch.stepUp;
    const creditKey = `${prefix}:credit`;
    let cleared = false;
    let creditUntilMs = 0;
    if (stepUp) {
      const clear = stepUp.clear;
      if (clear && penalty && penalty.action === 'challenge' && penalty.sinceMs <= clear.authTimeMs + clear.skewMs) {
        this.map.delete(penaltyKey);
        this.grantCredit(creditKey, ttlArg(stepUp.creditMs), nowMs);
        penalty = null;
        cleared = true;
      }
      const c = this.get(creditKey, nowMs);
      if (c?.t === 'credit' && nowMs < c.untilMs) creditUntilMs = c.untilMs;
    }
    const credit = creditUntilMs !== 0;

    const fired: number[] = [];
    const candidates: { rank: number; detector: string; score: number; durationMs: number }[] = [];
    const rules = batch.rules ?? [];
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      let above = credit ? rule.above * stepUp!.relax : rule.above;
      if (suspicion > 1) above = above / suspicion;
      let score = results[rule.op]?.score;
      if (score !== undefined && rule.per !== undefined) {
        // A ratio rule: the denominator must reach perAtLeast and never be 0 (lua/batch.lua).
        const d = results[rule.per]?.score;
        score = d !== undefined && d >= (rule.perAtLeast ?? DEFAULT_PER_AT_LEAST) && d !== 0 ? score / d : undefined;
      }
      if (score === undefined || !(score > above)) continue;
      fired.push(i);
      const r = rank(rule.action);
      if (r > 0) candidates.push({ rank: r, detector: rule.detector, score, durationMs: ttlArg(rule.durationMs) });
    }

    // Only a rule whose own action beats the active penalty's sets one (lua/batch.lua).
    const activeRank = penalty ? rank(penalty.action) : 0;
    const reach = Math.max(0, ...candidates.map((c) => c.rank));
    if (reach > activeRank) {
      // A mark (tag) is no offence: the strikes are read only when an enforcing rule fired.
      const esc = reach > TAG_RANK ? batch.escalation : undefined;
      let capRank = 0;
      let level = 0;
      if (esc) {
        capRank = rank(esc.maxAction);
        const s = this.get(strikesKey, nowMs);
        if (s?.t === 'strikes') level = decayed(s.n, s.last, esc.windowMs, nowMs);
      }
      let best: (typeof candidates)[number] | null = null;
      let bestRank = 0;
      for (const c of candidates) {
        const r = esc && c.rank > TAG_RANK ? escalateRank(c.rank, level, capRank) : c.rank;
        if (!(credit && r === rank('challenge')) && c.rank > (best?.rank ?? 0)) {
          best = c;
          bestRank = r;
        }
      }
      if (best && best.rank > activeRank) {
        const mark = best.rank === TAG_RANK;
        let duration = best.durationMs;
        if (esc && !mark) {
          duration = escalateDuration(duration, level, esc.factor, esc.maxMs);
          const strikes = { n: level + 1, last: nowMs, w: esc.windowMs, k: esc.suspicion?.keepMs ?? 0 };
          this.set(strikesKey, { t: 'strikes', ...strikes }, nowMs + strikesLifeMs(strikes));
        }
        penalty = {
          action: PENALTY_ORDER[bestRank - 1]!,
          untilMs: nowMs + duration,
          detector: best.detector,
          score: best.score,
          sinceMs: nowMs,
          level: mark ? 0 : level,
        };
        this.set(penaltyKey, { t: 'penalty', p: penalty }, nowMs + duration);
      }
    }
    return { results, penalty: penalty ? { ...penalty } : null, fired, creditUntilMs, cleared, suspicion };
  }

  /** lua/credit.lua's credit_grant: credit until nowMs + creditMs (whole ms). */
  private grantCredit(key: string, creditMs: number, nowMs: number): void {
    this.set(key, { t: 'credit', untilMs: nowMs + creditMs }, nowMs + creditMs);
  }

  /** scoreFrom: the count from which the op scores (op.minCount, or less under suspicion). */
  private rate(key: string, op: RateOp, nowMs: number, scoreFrom = op.minCount): OpResult {
    const bucket = Math.floor(nowMs / op.bucketMs);
    const found = this.get(key, nowMs);
    const s: RateState = found?.t === 'rate' ? found.s : { b: bucket, c: 0, m: 0, v: 0, n: 0 };
    let closed = -1;
    if (bucket > s.b) {
      closed = s.c;
      fold(s, op, s.c);
      const maxEmpty = op.maxEmpty ?? DEFAULT_MAX_EMPTY;
      let empty = Math.min(bucket - s.b - 1, maxEmpty);
      if (op.skipLongGaps && bucket - s.b - 1 > maxEmpty) empty = 0;
      // Counted like Lua's `for _ = 1, empty` (a fractional maxEmpty folds floor(empty) zeros).
      for (let i = 1; i <= empty; i++) fold(s, op, 0);
      s.b = bucket;
      s.c = 0;
    }
    s.c = s.c + (op.by ?? 1);
    this.set(key, { t: 'rate', s }, nowMs + ttlArg(op.ttlMs));
    const [mean, variance] = baseline(s, op);
    const sd = sdOf(mean, variance, op.varianceFloor);
    const z = sd > 0 ? (s.c - mean) / sd : 0;
    const ratio = s.c / Math.max(mean, 1);
    let score = 0;
    if (s.c >= scoreFrom) score = op.scoreMode === 'ratio' ? ratio : z;
    return { kind: 'rate', current: s.c, mean, variance, samples: s.n, z, ratio, score, closed };
  }

  /** lua/count.lua: by 0 only reads (creates nothing); sliding adds the previous window, weighted. */
  private count(prefix: string, op: CountOp, nowMs: number): OpResult {
    const w = Math.floor(nowMs / op.windowMs);
    const key = `${prefix}:count:${op.name}:${w}`;
    const by = op.by ?? 1;
    const found = this.get(key, nowMs);
    let count: number;
    if (by === 0) {
      count = found?.t === 'count' ? found.n : 0;
    } else if (found?.t === 'count') {
      count = found.n += by;
    } else {
      count = by;
      this.set(key, { t: 'count', n: by }, nowMs + ttlArg(op.windowMs * 2));
    }
    if (op.sliding) {
      const prevFound = this.get(`${prefix}:count:${op.name}:${w - 1}`, nowMs);
      const prev = prevFound?.t === 'count' ? prevFound.n : 0;
      const into = nowMs - Math.floor(nowMs / op.windowMs) * op.windowMs;
      count = count + prev * (1 - into / op.windowMs);
    }
    return { kind: 'count', count, score: count };
  }

  /** lua/distinct.lua: the estimate is read only when the add changed a register. */
  private distinct(prefix: string, op: DistinctOp, nowMs: number): OpResult {
    const unchanged: OpResult = { kind: 'distinct', estimate: -1, changed: false, closed: -1, score: 0 };
    if (op.member === '') return unchanged;
    const w = Math.floor(nowMs / op.windowMs);
    const key = `${prefix}:hll:${op.name}:${w}`;
    const found = this.get(key, nowMs);
    const created = found?.t !== 'hll';
    const h = found?.t === 'hll' ? found.h : new HyperLogLog();
    if (!h.add(op.member)) return unchanged;
    this.set(key, { t: 'hll', h }, nowMs + ttlArg(op.windowMs * 2));
    const estimate = h.count();
    let closed = -1;
    if (op.learn && created) {
      const prev = this.get(`${prefix}:hll:${op.name}:${w - 1}`, nowMs);
      closed = prev?.t === 'hll' ? prev.h.count() : 0;
    }
    return { kind: 'distinct', estimate, changed: true, closed, score: estimate };
  }

  /**
   * The live value of a key, or undefined when missing or expired. An entry moves to the LRU end only
   * when more than maxKeys / 8 accesses happened since it last moved: a hot key is not re-inserted on
   * every access (that was the store's main cost), and a key is still evicted only after at least
   * 7/8 of the map has been used more recently than it. Unbounded (the tier's store): never moves.
   */
  private get(key: string, nowMs: number): Value | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= nowMs) {
      this.map.delete(key);
      return undefined;
    }
    this.gen++;
    if (this.gen - e.gen > this.moveAfter) {
      this.map.delete(key);
      this.map.set(key, e);
      e.gen = this.gen;
    }
    return e.value;
  }

  /** Writes a key: in place when it exists (moving it like get does), else at the LRU end, evicting beyond maxKeys. */
  private set(key: string, value: Value, expiresAt: number): void {
    const e = this.map.get(key);
    if (e) {
      e.value = value;
      e.expiresAt = expiresAt;
      this.gen++;
      if (this.gen - e.gen > this.moveAfter) {
        this.map.delete(key);
        this.map.set(key, e);
        e.gen = this.gen;
      }
      return;
    }
    this.map.set(key, { value, expiresAt, gen: ++this.gen });
    while (this.map.size > this.maxKeys) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
  }


  private tick(nowMs: number): void {
    this.assertOpen();
    if (nowMs > this.lastNowMs) this.lastNowMs = nowMs;
    for (let i = 0; i < this.sweepPerCall && this.map.size > 0; i++) {
      this.sweeper ??= this.map.entries();
      const next = this.sweeper.next();
      if (next.done) {
        this.sweeper = null;
        continue;
      }
      const [key, e] = next.value;
      if (e.expiresAt <= nowMs) this.map.delete(key);
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('MemoryStore is closed');
  }
}
