/**
 * RedisStore: the StateStore on Redis through ioredis, one EVALSHA per batch, all batches of a `run`
 * in one pipeline (one round trip). The Lua lives in src/state/lua/ (headers list KEYS and ARGV):
 * the batch script is prelude + rate + count + distinct + penalty + escalation + credit + batch, the
 * population script is prelude + population, liftPenalty's prelude + penalty + lift and
 * confirmStepUp's prelude + penalty + credit + confirm. Every key a script touches is passed in KEYS
 * and hash-tagged by subject. listPenalties and inspect (admin, off the request path) are plain
 * commands: SCAN, then pipelined reads.
 *
 * Scripts are registered with defineCommand and loaded with SCRIPT LOAD whenever the connection
 * becomes ready; ioredis sends EVALSHA, and on NOSCRIPT (SCRIPT FLUSH, a restarted Redis) it resends
 * the script with EVAL, so the store survives both without help.
 *
 * Connection policy for a sidecar (createRedisStore): no offline queue and no per-request retries, so
 * calls fail at once while Redis is away (the caller fails open); reconnection forever with a capped
 * exponential backoff, so Redis going away and coming back needs no restart; an 'error' listener so
 * ioredis never throws unhandled. Every failure reaches the caller as StoreUnavailableError.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import { StoreUnavailableError } from '../errors.js';
import { luaDir } from '../paths.js';
import { DEFAULT_MAX_EMPTY, DEFAULT_PER_AT_LEAST, PENALTY_ORDER } from './store.js';
import type {
  Batch,
  BatchResult,
  ListedPenalty,
  OpResult,
  Penalty,
  PenaltyAction,
  PopulationStats,
  StateStore,
  SubjectState,
} from './store.js';

type Arg = string | number;
type ScriptCall = (...args: Arg[]) => unknown;
interface VigilCommands {
  vigilBatch: ScriptCall;
  vigilPopulation: ScriptCall;
  vigilLift: ScriptCall;
  vigilConfirm: ScriptCall;
}

/** SCAN's COUNT hint for the admin scans (listPenalties, inspect). */
const SCAN_COUNT = 1000;

/** Defaults of the optional op and rule fields (store.ts); memory-store.ts uses the same. */

/** Durations go to PEXPIRE as positive whole milliseconds, rounded up (memory-store.ts does the same). */
function ttlArg(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}

/** Reads and concatenates Lua files from src/state/lua, in order. */
export function loadLua(...files: string[]): string {
  return files.map((f) => readFileSync(join(luaDir, f), 'utf8')).join('\n');
}

export interface RedisStoreOptions {
  /** TCP connect timeout. Default 1000 ms. */
  connectTimeoutMs?: number;
  /** Rejects a command with no reply after this long (ioredis commandTimeout). Default: none. */
  commandTimeoutMs?: number;
  /** Cap of the reconnect backoff. Default 2000 ms. */
  maxReconnectDelayMs?: number;
}

/** The ioredis options a sidecar wants (see the file header). */
export function sidecarRedisOptions(opts: RedisStoreOptions = {}): RedisOptions {
  const cap = opts.maxReconnectDelayMs ?? 2000;
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: opts.connectTimeoutMs ?? 1000,
    ...(opts.commandTimeoutMs !== undefined ? { commandTimeout: opts.commandTimeoutMs } : {}),
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 10), cap),
    lazyConnect: false,
  };
}

/** A RedisStore on its own connection to `url` (redis://host:port/db), with sidecarRedisOptions. */
export function createRedisStore(url: string, opts: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(new Redis(url, sidecarRedisOptions(opts)));
}

