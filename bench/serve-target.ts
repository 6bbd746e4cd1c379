/**
 * A vigil target run the way it is deployed, as `vigil serve` with settings in the environment (the
 * bench's other vigil targets call startVigil inside bench/target.ts). Used for settings that only
 * `vigil serve` acts on, such as VIGIL_WORKERS. Ready once /readyz answers 200 and the gRPC port
 * accepts connections; the process tree is
 * read after that, so the report can say how many processes actually served.
 */
import { spawn } from 'node:child_process';
import { get } from 'node:http';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from '../src/paths.js';
import { freePort } from '../test/helpers/free-port.js';
import { processTree, treeRssBytes } from './process-tree.js';
import type { TargetHandle } from './targets.js';
import type { TargetName } from './types.js';

const VIGIL_BIN = join(projectRoot, 'bin', 'vigil');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readyz(port: number): Promise<number> {
  return new Promise((resolve) => {
    get({ host: '127.0.0.1', port, path: '/readyz' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', () => resolve(0));
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port }, () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** The environment without the caller's own vigil settings, so only the bench's apply. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('VIGIL_') || k === 'REDIS_URL') delete env[k];
  return env;
}

export async function spawnServeTarget(name: TargetName, pin: string[], vigilEnv: Record<string, string>, expectProcesses: number): Promise<TargetHandle> {
  const grpcPort = await freePort();
  const adminPort = await freePort();
  const argv = [...pin, process.execPath, VIGIL_BIN, 'serve'];
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...cleanEnv(),
      VIGIL_GRPC_ADDRESS: `127.0.0.1:${grpcPort}`,
      VIGIL_ADMIN_ADDRESS: `127.0.0.1:${adminPort}`,
      VIGIL_KEY_SECRET: 'bench-secret-0123456789',
      VIGIL_LOG_LEVEL: 'warn',
      ...(process.env['BENCH_SYNC_MS'] ? { VIGIL_SYNC_MS: process.env['BENCH_SYNC_MS'] } : {}),
      ...vigilEnv,
    },
  });
  const pid = child.pid!;
  const deadline = Date.now() + 20_000;
  while ((await readyz(adminPort)) !== 200 || !(await accepts(grpcPort))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} (vigil serve) exited with ${child.exitCode ?? child.signalCode} before it was ready`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} (vigil serve): /readyz not 200 or the gRPC port not accepting within 20 s`);
    }
    await sleep(100);
  }
  // Workers may still be starting when the first one answers: give them a few seconds to appear.
  let pids = processTree(pid);
  for (let waited = 0; pids.length < expectProcesses && waited < 5000; waited += 200) {
    await sleep(200);
    pids = processTree(pid);
  }
  return {
    name,
    pid,
    pids,
    grpcPort,
    adminPort,
    answered: async () => -1,
    memory: async () => ({ rss: treeRssBytes(pids), heapUsed: NaN }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const p of processTree(pid).reverse()) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
      }, 8000);
      await exited;
      clearTimeout(timer);
    },
  };
}
