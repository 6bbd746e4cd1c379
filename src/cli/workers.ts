/**
 * VIGIL_WORKERS=N: the primary process forks N workers (node:cluster), each a whole vigil (ext_proc
 * server, in-process tier, sync loop) on the one ext_proc port, which node:cluster hands out to them
 * in turn. They share state through Redis as replicas do (settings refuse workers without REDIS_URL).
 *
 * The primary serves the admin address itself: /metrics with every worker's metrics summed
 * (prom-client's AggregatorRegistry over IPC), /healthz (200 while every worker is up) and /readyz
 * (200 once every worker serves). The operator API and /debug/policy live in the workers, on loopback
 * ports of their own (each worker logs its address); the primary answers 404 for them, saying so.
 * A worker that dies is logged and replaced, once every worker has served; one that exits before that
 * could not start (its reason is on stderr) and stops vigil with exit 1 rather than being re-forked
 * forever. SIGTERM drains every worker, then the primary exits.
 */
import { ListenError } from '../listen-error.js';
import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import { AggregatorRegistry } from 'prom-client';
import { createLogger } from '../obs/logger.js';
import { formatAddress, type Settings } from '../settings.js';

interface WorkerState {
  index: number;
  serving: boolean;
  grpc?: string;
}

export async function runPrimary(settings: Settings): Promise<number> {
  const logger = createLogger(settings.logLevel).child({ role: 'primary' });
  const aggregator = new AggregatorRegistry();
  const workers = new Map<Worker, WorkerState>();
  let stopping = false;
  /** Every worker has served once: from then on a worker that exits is replaced. */
  let served = false;
  /** Stops the workers and ends runPrimary with this exit code (set once the primary waits for signals). */
  let stopWith: ((code: number, why: string) => void) | undefined;

  const fork = (index: number): void => {
    const w = cluster.fork({ VIGIL_WORKER_INDEX: String(index) });
    workers.set(w, { index, serving: false });
    w.on('message', (m: { vigil?: string; grpc?: string }) => {
      const s = workers.get(w);
      if (s && m?.vigil === 'serving') {
        s.serving = true;
        if (m.grpc) s.grpc = m.grpc;
        if ([...workers.values()].every((x) => x.serving)) {
          served = true;
          logger.info({ grpc: s.grpc, admin: formatAddress({ host: settings.adminAddress.host, port: adminPort }), workers: settings.workers }, 'vigil serving');
        }
      }
    });
  };
  cluster.on('exit', (w, code, signal) => {
    const s = workers.get(w);
    workers.delete(w);
    if (stopping || !s) return;
    if (!served) {
      // It could not start (its reason is on stderr: a port in use, …); a new one would fail alike, forever.
      logger.error({ worker: s.index, code, signal }, 'worker exited before serving: stopping vigil');
      stopWith?.(1, 'a worker could not start');
      return;
    }
    logger.error({ worker: s.index, code, signal }, 'worker exited: starting a new one');
    fork(s.index);
  });

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const all = [...workers.values()];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (path === '/metrics') {
      aggregator.clusterMetrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': aggregator.contentType });
          res.end(text);
        },
        (err: Error) => json(500, { error: `collecting worker metrics: ${err.message}` }),
      );
    } else if (path === '/healthz') {
      json(all.length === settings.workers ? 200 : 503, { ok: all.length === settings.workers, workers: all.length });
    } else if (path === '/readyz') {
      const ready = !stopping && all.length === settings.workers && all.every((w) => w.serving);
      json(ready ? 200 : 503, { serving: ready, workers: all.map((w) => ({ index: w.index, serving: w.serving })) });
    } else {
      json(404, { error: 'with VIGIL_WORKERS > 1 the admin address serves /metrics, /healthz and /readyz; the operator API and /debug/policy are on each worker\'s own loopback admin port (logged as "vigil serving" by the worker)' });
    }
  });
  const adminPort = await new Promise<number>((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError('VIGIL_ADMIN_ADDRESS', settings.adminAddress, err)));
    server.listen(settings.adminAddress.port, settings.adminAddress.host, () => {
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : settings.adminAddress.port);
    });
  });

  for (let i = 1; i <= settings.workers; i++) fork(i);

  return new Promise<number>((resolve) => {
    const stop = (signal: string, exitCode = 0): void => {
      if (stopping) return;
      stopping = true;
      if (exitCode === 0) logger.info({ signal, workers: workers.size }, 'signal received: draining workers');
      for (const w of workers.keys()) w.process.kill('SIGTERM');
      const check = setInterval(() => {
        if ([...workers.keys()].every((w) => w.isDead())) {
          clearInterval(check);
          server.close();
          logger.info('vigil stopped');
          resolve(exitCode);
        }
      }, 50);
    };
    stopWith = (code, why) => stop(why, code);
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    process.on('SIGHUP', () => {
      for (const w of workers.keys()) w.process.kill('SIGHUP');
    });
  });
}