function unavailable(err: unknown): StoreUnavailableError {
  if (err instanceof StoreUnavailableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StoreUnavailableError(/timed out/i.test(message) ? 'timeout' : 'error', `redis: ${message}`);
}

export class RedisStore implements StateStore {
  readonly kind = 'redis' as const;
  private lastError: Error | null = null;

  /** Takes over `redis` (close() quits it); give it sidecarRedisOptions or your own. */
  constructor(readonly redis: Redis) {
    redis.on('error', (err: Error) => {
      this.lastError = err;
    });
    let batch: string, population: string, lift: string, confirm: string;
    try {
      batch = loadLua('prelude.lua', 'rate.lua', 'count.lua', 'distinct.lua', 'penalty.lua', 'escalation.lua', 'credit.lua', 'batch.lua');
      population = loadLua('prelude.lua', 'population.lua');
      lift = loadLua('prelude.lua', 'penalty.lua', 'lift.lua');
      confirm = loadLua('prelude.lua', 'penalty.lua', 'credit.lua', 'confirm.lua');
    } catch (err) {
      // The client is already connecting: close it, or the process never exits after "cannot start".
      redis.disconnect();
      throw err;
    }
    redis.defineCommand('vigilBatch', { lua: batch });
    redis.defineCommand('vigilPopulation', { lua: population, numberOfKeys: 1 });
    redis.defineCommand('vigilLift', { lua: lift, numberOfKeys: 2 });
    redis.defineCommand('vigilConfirm', { lua: confirm, numberOfKeys: 2 });
    // Load the scripts as soon as a connection is ready (again after every reconnect), so the first
    // requests do not each pay an EVALSHA → NOSCRIPT → EVAL exchange inside their deadline.
    const preload = (): void => {
      for (const lua of [batch, population, lift, confirm]) {
        this.redis.script('LOAD', lua).catch((err: Error) => {
          this.lastError = err;
        });
      }
    };
    redis.on('ready', preload);
    if (redis.status === 'ready') preload();
  }

  /** The connection status (ioredis): 'ready' when commands can be sent. */
  get status(): string {
    return this.redis.status;
  }

  /** Calls cb on every connection status change ('ready', 'reconnecting', 'end', …). Returns an unsubscribe. */
  onStatus(cb: (status: string, lastError: Error | null) => void): () => void {
    const events = ['connect', 'ready', 'close', 'reconnecting', 'end'] as const;
    const handler = (): void => cb(this.redis.status, this.lastError);
    for (const e of events) this.redis.on(e, handler);
    return () => {
      for (const e of events) this.redis.off(e, handler);
    };
  }

  /** Resolves once the connection is ready, or rejects with StoreUnavailableError after timeoutMs. */
  ready(timeoutMs = 5000): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        const why = this.lastError ? `: ${this.lastError.message}` : '';
        reject(new StoreUnavailableError('timeout', `redis: not ready after ${timeoutMs} ms${why}`));
      }, timeoutMs);
      this.redis.once('ready', onReady);
    });
  }

  async run(batches: Batch[], nowMs: number): Promise<BatchResult[]> {
    if (batches.length === 0) return [];
    if (batches.length === 1) {
      // The common case: one subject, one EVALSHA, no pipeline object (cheaper on the Node side).
      const b = batches[0]!;
      let reply: unknown;
      try {
        reply = await (this.redis as unknown as VigilCommands).vigilBatch(...batchArgs(b, nowMs));
      } catch (err) {
        throw unavailable(err);
      }
      return [parseBatch(b, reply)];
    }
    const pipeline = this.redis.pipeline();
    const commands = pipeline as unknown as VigilCommands;
    for (const b of batches) commands.vigilBatch(...batchArgs(b, nowMs));
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (err) {
      throw unavailable(err);
    }
    if (!replies || replies.length !== batches.length) throw unavailable(new Error('pipeline returned no replies'));
    return replies.map(([err, reply], i) => {
      if (err) throw unavailable(err);
      return parseBatch(batches[i]!, reply);
    });
  }

  async mergePopulation(name: string, samples: number[], alpha: number, ttlMs: number, _nowMs: number): Promise<PopulationStats> {
    const commands = this.redis as unknown as VigilCommands;
    let reply: unknown;
    try {
      reply = await commands.vigilPopulation(`vigil:{pop}:${name}`, alpha, ttlArg(ttlMs), ...samples);
    } catch (err) {
      throw unavailable(err);
    }
    const [m, v, w] = strings(reply, 3);
    return { mean: Number(m), variance: Number(v), weight: Number(w) };
  }

  async liftPenalty(subject: string, nowMs: number): Promise<Penalty | null> {
    let reply: unknown;
    try {
      reply = await (this.redis as unknown as VigilCommands).vigilLift(keyOf(subject, 'penalty'), keyOf(subject, 'strikes'), nowMs);
    } catch (err) {
      throw unavailable(err);
    }
    return parsePenalty(strings(reply, 6), 0);
  }

  async confirmStepUp(subject: string, creditMs: number, nowMs: number): Promise<boolean> {
    let reply: unknown;
    try {
      reply = await (this.redis as unknown as VigilCommands).vigilConfirm(
        keyOf(subject, 'penalty'),
        keyOf(subject, 'credit'),
        nowMs,
        ttlArg(creditMs),
      );
    } catch (err) {
      throw unavailable(err);
    }
    return reply === 1;
  }

  /**
   * SCAN MATCH vigil:{*}:penalty over the whole keyspace of the one endpoint this store talks to (on
   * Redis Cluster that would be one node's keys only), then one pipelined HMGET per key. A key that is
   * not a penalty hash (wrong type, no valid action) is skipped, as is a penalty expired on nowMs.
   */
  async listPenalties(nowMs: number, limit: number): Promise<ListedPenalty[]> {
    if (!(limit > 0)) return [];
    try {
      const keys = await this.scan('vigil:{*}:penalty');
      const pipeline = this.redis.pipeline();
      for (const key of keys) pipeline.hmget(key, ...PENALTY_FIELDS);
      const replies = keys.length > 0 ? ((await pipeline.exec()) ?? []) : [];
      const out: ListedPenalty[] = [];
      replies.forEach(([err, raw], i) => {
        if (err || !Array.isArray(raw)) return;
        const p = penaltyOf(raw as (string | null)[], nowMs);
        const key = keys[i]!;
        if (p) out.push({ subject: key.slice('vigil:{'.length, key.length - '}:penalty'.length), ...p });
      });
      return sortListed(out).slice(0, Math.floor(limit));
    } catch (err) {
      throw unavailable(err);
    }
  }

  /**
   * Pipelined reads of the penalty, strikes and credit, then SCAN MATCH vigil:{<subject>}:* (glob
   * characters of the subject escaped) and, per other key, TYPE and PTTL, then HGETALL (hashes) or GET
   * and PFCOUNT (strings: a HyperLogLog answers PFCOUNT, a counter does not).
   */
  async inspect(subject: string, nowMs: number): Promise<SubjectState> {
    try {
      const prefix = `vigil:{${subject}}:`;
      const head = await this.redis
        .pipeline()
        .hmget(`${prefix}penalty`, ...PENALTY_FIELDS)
        .hmget(`${prefix}strikes`, 'n', 'last', 'w')
        .get(`${prefix}credit`)
        .exec();
      const [penaltyRaw, strikesRaw, creditRaw] = (head ?? []).map(([err, v]) => (err ? null : v));
      const penalty = Array.isArray(penaltyRaw) ? penaltyOf(penaltyRaw as (string | null)[], nowMs) : null;
      const [n, last, w] = Array.isArray(strikesRaw) ? (strikesRaw as (string | null)[]) : [];
      const strikes = strikesOf(n == null ? NaN : Number(n), last == null ? NaN : Number(last), w == null ? NaN : Number(w), nowMs);
      const credit = typeof creditRaw === 'string' ? Number(creditRaw) : NaN;
      const creditUntilMs = nowMs < credit ? credit : 0;

      const own = new Set(['penalty', 'strikes', 'credit'].map((name) => prefix + name));
      const keys = (await this.scan(`vigil:{${escapeGlob(subject)}}:*`)).filter((k) => k.startsWith(prefix) && !own.has(k));
      const state: SubjectState['state'] = [];
      if (keys.length > 0) {
        const meta = this.redis.pipeline();
        for (const key of keys) meta.type(key).pttl(key);
        const types = (await meta.exec()) ?? [];
        const read = this.redis.pipeline();
        const kinds = keys.map((key, i) => {
          const type = types[2 * i]?.[1];
          if (type === 'hash') read.hgetall(key);
          else if (type === 'string') read.get(key).pfcount(key);
          return type;
        });
        const values = (await read.exec()) ?? [];
        let at = 0;
        keys.forEach((key, i) => {
          const ttlMs = Number(types[2 * i + 1]?.[1]);
          const kind = kinds[i];
          let value: Record<string, number> | null = null;
          if (kind === 'hash') {
            const [err, fields] = values[at++] ?? [];
            if (!err && fields && typeof fields === 'object') value = numericFields(fields as Record<string, string>);
          } else if (kind === 'string') {
            const [getErr, raw] = values[at++] ?? [];
            const [hllErr, estimate] = values[at++] ?? [];
            if (!hllErr && typeof estimate === 'number') value = { estimate };
            else if (!getErr && typeof raw === 'string') value = isNumeric(raw) ? { value: Number(raw) } : {};
          } else if (typeof kind === 'string' && kind !== 'none') {
            value = {};
          }
          // Gone between SCAN and the reads (expired or deleted): not held any more.
          if (value !== null && ttlMs !== -2) state.push({ key: key.slice(prefix.length), ttlMs, value });
        });
      }
      state.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      return { subject, penalty, strikes, creditUntilMs, state };
    } catch (err) {
      throw unavailable(err);
    }
  }

  /** Every key matching the glob, over a full SCAN (deduplicated: SCAN may return a key twice). */
  private async scan(match: string): Promise<string[]> {
    const keys = new Set<string>();
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
      cursor = next;
      for (const k of batch) keys.add(k);
    } while (cursor !== '0');
    return [...keys];
  }

  async ping(): Promise<void> {
    try {
      await this.redis.ping();
    } catch (err) {
      throw unavailable(err);
    }
  }

  async close(): Promise<void> {
    if (this.redis.status === 'end') return;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}

