/**
 * MemoryStore: the StateStore in one process, for unit tests, replay and single-instance use.
 *
 * Same keys, same maths and same answers as redis-store.ts + lua/*.lua (the contract suite checks
 * both, and checks they agree number for number). The rate, count and distinct ops and the penalty
 * rules are lua/rate.lua, count.lua, distinct.lua and batch.lua statement by statement; population
 * merging is lua/population.lua; HyperLogLogs change the registers Redis changes and give Redis's
 * estimates (hyperloglog.ts), so a distinct op's `changed` agrees too.
 *
 * Time: only the nowMs arguments. A key's expiry is an absolute time on that clock, set like the Redis
 * TTL (rate: every call; count: at creation; hll: whenever a register changed; penalty: when set;
 * population: when samples were merged). clearPenalty has no nowMs: it uses the latest nowMs seen.
 * Redis expires keys on wall time instead; the two agree whenever nowMs is wall time. Under a test
 * clock that steps back across a penalty's expiry, Redis still holds the key and reports the penalty
 * again (its until is after the late nowMs), while this store has already dropped it.
 *
 * Bounded memory: at most `maxKeys` keys (default 100_000). The Map's insertion order is the LRU
 * order (a key is re-inserted on every access); inserting beyond maxKeys evicts the least recently
 * used key. Expired keys are dropped when touched and by an incremental sweep that inspects
 * `sweepPerCall` keys (default 16) per call, resuming where it stopped. Worst case per key: a dense
 * HyperLogLog, 16 KiB; the rest are a few hundred bytes.
 */
import { HyperLogLog } from './hyperloglog.js';
import {
  DEFAULT_MAX_EMPTY,
  DEFAULT_PER_AT_LEAST,
  PENALTY_ORDER,
  type Batch,
  type BatchResult,
  type CountOp,
  type DistinctOp,
  type OpResult,
  type Penalty,
  type PenaltyAction,
  type PopulationStats,
  type RateOp,
  type StateStore,
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
  | { t: 'pop'; s: PopState };
interface Entry {
  expiresAt: number;
  value: Value;
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

/** Positive integer milliseconds, as redis-store sends them to PEXPIRE. */
export function ttlArg(ms: number): number {
  return Math.max(1, Math.ceil(ms));
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
  private lastNowMs = -Infinity;
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    this.maxKeys = Math.max(1, opts.maxKeys ?? 100_000);
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
    this.tick(nowMs);
    return batches.map((b) => this.runBatch(b, nowMs));
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

  async clearPenalty(subject: string): Promise<boolean> {
    this.assertOpen();
    const key = `vigil:{${subject}}:penalty`;
    const existed = this.get(key, this.lastNowMs) !== undefined;
    this.map.delete(key);
    return existed;
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
    const results: OpResult[] = [];
    for (const op of batch.ops) {
      if (op.kind === 'rate') results.push(this.rate(`${prefix}:rate:${op.name}`, op, nowMs));
      else if (op.kind === 'count') results.push(this.count(prefix, op, nowMs));
      else results.push(this.distinct(prefix, op, nowMs));
    }

    const penaltyKey = `${prefix}:penalty`;
    const held = this.get(penaltyKey, nowMs);
    let penalty = held?.t === 'penalty' && held.p.untilMs > nowMs ? held.p : null;
    const fired: number[] = [];
    let best: { action: PenaltyAction; detector: string; score: number; durationMs: number } | null = null;
    const rules = batch.rules ?? [];
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      let score = results[rule.op]?.score;
      if (score !== undefined && rule.per !== undefined) {
        // A ratio rule: the denominator must reach perAtLeast and never be 0 (lua/batch.lua).
        const d = results[rule.per]?.score;
        score = d !== undefined && d >= (rule.perAtLeast ?? DEFAULT_PER_AT_LEAST) && d !== 0 ? score / d : undefined;
      }
      if (score === undefined || !(score > rule.above)) continue;
      fired.push(i);
      if (rank(rule.action) > rank(best?.action)) {
        best = { action: rule.action, detector: rule.detector, score, durationMs: ttlArg(rule.durationMs) };
      }
    }
    if (best && (penalty === null || rank(best.action) > rank(penalty.action))) {
      penalty = {
        action: best.action,
        untilMs: nowMs + best.durationMs,
        detector: best.detector,
        score: best.score,
        sinceMs: nowMs,
      };
      this.set(penaltyKey, { t: 'penalty', p: penalty }, nowMs + best.durationMs);
    }
    return { results, penalty: penalty ? { ...penalty } : null, fired };
  }

  private rate(key: string, op: RateOp, nowMs: number): OpResult {
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
    if (s.c >= op.minCount) score = op.scoreMode === 'ratio' ? ratio : z;
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

  /** The live value of a key (refreshing its LRU position), or undefined when missing or expired. */
  private get(key: string, nowMs: number): Value | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    if (e.expiresAt <= nowMs) return undefined;
    this.map.set(key, e);
    return e.value;
  }

  private set(key: string, value: Value, expiresAt: number): void {
    this.map.delete(key);
    this.map.set(key, { value, expiresAt });
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
