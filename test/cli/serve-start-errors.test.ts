/**
 * `vigil serve` that cannot start says which setting is at fault, and the address, in one line on
 * stderr (the real bin, real sockets): a port in use, a host name that does not resolve, and the
 * gRPC and admin servers given the same port.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { projectRoot } from '../../src/paths.js';
import { startRedis } from '../helpers/redis-server.js';

const held: Server[] = [];
after(() => held.forEach((s) => s.close()));

/** A port held by another listener for the whole file. */
function holdPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    held.push(s);
    s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port));
  });
}

function serve(env: Record<string, string>) {
  // spawnSync: the bound only keeps a hang (what this file guards against) from stalling the suite.
  return spawnSync(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'serve'], {
    // VIGIL_GRPC_INSECURE: a non-loopback plaintext gRPC address is a settings error of its own, not what this file is about.
    env: { PATH: process.env.PATH ?? '', VIGIL_GRPC_ADDRESS: '127.0.0.1:0', VIGIL_ADMIN_ADDRESS: '127.0.0.1:0', VIGIL_LOG_LEVEL: 'silent', VIGIL_GRPC_INSECURE: 'true', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test('the ext_proc port in use: exit 1 naming VIGIL_GRPC_ADDRESS and the address', async () => {
  const port = await holdPort();
  const r = serve({ VIGIL_GRPC_ADDRESS: `127.0.0.1:${port}` });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, `vigil: cannot start: VIGIL_GRPC_ADDRESS=127.0.0.1:${port}: cannot listen: the port is in use (another process, or another vigil, holds it)\n`);
});

test('the admin port in use: exit 1 naming VIGIL_ADMIN_ADDRESS', async () => {
  const port = await holdPort();
  const r = serve({ VIGIL_ADMIN_ADDRESS: `127.0.0.1:${port}` });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, `vigil: cannot start: VIGIL_ADMIN_ADDRESS=127.0.0.1:${port}: cannot listen: the port is in use (another process, or another vigil, holds it)\n`);
});

test('a host name that does not resolve: exit 1 naming the setting and the host', () => {
  // .invalid never resolves (RFC 6761 §6.4).
  for (const setting of ['VIGIL_GRPC_ADDRESS', 'VIGIL_ADMIN_ADDRESS']) {
    const r = serve({ [setting]: 'vigil-test.invalid:0' });
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.stderr, `vigil: cannot start: ${setting}=vigil-test.invalid:0: cannot listen: the host name vigil-test.invalid does not resolve (use an IP address, or a name this machine resolves)\n`);
  }
});

test('the gRPC and admin addresses on one port: a settings error before anything binds (exit 2)', () => {
  const r = serve({ VIGIL_GRPC_ADDRESS: '0.0.0.0:50999', VIGIL_ADMIN_ADDRESS: '127.0.0.1:50999' });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^vigil: cannot start:\n  - VIGIL_ADMIN_ADDRESS: 127\.0\.0\.1:50999 is the same port as VIGIL_GRPC_ADDRESS 0\.0\.0\.0:50999 \(/);
});

test('with VIGIL_WORKERS, workers that cannot listen stop vigil with exit 1 and the same line (no endless re-forks, no hang)', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const port = await holdPort();
  const r = serve({ VIGIL_WORKERS: '2', REDIS_URL: redis.url, VIGIL_KEY_SECRET: 'test-secret-0123456789abcdef', VIGIL_GRPC_ADDRESS: `127.0.0.1:${port}`, VIGIL_LOG_LEVEL: 'error' });
  assert.equal(r.status, 1, `${r.stderr}\n${r.stdout}`);
  const line = `vigil: cannot start: VIGIL_GRPC_ADDRESS=127.0.0.1:${port}: cannot listen: the port is in use (another process, or another vigil, holds it)`;
  assert.ok(r.stderr.split('\n').includes(line), r.stderr);
  assert.match(r.stdout, /"msg":"worker exited before serving: stopping vigil"/);
  assert.doesNotMatch(r.stdout, /starting a new one/);
});
