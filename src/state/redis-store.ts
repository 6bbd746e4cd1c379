/**
 * RedisStore: the shared store on Redis (or a Redis Cluster) through ioredis. Its main call is `sync`,
 * the in-process tier's round trip (tiered-store.ts): one `vigil_sync` FCALL per subject, pipelined per
 * node, plus the penalty events (redis-sync.ts has the wire format). `run` executes batches directly
 * (one `vigil_batch` FCALL per batch): the reference the contract suite holds the memory store to.
 * The Lua lives in src/state/lua/ (headers list KEYS and ARGV) and forms one function library
 * (vigilLibrary): the helpers once, then vigil_batch, vigil_sync, vigil_population, vigil_lift and
 * vigil_confirm. Every key a function touches is passed in KEYS and hash-tagged by subject.
 * listPenalties and inspect (admin, off the request path) are plain commands: SCAN of every master,
 * then pipelined reads.
 *
 * The library is loaded (FUNCTION LOAD REPLACE, on every master) whenever the connection becomes
 * ready, and again when a call meets "function not found" (FUNCTION FLUSH, a restarted Redis).
 *
 * Connection policy for a sidecar (createRedisStore): no offline queue and no per-request retries, so
 * calls fail at once while Redis is away (the tier keeps the changes); reconnection forever with a
 * capped exponential backoff, so Redis going away and coming back needs no restart; an 'error'
 * listener so ioredis never throws unhandled. Every failure reaches the caller as
 * StoreUnavailableError.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ChainableCommander, type RedisOptions } from 'ioredis';
import { isCluster, pipelined, type Connection, type Queued } from './redis-pipeline.js';
import { StoreUnavailableError } from '../errors.js';
import { luaDir } from '../paths.js';
import { EVENTS_KEPT, FIRST_CURSOR, type SubjectDelta, type SyncResult } from './delta.js';
import { EVENTS_KEY, EVENTS_TTL_MS, eventFields, parseEvents, parsePenalty, parseSnapshot, syncArgs, ttlArg, type Arg } from './redis-sync.js';
import { DEFAULT_MAX_EMPTY, DEFAULT_PER_AT_LEAST, PENALTY_ORDER, isDetectorState } from './store.js';
import type {
  Batch,
  BatchResult,
  LiftedPenalty,
  ListedPenalty,
  OpResult,
  Penalty,
  PenaltyAction,
  PopulationStats,
  StateStore,
  SubjectState,
} from './store.js';

/** SCAN's COUNT hint for the admin scans (listPenalties, inspect). */
const SCAN_COUNT = 1000;

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
  /** tls.connect options for a rediss:// URL (CA, client certificate and key: src/tls-files.ts). */
  tls?: ConnectionOptions;
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

/**
 * A RedisStore on its own connection to `url` (redis://host:port/db), with sidecarRedisOptions; with
 * `cluster`, a Redis Cluster client seeded from the URL's host and port (its other nodes are found
 * from the cluster itself). With rediss://, `tls` goes to every connection (each cluster node's too).
 */
export function createRedisStore(url: string, opts: RedisStoreOptions & { cluster?: boolean } = {}): RedisStore {
  const options = sidecarRedisOptions(opts);
  if (!opts.cluster) return new RedisStore(new Redis(url, opts.tls ? { ...options, tls: opts.tls } : options));
  const u = new URL(url);
  // The node connections queue while they connect (ioredis asks a node for the slot map before it is
  // connected); the cluster itself refuses commands while it is not ready.
  // The cluster manages its nodes' connections (lazily, with its own retry): no lazyConnect or
  // retryStrategy of ours on them.
  const { lazyConnect: _lazy, retryStrategy, ...nodeOptions } = options;
  const redisOptions: RedisOptions = { ...nodeOptions };
  if (u.password) redisOptions.password = decodeURIComponent(u.password);
  if (u.username) redisOptions.username = decodeURIComponent(u.username);
  if (u.protocol === 'rediss:') redisOptions.tls = opts.tls ?? {};
  return new RedisStore(
    new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], {
      redisOptions,
      enableOfflineQueue: false,
      clusterRetryStrategy: retryStrategy!,
      slotsRefreshTimeout: 1000,
    }),
  );
}

