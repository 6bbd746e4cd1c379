import cluster from 'node:cluster';
import { AggregatorRegistry, Registry, collectDefaultMetrics } from 'prom-client';
import { ConfigError } from '../errors.js';
import { startVigil } from '../main.js';
import { createLogger, type Logger } from '../obs/logger.js';
import { SETTINGS_DOC, parseSettings, type Settings } from '../settings.js';
import { bridgeConsole } from '../obs/console-bridge.js';
import { runPrimary } from './workers.js';

export const SERVE_HELP = `vigil serve — run the ext_proc sidecar

Usage: vigil serve

Settings come from the environment only (every problem is listed at start-up):
${SETTINGS_DOC.map((s) => `  ${s.name.padEnd(28)} ${s.meaning} (default ${s.default})`).join('\n')}

The policy (VIGIL_POLICY: a file, or a directory holding policy.yaml) is watched and reloaded when it
changes; a broken one is rejected, logged and counted, and the last good one stays (docs/policy-reload.md).

SIGHUP: check the policy file now and reload it if it changed (also re-reports a still-broken one).
SIGTERM or SIGINT: stop accepting streams, let in-flight ones finish (VIGIL_DRAIN_TIMEOUT_MS), exit 0.

VIGIL_WORKERS=N (with REDIS_URL): N worker processes share the ext_proc port; the admin address then
serves /metrics (all workers summed), /healthz and /readyz from the primary process. A worker that
exits once all have served is replaced; one that cannot start (a port in use, …) stops vigil, exit 1.
`;

export async function runServe(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`vigil serve: unexpected argument ${argv[0]} (settings come from the environment; see vigil serve --help)\n`);
    return 2;
  }
  let vigil;
  try {
    const settings = parseSettings();
    if (settings.workers > 1 && cluster.isPrimary) return await runPrimary(settings);
    // One JSON log from the first line: libraries that print (ioredis does, at connect) go through it too.
    const worker = cluster.isWorker ? Number(process.env['VIGIL_WORKER_INDEX'] ?? cluster.worker?.id ?? 0) : null;
    const base = createLogger(settings.logLevel);
    const logger = worker === null ? base : base.child({ worker });
    bridgeConsole(logger);
    vigil = worker === null ? await startVigil({ settings, logger }) : await startWorker(settings, logger);
  } catch (err) {
    // A worker that cannot start lets go of the primary (its IPC channel would keep it alive), which then stops.
    if (cluster.isWorker) cluster.worker?.disconnect();
    if (err instanceof ConfigError) {
      process.stderr.write(`vigil: cannot start:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      return 2;
    }
    process.stderr.write(`vigil: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  const { logger } = vigil;
  process.on('uncaughtException', (err) => logger.error({ err: String(err.stack ?? err) }, 'uncaught exception (still serving)'));
  process.on('unhandledRejection', (err) => logger.error({ err: String((err as Error)?.stack ?? err) }, 'unhandled rejection (still serving)'));
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'signal received');
      vigil.shutdown().then(
        () => {
          // A worker's IPC channel would keep it alive: let go of the primary.
          if (cluster.isWorker) cluster.worker?.disconnect();
          resolve(0);
        },
        () => resolve(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGHUP', () => logger.info({ signal: 'SIGHUP', result: vigil.reloadPolicy() }, 'policy reload check'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/**
 * One of VIGIL_WORKERS: a whole vigil whose metrics the primary collects (AggregatorRegistry), with its
 * admin server on a loopback port of its own (the primary holds the admin address).
 */
async function startWorker(settings: Settings, logger: Logger) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'vigil_process_' });
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's worker-side listener that answers the primary.
  new AggregatorRegistry();
  const vigil = await startVigil({ settings: { ...settings, adminAddress: { host: '127.0.0.1', port: 0 } }, registry, logger });
  process.send?.({ vigil: 'serving', grpc: `${settings.grpcAddress.host}:${vigil.grpcPort}` });
  return vigil;
}
