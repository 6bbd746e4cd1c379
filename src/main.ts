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
import { ThrottledLog } from './obs/throttled-log.js';
import { loadPolicyFile } from './policy/load.js';
import { policyFileFor } from './policy/locate.js';
import type { Policy } from './policy/policy.js';
import { PolicyWatcher, initialReloadStatus } from './policy/watch.js';
import type { CheckResult } from './policy/watch.js';
import { createPseudonymizer } from './request/keyed-hash.js';
import type { Settings } from './settings.js';
import { GuardedStore } from './state/guarded-store.js';
import { MemoryStore } from './state/memory-store.js';
import { RedisStore, createRedisStore } from './state/redis-store.js';
import type { StateStore } from './state/store.js';

export interface StartOptions {
  settings: Settings;
  clock?: Clock;
  logger?: Logger;
  registry?: Registry;
  /** Use this store instead of the one the settings name (replay, tests). */
  store?: StateStore;
  /** Use this policy instead of reading settings.policyPath. */
  policy?: Policy;
  /** Sees every final decision (replay). */
  onDecision?: DecisionObserver;
}

export interface Vigil {
  grpcPort: number;
  adminPort: number;
  metrics: Metrics;
  store: GuardedStore;
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

  const inner = opts.store ?? (settings.redisUrl ? createRedisStore(settings.redisUrl) : new MemoryStore());
  if (inner instanceof RedisStore) {
    // Serve either way (decisions fail open until Redis answers), but say so once at start-up.
    await inner.ready(2000).catch((err: Error) => logger.warn({ err: err.message }, 'Redis is not reachable yet: failing open until it is'));
  }
  const store = new GuardedStore(
    inner,
    { timeoutMs: settings.storeTimeoutMs, errorThresholdPercent: settings.breakerErrorPercent, resetTimeoutMs: settings.breakerResetMs },
    metrics,
    logger,
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
    logRawPaths: settings.logRawPaths,
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
    },
    handler,
    metrics,
    logger,
  );

  let admin: AdminServer | undefined;
  let health: NodeJS.Timeout | undefined;
  try {
    const grpcPort = await grpcServer.start();
    admin = await startAdmin(settings.adminAddress.host, settings.adminAddress.port, {
      registry,
      logger,
      adminToken: settings.adminToken,
      store,
      clock,
      pseudonymize,
      readiness: () => ({
        serving: grpcServer.serving,
        store: { kind: store.kind, up: store.healthy, breaker: store.breakerState },
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
    });
    const ping = () => store.ping().catch(() => undefined);
    void ping();
    health = setInterval(ping, 2000);
    health.unref();
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
      policy: () => current,
      reloadPolicy: () => watcher?.check(true) ?? 'unchanged',
      settled: (timeoutMs) => handler.settled(timeoutMs),
      logger,
      shutdown() {
        stopping ??= (async () => {
          watcher?.close();
          logger.info({ streams: grpcServer.activeStreams, graceMs: settings.drainTimeoutMs }, 'shutting down: draining ext_proc streams');
          clearInterval(health);
          await grpcServer.drain(settings.drainTimeoutMs);
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
    await grpcServer.drain(0).catch(() => undefined);
    await admin?.close();
    await store.close().catch(() => undefined);
    throw err;
  }
}
