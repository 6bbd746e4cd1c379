/**
 * A throwaway redis-server for tests: free port on 127.0.0.1, no persistence, killed on stop().
 * stop() then start() (or restart()) brings it back on the same port, empty, for fail-open tests.
 * No redis-server on PATH is an error, never a skip (house style: the Redis half cannot be skipped).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createConnection } from 'node:net';
import { delimiter, join } from 'node:path';
import { freePort } from './free-port.js';

export interface RedisServer {
  url: string;
  port: number;
  /** Starts it again on the same port (after stop()); resolves once it answers PING. */
  start(): Promise<void>;
  /** Stops it (SIGTERM, SIGKILL after 2 s); resolves once the process has exited. */
  stop(): Promise<void>;
  restart(): Promise<void>;
  /** Sends a signal to the running redis-server (SIGSTOP freezes it, SIGCONT thaws it); false when none runs. */
  signal(sig: NodeJS.Signals): boolean;
}

const NOT_FOUND = 'redis-server not found on PATH: install it (apt-get install redis-server); the Redis half of the suite cannot be skipped';

function onPath(cmd: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}


/** One PING over a raw socket; resolves true on +PONG. */
function pingOnce(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    let data = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => sock.write('PING\r\n'));
    sock.on('data', (chunk) => {
      data += chunk.toString();
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `args`: more redis-server options (a cluster node's); `port`: a given one instead of a free one. */
export async function startRedis(opts: { args?: string[]; port?: number } = {}): Promise<RedisServer> {
  if (!onPath('redis-server')) throw new Error(NOT_FOUND);
  const port = opts.port ?? (await freePort());
  let child: ChildProcess | null = null;

  const start = async (): Promise<void> => {
    if (child) throw new Error('redis-server is already running');
    let stderr = '';
    let failed: Error | null = null;
    const proc = spawn(
      'redis-server',
      ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1', '--daemonize', 'no', ...(opts.args ?? [])],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = proc;
    proc.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.once('error', (err: NodeJS.ErrnoException) => {
      failed = err.code === 'ENOENT' ? new Error(NOT_FOUND) : err;
    });
    proc.once('exit', (code) => {
      failed ??= new Error(`redis-server exited (code ${code}) ${stderr}`.trim());
      if (child === proc) child = null;
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (failed) throw failed;
      if (await pingOnce(port)) return;
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`redis-server on port ${port} did not answer PING within 10 s ${stderr}`.trim());
      }
      await sleep(20);
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    child = null;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  };

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop,
    restart: async () => {
      await stop();
      await start();
    },
    signal: (sig) => (child ? child.kill(sig) : false),
  };
}
