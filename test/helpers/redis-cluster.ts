/**
 * A throwaway Redis Cluster for tests: `masters` redis-server nodes started with --cluster-enabled on
 * free ports (configs in a temp folder, no persistence), joined by `redis-cli --cluster create` with
 * no replicas, ready once every node reports cluster_state:ok. A node can be stopped and started again
 * (it keeps its slots through its nodes.conf, and comes back empty).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRedis, type RedisServer } from './redis-server.js';

const run = promisify(execFile);

export interface RedisCluster {
  nodes: RedisServer[];
  /** A seed node's URL. */
  url: string;
  /** Resolves once every node answers cluster_state:ok. */
  healthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

async function clusterOk(port: number): Promise<boolean> {
  try {
    const { stdout } = await run('redis-cli', ['-p', String(port), 'cluster', 'info']);
    return /cluster_state:ok/.test(stdout);
  } catch {
    return false;
  }
}

export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-cluster-'));
  const nodes: RedisServer[] = [];
  for (let i = 0; i < masters; i++) {
    nodes.push(
      await startRedis({
        args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--dir', dir, '--cluster-node-timeout', '2000'],
      }),
    );
  }
  await run('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
  const healthy = async (timeoutMs = 20_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const ok = await Promise.all(nodes.map((n) => clusterOk(n.port)));
      if (ok.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`Redis Cluster not ok after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await healthy();
  return {
    nodes,
    url: nodes[0]!.url,
    healthy,
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
