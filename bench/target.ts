/**
 * One benchmark target in its own process (the parent pins it with taskset): `node target.js <kind>`
 * where kind is bare, vigil-memory or vigil-redis. Talks to bench/run.ts over the IPC channel:
 * sends {type:'ready', ...} once serving, answers {type:'answered'} with the bare server's count, and
 * shuts down cleanly on {type:'stop'} (or SIGTERM).
 */
import { startBareServer } from './bare-server.js';
import { startVigil } from '../src/main.js';
import { parseSettings } from '../src/settings.js';

export type TargetKind = 'bare' | 'vigil-memory' | 'vigil-redis';

export type ToTarget = { type: 'answered' } | { type: 'stop' };
export type FromTarget =
  | { type: 'ready'; grpcPort: number; adminPort: number | null; pid: number }
  | { type: 'answered'; count: number }
  | { type: 'failed'; error: string };

function send(msg: FromTarget): void {
  process.send?.(msg);
}

async function start(kind: TargetKind): Promise<{ grpcPort: number; adminPort: number | null; answered: () => number; stop: () => Promise<void> }> {
  if (kind === 'bare') {
    const bare = await startBareServer('127.0.0.1', 0);
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
  });
  const vigil = await startVigil({ settings });
  return { grpcPort: vigil.grpcPort, adminPort: vigil.adminPort, answered: () => -1, stop: () => vigil.shutdown() };
}

async function main(): Promise<void> {
  const kind = process.argv[2] as TargetKind;
  if (!['bare', 'vigil-memory', 'vigil-redis'].includes(kind)) throw new Error(`unknown target ${String(kind)}`);
  const target = await start(kind);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await target.stop().catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (msg: ToTarget) => {
    if (msg.type === 'answered') send({ type: 'answered', count: target.answered() });
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