function unavailable(err: unknown): StoreUnavailableError {
  if (err instanceof StoreUnavailableError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new StoreUnavailableError(/timed out/i.test(message) ? 'timeout' : 'error', `redis: ${message}`);
}

export class RedisStore implements StateStore {
  readonly kind = 'redis' as const;
  private lastError: Error | null = null;

  private readonly library: string;
  private loading: Promise<void> | null = null;

  /** Takes over `redis` (close() quits it); give it sidecarRedisOptions or your own. */
  constructor(readonly redis: Connection) {
    redis.on('error', (err: Error) => {
      this.lastError = err;
    });
    try {
      this.library = vigilLibrary();
    } catch (err) {
      // The client is already connecting: close it, or the process never exits after "cannot start".
      redis.disconnect();
      throw err;
    }
    // Load the library as soon as a connection is ready (again after every reconnect), so the first
    // calls do not each pay a "function not found" → FUNCTION LOAD exchange.
    const preload = (): void => {
      this.loadLibrary().catch((err: Error) => {
        this.lastError = err;
      });
    };
    redis.on('ready', preload);
    if (redis.status === 'ready') preload();
  }

  /** FUNCTION LOAD REPLACE of the vigil library (one load in flight at a time). */
  private loadLibrary(): Promise<void> {
    this.loading ??= (async () => {
      try {
        // On a cluster, every master holds a copy (a function runs on the node of its keys).
        const nodes = isCluster(this.redis) ? this.redis.nodes('master') : [this.redis];
        await Promise.all(nodes.map((n) => n.call('FUNCTION', 'LOAD', 'REPLACE', this.library)));
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  /**
   * Runs `send`; when Redis answers that a vigil function is missing (FUNCTION FLUSH, a restarted
   * Redis without persistence, a new replica), loads the library and runs it once more.
   */
  private async withLibrary<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if (!isFunctionMissing(err)) throw unavailable(err);
    }
    try {
      await this.loadLibrary();
      return await send();
    } catch (err) {
      throw unavailable(err);
    }
  }

  private fcall(name: string, keys: string[], args: Arg[]): Promise<unknown> {
    return this.withLibrary(() => this.redis.fcall(name, keys.length, ...keys, ...args));
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
    const replies = await this.withLibrary(async () => {
      const items = batches.map((b) => {
        const [keys, args] = batchArgs(b, nowMs);
        return { key: keys[0]!, add: (p: ChainableCommander) => void p.fcall('vigil_batch', keys.length, ...keys, ...args) };
      });
      return checkReplies(await pipelined(this.redis, items), batches.length);
    });
    return replies.map((reply, i) => parseBatch(batches[i]!, reply));
  }

  /**
   * Merges each subject's changes (delta.ts) with one `vigil_sync` call per subject, all pipelined
   * (one round trip), and returns the merged state of the keys each delta touched.
   */
  async sync(deltas: SubjectDelta[], nowMs: number, cursor: string): Promise<SyncResult> {
    const calls = deltas.map((d) => syncArgs(d, nowMs));
    const set = deltas.filter((d) => d.penalty !== null);
    const items: Queued[] = calls.map(([keys, args]) => ({
      key: keys[0]!,
      add: (p) => void p.callBuffer('FCALL', 'vigil_sync', keys.length, ...keys, ...args),
    }));
    for (const d of set) items.push({ key: EVENTS_KEY, add: (p) => void p.xadd(EVENTS_KEY, 'MAXLEN', '~', EVENTS_KEPT, '*', ...eventFields(d.subject, d.penalty)) });
    if (set.length > 0) items.push({ key: EVENTS_KEY, add: (p) => void p.pexpire(EVENTS_KEY, EVENTS_TTL_MS) });
    items.push({ key: EVENTS_KEY, add: (p) => void p.xrange(EVENTS_KEY, cursor === FIRST_CURSOR ? '-' : `(${cursor}`, '+', 'COUNT', EVENTS_KEPT) });
    let replies = await pipelined(this.redis, items);
    if (replies.some(([err]) => isFunctionMissing(err))) {
      // A node without the library (restarted, flushed): load it everywhere and send only those again.
      await this.loadLibrary().catch((err: unknown) => {
        throw unavailable(err);
      });
      const again = replies.map(([err], i) => (isFunctionMissing(err) ? i : -1)).filter((i) => i >= 0);
      const redo = await pipelined(this.redis, again.map((i) => items[i]!));
      again.forEach((i, j) => (replies[i] = redo[j]!));
    }
    if (replies.some(([err]) => err && /^(MOVED|ASK) /.test(err.message)) && isCluster(this.redis)) this.redis.refreshSlotsCache();
    const failed = replies.slice(0, deltas.length).filter(([err]) => err !== null);
    if (deltas.length > 0 && failed.length === deltas.length) {
      const first = unavailable(failed[0]![0]);
      // Redis refused them without running them: the tier may send them again.
      if (failed.every(([err]) => notApplied(err))) first.notApplied = true;
      throw first;
    }
    // A subject whose node failed gets no snapshot: the tier keeps its changes for the next sync (a
    // node that refused or could not be reached ran nothing; see notApplied for the rest).
    const snapshots = deltas.map((d, i) => {
      const [err, reply] = replies[i]!;
      return err ? null : parseSnapshot(d, reply, nowMs);
    });
    const [eventsErr, eventsReply] = replies[replies.length - 1]!;
    const { events, last } = eventsErr ? { events: [], last: null } : parseEvents(eventsReply);
    return { snapshots, events, cursor: last ?? cursor };
  }

  async mergePopulation(name: string, samples: number[], alpha: number, ttlMs: number, _nowMs: number): Promise<PopulationStats> {
    const reply = await this.fcall('vigil_population', [`vigil:{pop}:${name}`], [alpha, ttlArg(ttlMs), ...samples]);
    const [m, v, w] = strings(reply, 3);
    return { mean: Number(m), variance: Number(v), weight: Number(w) };
  }

  /**
   * Lifts, resets the lifted detector's state of the subject (SCAN of its keys, then one DEL: they
   * share a slot), and records the lift as a penalty event so every replica's tier does the same.
   */
  async liftPenalty(subject: string, nowMs: number): Promise<LiftedPenalty | null> {
    const reply = await this.fcall('vigil_lift', [keyOf(subject, 'penalty'), keyOf(subject, 'strikes')], [nowMs]);
    const p = parsePenalty(strings(reply, 6), 0);
    try {
      const reset: string[] = [];
      if (p) {
        const prefix = `vigil:{${subject}}:`;
        for (const key of await this.scan(`vigil:{${escapeGlob(subject)}}:*`)) {
          if (key.startsWith(prefix) && isDetectorState(key.slice(prefix.length), p.detector)) reset.push(key.slice(prefix.length));
        }
        if (reset.length > 0) await this.redis.del(...reset.map((name) => prefix + name));
      }
      const fields = eventFields(subject, null);
      if (p) fields.push('d', p.detector);
      await this.redis.pipeline().xadd(EVENTS_KEY, 'MAXLEN', '~', EVENTS_KEPT, '*', ...fields).pexpire(EVENTS_KEY, EVENTS_TTL_MS).exec();
      return p ? { ...p, reset: reset.sort() } : null;
    } catch (err) {
      throw unavailable(err);
    }
  }

  async confirmStepUp(subject: string, creditMs: number, nowMs: number): Promise<boolean> {
    const reply = await this.fcall('vigil_confirm', [keyOf(subject, 'penalty'), keyOf(subject, 'credit')], [nowMs, ttlArg(creditMs)]);
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
      const replies = await pipelined(
        this.redis,
        keys.map((key) => ({ key, add: (p) => void p.hmget(key, ...PENALTY_FIELDS) })),
      );
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

  /** Every key matching the glob, over a full SCAN of every master (deduplicated: SCAN may return a key twice). */
  private async scan(match: string): Promise<string[]> {
    const keys = new Set<string>();
    const nodes = isCluster(this.redis) ? this.redis.nodes('master') : [this.redis];
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, batch] = await node.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT);
        cursor = next;
        for (const k of batch) keys.add(k);
      } while (cursor !== '0');
    }
    return [...keys];
  }

  async ping(): Promise<void> {
    try {
      await this.redis.ping();
    } catch (err) {
      throw unavailable(err);
    }
  }

  /**
   * Drops the connection and opens a new one (a peer that stopped answering): when it is `ready` (a
   * command went unanswered) or `connect` (connected, but the handshake — AUTH, the ready check — is
   * unanswered). In other states ioredis is already connecting (bounded by connectTimeout), retrying
   * or closed, and is left alone.
   */
  reconnect(): void {
    if (this.redis.status === 'ready' || this.redis.status === 'connect') this.redis.disconnect(true);
  }

  /** QUIT, but never waits more than closeTimeoutMs for it (a frozen Redis must not hold up shutdown). */
  async close(closeTimeoutMs = 1000): Promise<void> {
    if (this.redis.status === 'end') return;
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, closeTimeoutMs);
    });
    try {
      await Promise.race([this.redis.quit().then(() => undefined), gaveUp]);
    } catch {
      // Disconnected below either way.
    } finally {
      clearTimeout(timer);
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
function batchArgs(b: Batch, nowMs: number): [string[], Arg[]] {
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
  const sp = e?.suspicion;
  if (sp) argv.push(sp.sensitivity, sp.halfLifeMs, sp.keepMs);
  else argv.push(1, 0, 0);
  return [keys, argv];
}

/** The replies of a pipeline of `n` calls; the first error fails the whole call. */
function checkReplies(replies: [Error | null, unknown][] | null, n: number): unknown[] {
  if (!replies || replies.length !== n) throw new Error('pipeline returned no replies');
  return replies.map(([err, reply]) => {
    if (err) throw err;
    return reply;
  });
}

/**
 * Errors after which Redis certainly ran nothing: a cluster redirect or a cluster that is down, a
 * connection that was never there, or a refusal Redis gives before running a command — out of memory
 * (OOM: a function without `allow-oom` is refused whole), a read-only replica, a dataset still loading,
 * a busy script, a master that is down, a permission denied. (A reply lost on a dropped connection is
 * not among them.)
 */
function notApplied(err: Error | null): boolean {
  return (
    err !== null &&
    /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN|OOM|READONLY|LOADING|BUSY|MASTERDOWN|NOPERM|NOAUTH) |Stream isn't writeable|ECONNREFUSED|not connected|None of startup nodes is available/.test(err.message)
  );
}

