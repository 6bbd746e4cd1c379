import { randomBytes } from 'node:crypto';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { createDecisionHandler } from './extproc/decision-handler.js';
import { ExtProcServer } from './extproc/server.js';
import { startAdmin } from './obs/admin.js';
import type { AdminServer } from './obs/admin.js';
import type { DecisionObserver } from './obs/decision-report.js';
import type { Logger } from './obs/logger.js';
import { createLogger } from './obs/logger.js';
import { createMetrics, showLivePolicy } from './obs/metrics.js';
import type { Metrics } from './obs/metrics.js';
import { watchLoopStalls, type LoopStallWatch } from './obs/loop-stalls.js';
import { ThrottledLog } from './obs/throttled-log.js';
import { StoreErrorLog, storeErrorName } from './obs/store-error-log.js';
import { ListenError } from './listen-error.js';
import { loadPolicyFile } from './policy/load.js';
import { policyFileFor } from './policy/locate.js';
import type { Policy } from './policy/policy.js';
import { PolicyWatcher, initialReloadStatus } from './policy/watch.js';
import type { CheckResult } from './policy/watch.js';
import { createPseudonymizer } from './request/keyed-hash.js';
import type { Settings } from './settings.js';
import { GuardedStore } from './state/guarded-store.js';
import { ManualRulesLive } from './decision/manual-live.js';
import { memoryManualRulesOf } from './state/manual-rules.js';
import { RedisManualRules } from './state/redis-manual-rules.js';
import { MemoryStore } from './state/memory-store.js';
import { RedisStore, createRedisStore } from './state/redis-store.js';
import type { SharedStore, StateStore } from './state/store.js';
import { TieredStore, type SyncReport } from './state/tiered-store.js';
import { readGrpcTls, redisTlsOptions } from './tls-files.js';

export interface StartOptions {
  settings: Settings;
  clock?: Clock;
  logger?: Logger;
  registry?: Registry;
  /** Use this store instead of the one the settings name (replay, tests); a Redis one gets the in-process tier. */
  store?: SharedStore;
  /** Use this policy instead of reading settings.policyPath. */
  policy?: Policy;
  /** Sees every final decision (replay). */
  onDecision?: DecisionObserver;
}

