/**
 * RedisStore: the StateStore on Redis through ioredis, one EVALSHA per batch, all batches of a `run`
 * in one pipeline (one round trip). The Lua lives in src/state/lua/ (headers list KEYS and ARGV):
 * the batch script is prelude + rate + count + distinct + penalty + batch, the population script is
 * prelude + population. Every key a script touches is passed in KEYS and hash-tagged by subject.
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
import { DEFAULT_MAX_EMPTY, DEFAULT_PER_AT_LEAST } from './store.js';
import type { Batch, BatchResult, OpResult, Penalty, PenaltyAction, PopulationStats, StateStore } from './store.js';

type Arg = string | number;
type ScriptCall = (...args: Arg[]) => unknown;
interface VigilCommands {
  vigilBatch: ScriptCall;
  vigilPopulation: ScriptCall;
}

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
    const batch = loadLua('prelude.lua', 'rate.lua', 'count.lua', 'distinct.lua', 'penalty.lua', 'batch.lua');
    const population = loadLua('prelude.lua', 'population.lua');
    redis.defineCommand('vigilBatch', { lua: batch });
    redis.defineCommand('vigilPopulation', { lua: population, numberOfKeys: 1 });
    // Load the scripts as soon as a connection is ready (again after every reconnect), so the first
    // requests do not each pay an EVALSHA → NOSCRIPT → EVAL exchange inside their deadline.
    const preload = (): void => {
      for (const lua of [batch, population]) {
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

  async clearPenalty(subject: string): Promise<boolean> {
    try {
      return (await this.redis.del(`vigil:{${subject}}:penalty`)) > 0;
    } catch (err) {
      throw unavailable(err);
    }
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

/**
 * numkeys, KEYS and ARGV of one batch, as batch.lua's header lays them out. A sliding count and a
 * learning distinct pass two keys (window w, then w − 1); every other op passes one.
 */
function batchArgs(b: Batch, nowMs: number): Arg[] {
  const prefix = `vigil:{${b.subject}}`;
  const keys: string[] = [`${prefix}:penalty`];
  const argv: Arg[] = [nowMs, b.ops.length];
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
  const r = strings(reply, 6);
  const penalty: Penalty | null =
    r[0] === ''
      ? null
      : {
          action: r[0] as PenaltyAction,
          untilMs: Number(r[1]),
          detector: r[2]!,
          score: Number(r[3]),
          sinceMs: Number(r[4]),
        };
  const fired = r[5] === '' ? [] : r[5]!.split(',').map(Number);
  let at = 6;
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
  return { results, penalty, fired };
}
