/**
 * Parent side of bench/target.ts: starts a target in its own (pinned) process and talks to it over IPC.
 * taskset execs node, so the pid we spawn is the server's pid (used for /proc CPU readings).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processTree, treeRssBytes } from './process-tree.js';
import type { FromTarget } from './target.js';
import type { TargetName } from './types.js';

export interface TargetHandle {
  name: TargetName;
  pid: number;
  /** The spawned process and its descendants (cluster workers) once serving. */
  pids: number[];
  grpcPort: number;
  adminPort: number | null;
  /** Messages the bare server answered (bare only; -1 for vigil, which has /metrics). */
  answered(): Promise<number>;
  /** Resident set (all its processes) and, where the target can collect garbage on demand, the JS heap in use after a full GC (else NaN), bytes. */
  memory(): Promise<{ rss: number; heapUsed: number }>;
  stop(): Promise<void>;
}

const TARGET_JS = join(fileURLToPath(new URL('.', import.meta.url)), 'target.js');

function nextMessage<T extends FromTarget['type']>(child: ChildProcess, type: T, timeoutMs: number): Promise<Extract<FromTarget, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (msg: FromTarget): void => {
      if (msg.type === 'failed') finish(new Error(msg.error));
      else if (msg.type === type) finish(null, msg as Extract<FromTarget, { type: T }>);
    };
    const onExit = (code: number | null): void => finish(new Error(`target exited (code ${code}) before '${type}'`));
    const timer = setTimeout(() => finish(new Error(`no '${type}' from the target within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err: Error | null, msg?: Extract<FromTarget, { type: T }>): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(msg!);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** A target served by bench/target.ts (bare, bare-2proc, vigil-memory, vigil-redis). */
export async function spawnTarget(name: TargetName, pin: string[], env: Record<string, string>): Promise<TargetHandle> {
  const argv = [...pin, process.execPath, '--expose-gc', TARGET_JS, name];
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
  });
  const ready = await nextMessage(child, 'ready', 15_000).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${name} did not start: ${err.message}`);
  });
  const pids = processTree(ready.pid);
  return {
    name,
    pid: ready.pid,
    pids,
    grpcPort: ready.grpcPort,
    adminPort: ready.adminPort,
    async answered() {
      const reply = nextMessage(child, 'answered', 5000);
      child.send({ type: 'answered' });
      return (await reply).count;
    },
    async memory() {
      // A cluster's workers are not collected on demand: their RSS is added as it is.
      const reply = nextMessage(child, 'memory', 10_000);
      child.send({ type: 'memory' });
      const own = await reply;
      return { rss: own.rss + treeRssBytes(pids.filter((p) => p !== ready.pid)), heapUsed: pids.length > 1 ? NaN : own.heapUsed };
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'stop' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
    },
  };
}