export interface Vigil {
  grpcPort: number;
  adminPort: number;
  metrics: Metrics;
  /** The request path's store: the in-process tier over Redis, or the embedded store. */
  store: StateStore;
  /** The store behind it (the embedded store itself, or Redis), guarded. */
  shared: GuardedStore;
  /** The in-process tier, with Redis. */
  tier: TieredStore | null;
  policy: () => Policy;
  /** Checks the policy file now (SIGHUP) and swaps it if it changed; a policy given in StartOptions never changes. */
  reloadPolicy(): CheckResult;
  logger: Logger;
  /** Resolves once off-path work (response phases) started so far has finished, or after timeoutMs. */
  settled(timeoutMs: number): Promise<void>;
  /** Graceful shutdown: drain streams, close servers and the store. Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * The composition root (house style, habit 1): settings → logger/metrics → store (+breaker) → policy
 * → servers. Nothing else picks implementations.
 */
export async function startVigil(opts: StartOptions): Promise<Vigil> {
  const { settings } = opts;
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? createLogger(settings.logLevel);
  const registry = opts.registry ?? new Registry();
  // The registry's type fixes its content type at construction; one given by a caller is switched here.
  if (settings.metricsExemplars) (registry as unknown as Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>).setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  if (!opts.registry) collectDefaultMetrics({ register: registry, prefix: 'vigil_process_' });
  const metrics = createMetrics(registry, { exemplars: settings.metricsExemplars });
  const problems = new ThrottledLog(logger);

  // The live policy: one reference, replaced whole by the watcher (started below when it came from a path).
  const policyFile = opts.policy ? null : policyFileFor(settings.policyPath);
  let current: Policy = opts.policy ?? loadPolicyFile(policyFile!);
  const loadedAtMs = clock.nowMs();
  showLivePolicy(metrics, current.checksum, loadedAtMs);
  let watcher: PolicyWatcher | undefined;

  let secret = settings.keySecret;
  if (!secret) {
    secret = randomBytes(32);
    logger.warn('VIGIL_KEY_SECRET is not set: using a random secret, so identity pseudonyms change at every restart (fine for the embedded store, required with Redis)');
  }
  const pseudonymize = createPseudonymizer(secret);

  const inner: SharedStore = opts.store ?? (settings.redisUrl ? createRedisStore(settings.redisUrl, { cluster: settings.redisCluster, ...(settings.redisTls ? { tls: redisTlsOptions(settings.redisTls) } : {}) }) : new MemoryStore());
  if (inner instanceof RedisStore) {
    // Serve either way (decisions come from the in-process tier until Redis answers), but say so once.
    // Named by setting and host:port (never the URL itself: it may carry a password).
    const redisAt = settings.redisUrl ? new URL(settings.redisUrl).host : undefined;
    await inner
      .ready(2000)
      .catch((err: Error) => logger.warn({ setting: 'REDIS_URL', redis: redisAt, err: err.message }, `Redis at REDIS_URL (${redisAt}) is not reachable yet: deciding from this replica alone until it is`));
  }
  const shared = new GuardedStore(
    inner,
    { timeoutMs: settings.storeTimeoutMs, errorThresholdPercent: settings.breakerErrorPercent, resetTimeoutMs: settings.breakerResetMs },
    metrics,
    logger,
  );
  // With a shared store, the request path reads and writes the in-process tier only (tiered-store.ts).
  const tier = inner.kind === 'redis' ? createTier(shared, inner, settings, clock, metrics, logger) : null;
  const store: StateStore = tier ?? shared;
  // Operators' manual rules: in Redis beside the shared state, else in process; every replica keeps a table.
  const manual = new ManualRulesLive(
    inner instanceof RedisStore ? new RedisManualRules(inner.redis) : memoryManualRulesOf(inner),
    clock,
    registry,
    (err) => problems.warn('manual-rules', { err: String(err) }, 'manual rules not refreshed: keeping the last ones read'),
  );

  const handler = createDecisionHandler({
    policy: () => current,
    store,
    clock,
    metrics,
    logger,
    problems,
    shadowMode: settings.shadowMode,
    pseudonymize,
    headerLimits: { maxValueBytes: 16_384, maxHeaders: 256 },
    maxBodyBytes: settings.maxBodyBytes,
    ...(tier ? { degraded: () => tier.degraded } : {}),
    logRawPaths: settings.logRawPaths,
    logSignals: settings.logSignals,
    manual,
    ...(opts.onDecision ? { onDecision: opts.onDecision } : {}),
  });
  const grpcServer = new ExtProcServer(
    {
      host: settings.grpcAddress.host,
      port: settings.grpcAddress.port,
      maxStreams: settings.maxStreams,
      maxBodyBytes: settings.maxBodyBytes,
      maxMessageBytes: settings.maxMessageBytes,
      connectionPingMs: settings.connectionPingMs,
      ...(settings.grpcTls ? { tls: readGrpcTls(settings.grpcTls) } : {}),
    },
    handler,
    metrics,
    logger,
  );

  let admin: AdminServer | undefined;
  let health: NodeJS.Timeout | undefined;
  let syncTimer: NodeJS.Timeout | undefined;
  let stalls: LoopStallWatch | undefined;
  try {
    const grpcPort = await grpcServer.start().catch((err: unknown) => {
      throw new ListenError('VIGIL_GRPC_ADDRESS', settings.grpcAddress, err);
    });
    admin = await startAdmin(settings.adminAddress.host, settings.adminAddress.port, {
      registry,
      logger,
      adminToken: settings.adminToken,
      store,
      clock,
      pseudonymize,
      manual,
      readiness: () => ({
        serving: grpcServer.serving,
        store: {
          kind: store.kind,
          up: shared.healthy && tier?.degraded == null,
          breaker: shared.breakerState,
          ...(tier ? { sync: { degraded: tier.degraded, lagMs: tier.lagMs(clock.nowMs()), dirtySubjects: tier.dirty, subjects: tier.subjects } } : {}),
        },
        policy: { checksum: current.checksum, source: current.source },
        shadowMode: settings.shadowMode,
      }),
      policy: () => ({
        checksum: current.checksum,
        source: current.source,
        ...(watcher?.status() ?? initialReloadStatus(loadedAtMs)),
        detectors: current.detectors.map((d) => `${d.config.name} (${d.config.type}, ${d.config.action}${d.config.shadow ? ', shadow' : ''})`),
        text: current.text,
      }),
    }).catch((err: unknown) => {
      throw new ListenError('VIGIL_ADMIN_ADDRESS', settings.adminAddress, err);
    });
    stalls = watchLoopStalls({ stalled: (s) => metrics.loopStallSeconds.observe(s) }, problems);
    manual.start();
    const ping = () => shared.ping().catch(() => undefined);
    void ping();
    health = setInterval(ping, 2000);
    health.unref();
    if (tier) {
      // The sync also runs from the request path; this keeps it going (and the gauges fresh) when idle.
      syncTimer = setInterval(() => {
        const nowMs = clock.nowMs();
        tier.tick(nowMs);
        metrics.syncLag.set(tier.lagMs(nowMs) / 1000);
        metrics.dirtySubjects.set(tier.dirty);
        metrics.tierSubjects.set(tier.subjects);
      }, settings.syncMs);
      syncTimer.unref();
    }
    if (policyFile) {
      watcher = new PolicyWatcher({
        file: policyFile,
        initial: current,
        loadedAtMs,
        onSwap: (next) => (current = next),
        clock,
        metrics,
        logger,
        pollMs: settings.policyPollMs,
      }).start();
    }
    logger.info(
      {
        grpc: `${settings.grpcAddress.host}:${grpcPort}`,
        grpcTls: settings.grpcTls ? 'mtls' : 'plaintext',
        admin: `${settings.adminAddress.host}:${admin.port}`,
        store: store.kind,
        shadowMode: settings.shadowMode,
        policy: { source: current.source, checksum: current.checksum, detectors: current.detectors.length },
      },
      'vigil serving',
    );

    let stopping: Promise<void> | undefined;
    return {
      grpcPort,
      adminPort: admin.port,
      metrics,
      store,
      shared,
      tier,
      policy: () => current,
      reloadPolicy: () => watcher?.check(true) ?? 'unchanged',
      settled: (timeoutMs) => handler.settled(timeoutMs),
      logger,
      shutdown() {
        stopping ??= (async () => {
          watcher?.close();
          logger.info({ streams: grpcServer.activeStreams, graceMs: settings.drainTimeoutMs }, 'shutting down: draining ext_proc streams');
          clearInterval(health);
          manual.stop();
          await grpcServer.drain(settings.drainTimeoutMs);
          clearInterval(syncTimer);
          stalls?.stop();
          await handler.settled(Math.max(100, settings.drainTimeoutMs));
          await admin!.close();
          await store.close().catch(() => undefined);
          logger.info('vigil stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    watcher?.close();
    clearInterval(health);
    manual.stop();
    clearInterval(syncTimer);
    stalls?.stop();
    await grpcServer.drain(0).catch(() => undefined);
    await admin?.close();
    await store.close().catch(() => undefined);
    throw err;
  }
}

/** The in-process tier over Redis, with its metrics and one log line per change of health. */
function createTier(shared: GuardedStore, redis: SharedStore, settings: Settings, clock: Clock, metrics: Metrics, logger: Logger): TieredStore {
  let failing = false;
  // Every Redis error by name, from the first (store-error-log.ts); the connection's own errors
  // (NOAUTH, WRONGPASS, ECONNREFUSED, …) are what a 'not-ready' sync is waiting on.
  const errors = new StoreErrorLog(logger);
  let connectionError: Error | null = null;
  if (redis instanceof RedisStore) {
    redis.onStatus((_status, lastError) => {
      if (lastError === null || lastError === connectionError) return;
      connectionError = lastError;
      errors.record('connection', lastError);
    });
  }
  const onSync = (r: SyncReport): void => {
    metrics.syncs.inc({ result: r.ok ? 'ok' : r.failure! });
    if (r.ok) metrics.syncSubjects.inc(r.subjects);
    if (r.dropped > 0) metrics.syncDropped.inc(r.dropped);
    if (!r.ok && r.failure !== 'not-ready') metrics.storeErrors.inc({ reason: r.failure === 'timeout' ? 'timeout' : 'error' });
    const cause = r.failure === 'not-ready' ? (connectionError ?? undefined) : r.error;
    if (!r.ok && !failing) {
      failing = true;
      const err = cause instanceof Error ? cause.message : r.failure;
      const error = cause === undefined ? r.failure : storeErrorName(cause);
      logger.warn({ store: 'redis', failure: r.failure, error, err, dropped: r.dropped }, 'store sync failing: deciding from this replica\'s own view');
      if (r.failure !== 'not-ready' && cause !== undefined) errors.record('sync', cause, true);
    } else if (!r.ok && r.failure !== 'not-ready' && r.error !== undefined) {
      errors.record('sync', r.error);
    } else if (r.ok && failing) {
      failing = false;
      logger.info({ store: 'redis' }, 'store sync recovered: decisions share state again');
    }
    const nowMs = clock.nowMs();
    metrics.syncLag.set(tier.lagMs(nowMs) / 1000);
    metrics.dirtySubjects.set(tier.dirty);
    metrics.tierSubjects.set(tier.subjects);
  };
  const tier: TieredStore = new TieredStore(shared, {
    syncMs: settings.syncMs,
    maxSubjects: settings.tierMaxSubjects,
    wallMs: () => performance.now(),
    onSync,
    ...(redis instanceof RedisStore
      ? { canSend: () => redis.status === 'ready', resetConnection: () => redis.reconnect() }
      : {}),
  });
  return tier;
}
