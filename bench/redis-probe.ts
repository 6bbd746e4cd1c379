/**
 * The bench's own redis-server (started on a free port, never a shared one), seen from outside: its
 * pid (pinned to CPU 0 with the load generators), its CPU time, and INFO's command count and memory.
 */
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import type { RedisServer } from '../test/helpers/redis-server.js';
import { processCpuUs } from './machine.js';

export interface RedisProbe {
  url: string;
  pid: number;
  cpuUs(): number;
  /** INFO stats total_commands_processed, less the probe's own earlier INFO calls. */
  commands(): Promise<number>;
  /** INFO memory used_memory, bytes. */
  usedMemory(): Promise<number>;
  close(): void;
}

function field(info: string, name: string): number {
  const m = new RegExp(`^${name}:(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : NaN;
}

export async function probeRedis(redis: RedisServer, pin: boolean, ticksPerSecond: number): Promise<RedisProbe> {
  const client = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  const pid = field(await client.info('server'), 'process_id');
  if (pin && Number.isFinite(pid)) spawnSync('taskset', ['-pc', '0', String(pid)], { stdio: 'ignore' });
  // Redis counts a command once it has run, so each INFO shows the earlier ones (this first one too).
  let ownCalls = 1;
  return {
    url: redis.url,
    pid,
    cpuUs: () => processCpuUs(pid, ticksPerSecond),
    async commands() {
      const n = field(await client.info('stats'), 'total_commands_processed') - ownCalls;
      ownCalls++;
      return n;
    },
    async usedMemory() {
      ownCalls++;
      return field(await client.info('memory'), 'used_memory');
    },
    close: () => client.disconnect(),
  };
}
