/**
 * One benchmark target in its own process (the parent pins it with taskset): `node target.js <kind>`
 * where kind is bare, bare-2proc (two bare servers sharing one port: bench/bare-cluster.ts),
 * vigil-memory or vigil-redis. (vigil with workers runs as `vigil serve`: bench/serve-target.ts.)
 * Talks to bench/run.ts over the IPC channel:
 * sends {type:'ready', ...} once serving, answers {type:'answered'} with the bare server's count and
 * {type:'memory'} with its memory after a full garbage collection (it runs with --expose-gc), and
 * shuts down cleanly on {type:'stop'} (or SIGTERM).
 */
import { startBareCluster } from './bare-cluster.js';
import { startBareServer } from './bare-server.js';
import { startVigil } from '../src/main.js';
import { parseSettings } from '../src/settings.js';

export type TargetKind = 'bare' | 'bare-2proc' | 'vigil-memory' | 'vigil-redis';
const KINDS: readonly TargetKind[] = ['bare', 'bare-2proc', 'vigil-memory', 'vigil-redis'];

export type ToTarget = { type: 'answered' } | { type: 'memory' } | { type: 'stop' };
export type FromTarget =
  | { type: 'ready'; grpcPort: number; adminPort: number | null; pid: number }
  | { type: 'answered'; count: number }
  | { type: 'memory'; rss: number; heapUsed: number }
  | { type: 'failed'; error: string };

function send(msg: FromTarget): void {
  process.send?.(msg);
}

interface Started {
  grpcPort: number;
  adminPort: number | null;
  answered: () => Promise<number>;
  stop: () => Promise<void>;
}

async function start(kind: TargetKind): Promise<Started> {
  if (kind === 'bare') {
    const bare = await startBareServer('127.0.0.1', 0);
    return { grpcPort: bare.port, adminPort: null, answered: async () => bare.answered(), stop: bare.stop };
  }
  if (kind === 'bare-2proc') {
    const bare = await startBareCluster(2);
    return { grpcPort: bare.port, adminPort: null, answered: bare.answered, stop: bare.stop };
  }
  const redisUrl = process.env['BENCH_REDIS_URL'];
  if (kind === 'vigil-redis' && !redisUrl) throw new Error('vigil-redis needs BENCH_REDIS_URL');
  const settings = parseSettings({
    VIGIL_GRPC_ADDRESS: '127.0.0.1:0',
    VIGIL_ADMIN_ADDRESS: '127.0.0.1:0',
    VIGIL_KEY_SECRET: 'bench-secret-0123456789',
    VIGIL_LOG_LEVEL: 'warn',
    VIGIL_POLICY: process.env['BENCH_POLICY'],
    ...(kind === 'vigil-redis' ? { REDIS_URL: redisUrl } : {}),
    ...(process.env['BENCH_SYNC_MS'] ? { VIGIL_SYNC_MS: process.env['BENCH_SYNC_MS'] } : {}),
  });
  const vigil = await startVigil({ settings });
  return { grpcPort: vigil.grpcPort, adminPort: vigil.adminPort, answered: async () => -1, stop: () => vigil.shutdown() };
}

/** Memory with the garbage gone (two full collections), so that growth between two readings is live data. */
function memoryAfterGc(): { rss: number; heapUsed: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: gc ? m.heapUsed : NaN };
}

async function main(): Promise<void> {
  const kind = process.argv[2] as TargetKind;
  if (!KINDS.includes(kind)) throw new Error(`unknown target ${String(kind)}`);
  const target = await start(kind);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await target.stop().catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (msg: ToTarget) => {
    if (msg.type === 'answered') void target.answered().then((count) => send({ type: 'answered', count }));
    else if (msg.type === 'memory') send({ type: 'memory', ...memoryAfterGc() });
    else if (msg.type === 'stop') void stop();
  });
  process.on('SIGTERM', () => void stop());
  process.on('disconnect', () => void stop());
  send({ type: 'ready', grpcPort: target.grpcPort, adminPort: target.adminPort, pid: process.pid });
}

main().catch((err: unknown) => {
  send({ type: 'failed', error: String((err as Error)?.stack ?? err) });
  process.exitCode = 1;
  setTimeout(() => process.exit(1), 100);
});
