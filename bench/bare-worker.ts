/**
 * One worker of the bare-2proc target (bench/bare-cluster.ts forks it with node:cluster): a bare
 * server on the port the primary names in BENCH_BARE_PORT. node:cluster shares the listening socket,
 * so the workers take the load generator's connections in turn (one connection reaches one worker).
 */
import { startBareServer } from './bare-server.js';

export type ToBareWorker = { type: 'answered' };
export type FromBareWorker = { type: 'ready' } | { type: 'answered'; count: number };

async function main(): Promise<void> {
  const bare = await startBareServer('127.0.0.1', Number(process.env['BENCH_BARE_PORT']));
  process.on('message', (msg: ToBareWorker) => {
    if (msg.type === 'answered') process.send?.({ type: 'answered', count: bare.answered() } satisfies FromBareWorker);
  });
  process.send?.({ type: 'ready' } satisfies FromBareWorker);
}

main().catch((err: unknown) => {
  process.stderr.write(`bare worker: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
