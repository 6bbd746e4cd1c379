/**
 * The bare-2proc target: `n` bare servers (bench/bare-worker.ts) in `n` processes sharing one listening
 * port through node:cluster — the floor for vigil with VIGIL_WORKERS=n. Runs in the primary, which
 * only hands out connections (round robin) and sums the workers' counts.
 */
import cluster, { type Worker } from 'node:cluster';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/helpers/free-port.js';
import type { FromBareWorker } from './bare-worker.js';

const WORKER_JS = join(fileURLToPath(new URL('.', import.meta.url)), 'bare-worker.js');

export interface BareCluster {
  port: number;
  answered(): Promise<number>;
  stop(): Promise<void>;
}

function reply(worker: Worker, type: FromBareWorker['type']): Promise<FromBareWorker> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bare worker ${worker.process.pid}: no '${type}' within 10 s`)), 10_000);
    const onMessage = (msg: FromBareWorker): void => {
      if (msg.type !== type) return;
      clearTimeout(timer);
      worker.off('message', onMessage);
      resolve(msg);
    };
    worker.on('message', onMessage);
  });
}

export async function startBareCluster(n: number): Promise<BareCluster> {
  const port = await freePort();
  cluster.setupPrimary({ exec: WORKER_JS, args: [] });
  const workers = Array.from({ length: n }, () => cluster.fork({ BENCH_BARE_PORT: String(port) }));
  await Promise.all(workers.map((w) => reply(w, 'ready')));
  return {
    port,
    async answered() {
      const counts = await Promise.all(
        workers.map((w) => {
          const r = reply(w, 'answered');
          w.send({ type: 'answered' });
          return r;
        }),
      );
      return counts.reduce((sum, m) => sum + (m.type === 'answered' ? m.count : 0), 0);
    },
    async stop() {
      await Promise.all(
        workers.map((w) =>
          w.isDead() ? undefined : new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            w.kill('SIGTERM');
          }),
        ),
      );
    },
  };
}