/** A subject's key: vigil:{<subject>}:<name>. */
function keyOf(subject: string, name: string): string {
  return `vigil:{${subject}}:${name}`;
}

/** The penalty hash's fields, in penalty.lua's order. */
const PENALTY_FIELDS = ['action', 'until', 'detector', 'score', 'since', 'level'] as const;

/** A penalty hash's fields (HMGET, PENALTY_FIELDS order) as a Penalty when active at nowMs (penalty.lua's penalty_read). */
function penaltyOf(raw: (string | null)[], nowMs: number): Penalty | null {
  const [action, until, detector, score, since, level] = raw;
  if (action == null || !PENALTY_ORDER.includes(action as PenaltyAction)) return null;
  const untilMs = Number(until ?? NaN);
  if (!(untilMs > nowMs)) return null;
  return {
    action: action as PenaltyAction,
    untilMs,
    detector: detector ?? '',
    score: Number(score ?? NaN),
    sinceMs: Number(since ?? NaN),
    level: level == null ? 0 : Number(level),
  };
}

/** The six penalty fields of a script reply from index `at` (penalty.lua's penalty_fields). */
function parsePenalty(r: string[], at: number): Penalty | null {
  if (r[at] === '') return null;
  return {
    action: r[at] as PenaltyAction,
    untilMs: Number(r[at + 1]),
    detector: r[at + 2]!,
    score: Number(r[at + 3]),
    sinceMs: Number(r[at + 4]),
    level: Number(r[at + 5]),
  };
}

