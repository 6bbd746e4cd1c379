/**
 * A throwaway redis-server speaking TLS only (plaintext port 0), on a free port of 127.0.0.1, with the
 * certificates of test/helpers/test-pki.ts; `authClients` makes it demand a client certificate
 * (tls-auth-clients yes). And a Redis Cluster of such nodes (tls-cluster: the bus is TLS too, and the
 * nodes announce their TLS ports), joined by `redis-cli --tls --cluster create`. Readiness is asked
 * with redis-cli over TLS with the client certificate. Needs a redis-server built with TLS (Debian's
 * is); one without fails here with its own "bad directive" error, never a skip.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import type { TestPki } from './test-pki.js';

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface TlsRedis {
  port: number;
  /** rediss://127.0.0.1:<port> */
  url: string;
  /** redis-cli over TLS with the good client certificate: its stdout. */
  cli(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

function cliArgs(pki: TestPki, port: number): string[] {
  return ['--tls', '--cacert', pki.ca.cert, '--cert', pki.client.cert, '--key', pki.client.key, '-h', '127.0.0.1', '-p', String(port)];
}

export async function startTlsRedis(pki: TestPki, opts: { authClients: boolean; args?: string[] }): Promise<TlsRedis> {
  const port = await freePort();
  const args = [
    '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no',
    '--tls-cert-file', pki.server.cert, '--tls-key-file', pki.server.key, '--tls-ca-cert-file', pki.ca.cert,
    '--tls-auth-clients', opts.authClients ? 'yes' : 'no',
    ...(opts.args ?? []),
  ];
  const child: ChildProcess = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cli = async (...cmd: string[]): Promise<string> => (await run('redis-cli', [...cliArgs(pki, port), ...cmd])).stdout;
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server (TLS) exited ${child.exitCode}: ${output}`);
    const pong = await cli('PING').catch(() => '');
    if (pong.includes('PONG')) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`redis-server (TLS) on ${port} did not answer PING within 10 s: ${output}`);
    }
    await sleep(50);
  }
  return { port, url: `rediss://127.0.0.1:${port}`, cli, stop };
}

export interface TlsRedisCluster {
  nodes: TlsRedis[];
  url: string;
  stop(): Promise<void>;
}

export async function startTlsRedisCluster(pki: TestPki, masters = 3): Promise<TlsRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-tls-cluster-'));
  const nodes: TlsRedis[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      nodes.push(
        await startTlsRedis(pki, {
          authClients: true,
          args: ['--tls-cluster', 'yes', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--dir', dir, '--cluster-node-timeout', '2000'],
        }),
      );
    }
    const first = nodes[0]!;
    await run('redis-cli', [
      '--tls', '--cacert', pki.ca.cert, '--cert', pki.client.cert, '--key', pki.client.key,
      '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes',
    ]);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const infos = await Promise.all(nodes.map((n) => n.cli('CLUSTER', 'INFO').catch(() => '')));
      if (infos.every((i) => i.includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error('TLS Redis Cluster not ok after 20 s');
      await sleep(100);
    }
    return {
      nodes,
      url: first.url,
      async stop() {
        await Promise.all(nodes.map((n) => n.stop()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