/** Redis's answer to FCALL of a function it does not have (FUNCTION FLUSH, a restart). */
function isFunctionMissing(err: unknown): boolean {
  return err instanceof Error && /function not found/i.test(err.message);
}

/**
 * The `vigil` function library (Redis 7 FUNCTION LOAD): the shared helpers once, then one function per
 * operation, each the body of its documented Lua file (KEYS and ARGV as the file's header lists them).
 * Loaded once per connection instead of redefining every helper on every call as EVAL scripts do.
 */
export function vigilLibrary(): string {
  const helpers = loadLua('prelude.lua', 'rate.lua', 'count.lua', 'distinct.lua', 'penalty.lua', 'escalation.lua', 'credit.lua');
  const fn = (name: string, file: string): string =>
    `redis.register_function('${name}', function(KEYS, ARGV)\n${loadLua(file)}\nend)\n`;
  return [
    '#!lua name=vigil',
    helpers,
    fn('vigil_batch', 'batch.lua'),
    fn('vigil_sync', 'sync.lua'),
    fn('vigil_population', 'population.lua'),
    fn('vigil_lift', 'lift.lua'),
    fn('vigil_confirm', 'confirm.lua'),
  ].join('\n');
}

function strings(reply: unknown, min: number): string[] {
  if (!Array.isArray(reply) || reply.length < min || !reply.every((x) => typeof x === 'string')) {
    throw new StoreUnavailableError('error', `redis: unexpected script reply ${JSON.stringify(reply)}`);
  }
  return reply as string[];
}

function parseBatch(b: Batch, reply: unknown): BatchResult {
  const r = strings(reply, 10);
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
  const suspicion = next();
  if (at !== r.length) throw new StoreUnavailableError('error', `redis: script reply has ${r.length} fields, expected ${at}`);
  return { results, penalty, fired, creditUntilMs, cleared, suspicion };
}
