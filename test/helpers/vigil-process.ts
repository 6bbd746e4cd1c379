/**
 * `bin/vigil serve` as a real child process (replicas, workers, shutdown and fault tests): started with
 * the given environment on free ports, ready once it logs "vigil serving"; its JSON log lines are kept,
 * its admin endpoints and metrics read over HTTP; stopped with SIGTERM (SIGKILL after a bound).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../src/paths.js';

export interface VigilProcess {
  child: ChildProcess;
  /** host:port of the ext_proc server. */
  target: string;
  adminPort: number;
  lines: Array<Record<string, any>>;
  stderr(): string;
  /** The sum of a metric's samples whose labels include `labels` (0 when none). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  admin(path: string): Promise<{ status: number; body: string }>;
  /** /readyz's body: the store's state and, with Redis, its sync's. */
  readyz(): Promise<Readyz>;
  /** SIGTERM; SIGKILL after killAfterMs. Resolves with the exit code (null when killed). */
  stop(killAfterMs?: number): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface Readyz {
  store: { up: boolean; sync?: { degraded: string | null; dirtySubjects: number } };
}

export async function startVigilProcess(env: Record<string, string>, readyTimeoutMs = 20_000): Promise<VigilProcess> {
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'serve'], {
    env: { PATH: process.env.PATH ?? '', VIGIL_GRPC_ADDRESS: '127.0.0.1:0', VIGIL_ADMIN_ADDRESS: '127.0.0.1:0', VIGIL_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, any>> = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let buf = '';
  const serving = new Promise<Record<string, any>>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let line: Record<string, any>;
        try {
          line = JSON.parse(text) as Record<string, any>;
        } catch {
          line = { msg: text, notJson: true };
        }
        lines.push(line);
        // With VIGIL_WORKERS each worker logs its own start (with `worker`); the process serves once the primary says so.
        if (line.msg === 'vigil serving' && line.worker === undefined) resolve(line);
      }
    });
    void exited.then((code) => reject(new Error(`vigil exited ${code} before serving: ${stderr}`)));
    setTimeout(() => reject(new Error(`vigil not serving after ${readyTimeoutMs} ms: ${stderr}`)), readyTimeoutMs).unref();
  });
  let ready: Record<string, any>;
  try {
    ready = await serving;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const target = String(ready.grpc);
  const adminPort = Number(String(ready.admin).split(':').pop());
  const admin = async (path: string) => {
    const res = await fetch(`http://127.0.0.1:${adminPort}${path}`);
    return { status: res.status, body: await res.text() };
  };
  return {
    child,
    target,
    adminPort,
    lines,
    stderr: () => stderr,
    exited,
    admin,
    readyz: async () => JSON.parse((await admin('/readyz')).body) as Readyz,
    async metric(name, labels = {}) {
      const { body } = await admin('/metrics');
      let sum = 0;
      for (const line of body.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
        if (!m || m[1] !== name) continue;
        const have = m[2] ?? '';
        if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) sum += Number(m[3]);
      }
      return sum;
    },
    async stop(killAfterMs = 10_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