/**
 * The strikes as inspect reports them: n decayed to nowMs with the windowMs stored beside it
 * (escalation.lua's strikes_level); null when there is no key or nothing is left.
 */
function strikesOf(n: number, last: number, windowMs: number, nowMs: number): SubjectState['strikes'] {
  if (!Number.isFinite(n) || !Number.isFinite(last)) return null;
  const decayed = windowMs > 0 ? Math.max(0, n - Math.floor(Math.max(0, nowMs - last) / windowMs)) : n;
  return decayed > 0 ? { n: decayed, lastMs: last } : null;
}

/** A Redis value that reads as a finite number ('' and 'inf' do not). */
function isNumeric(s: string): boolean {
  return s.trim() !== '' && Number.isFinite(Number(s));
}

/** A hash's numeric fields as numbers; the others are left out. */
function numericFields(fields: Record<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [f, v] of Object.entries(fields)) if (isNumeric(v)) out[f] = Number(v);
  return out;
}

/** The subject with SCAN's glob characters (* ? [ ] \) escaped. */
function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

/** Soonest expiry first, then by subject (code unit order); memory-store.ts sorts the same. */
function sortListed(list: ListedPenalty[]): ListedPenalty[] {
  return list.sort((a, b) => a.untilMs - b.untilMs || (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0));
}

/**
 * numkeys, KEYS and ARGV of one batch, as batch.lua's header lays them out. A sliding count and a
 * learning distinct pass two keys (window w, then w − 1); every other op passes one.
 */
function batchArgs(b: Batch, nowMs: number): Arg[] {
  const prefix = `vigil:{${b.subject}}`;
  const keys: string[] = [`${prefix}:penalty`, `${prefix}:strikes`, `${prefix}:credit`];
  const argv: Arg[] = [nowMs];
  const e = b.escalation;
  if (e) argv.push(1, e.windowMs, e.factor, e.maxAction, e.maxMs);
  else argv.push(0, 0, 1, '', 0);
  const u = b.stepUp;
  if (u) argv.push(1, u.relax, ttlArg(u.creditMs), u.clear ? 1 : 0, u.clear?.authTimeMs ?? 0, u.clear?.skewMs ?? 0);
  else argv.push(0, 1, 0, 0, 0, 0);
  argv.push(b.ops.length);
  for (const op of b.ops) {
    if (op.kind === 'rate') {
      keys.push(`${prefix}:rate:${op.name}`);
      argv.push('rate', op.bucketMs, op.alpha, op.by ?? 1, op.priorMean, op.priorVariance, op.priorWeight);
      argv.push(op.varianceFloor, op.minCount, op.clampZ, ttlArg(op.ttlMs));
      argv.push(op.scoreMode ?? 'z', op.maxEmpty ?? DEFAULT_MAX_EMPTY, op.skipLongGaps ? 1 : 0);
    } else {
      const w = Math.floor(nowMs / op.windowMs);
      if (op.kind === 'count') {
        keys.push(`${prefix}:count:${op.name}:${w}`);
        if (op.sliding) keys.push(`${prefix}:count:${op.name}:${w - 1}`);
        argv.push('count', op.by ?? 1, ttlArg(op.windowMs * 2), op.windowMs, op.sliding ? 1 : 0);
      } else {
        keys.push(`${prefix}:hll:${op.name}:${w}`);
        if (op.learn) keys.push(`${prefix}:hll:${op.name}:${w - 1}`);
        argv.push('distinct', op.member, ttlArg(op.windowMs * 2), op.learn ? 1 : 0);
      }
    }
  }
  const rules = b.rules ?? [];
  argv.push(rules.length);
  for (const r of rules) {
    argv.push(r.op, r.above, r.action, ttlArg(r.durationMs), r.detector, r.per ?? -1, r.perAtLeast ?? DEFAULT_PER_AT_LEAST);
  }
  return [keys.length, ...keys, ...argv];
}

function strings(reply: unknown, min: number): string[] {
  if (!Array.isArray(reply) || reply.length < min || !reply.every((x) => typeof x === 'string')) {
    throw new StoreUnavailableError('error', `redis: unexpected script reply ${JSON.stringify(reply)}`);
  }
  return reply as string[];
}

function parseBatch(b: Batch, reply: unknown): BatchResult {
  const r = strings(reply, 9);
  const penalty = parsePenalty(r, 0);
  const fired = r[6] === '' ? [] : r[6]!.split(',').map(Number);
  const creditUntilMs = Number(r[7]);
  const cleared = r[8] === '1';
  let at = 9;
  const next = (): number => Number(r[at++]);
  const results: OpResult[] = b.ops.map((op): OpResult => {
    if (op.kind === 'rate') {
      const current = next();
      const mean = next();
      const variance = next();
      const samples = next();
      const z = next();
      const ratio = next();
      const score = next();
      const closed = next();
      return { kind: 'rate', current, mean, variance, samples, z, ratio, score, closed };
    }
    if (op.kind === 'count') {
      const count = next();
      return { kind: 'count', count, score: count };
    }
    const estimate = next();
    const changed = next() === 1;
    const closed = next();
    return { kind: 'distinct', estimate, changed, closed, score: changed ? estimate : 0 };
  });
  if (at !== r.length) throw new StoreUnavailableError('error', `redis: script reply has ${r.length} fields, expected ${at}`);
  return { results, penalty, fired, creditUntilMs, cleared };
}
