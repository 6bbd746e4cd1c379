/**
 * Fault: a Redis user whose ACL denies INFO. ioredis runs INFO as its ready check and, denied, prints
 * "Skipping the ready check because INFO command fails: …" with console.warn: a plain-text line in the
 * middle of vigil's JSON log. `vigil serve` now routes the console into the JSON log
 * (src/obs/console-bridge.ts): every line it writes is one JSON object, and this one is a warning with
 * source "console" that says what Redis refused.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { projectRoot } from '../../src/paths.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { startRedis } from '../helpers/redis-server.js';

let redis: RedisServer | undefined;
after(async () => redis?.stop());

/** One command in RESP; resolves with the first reply line. */
function redisCommand(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    let data = '';
    sock.once('error', reject);
    sock.once('connect', () => sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`));
    sock.on('data', (c) => {
      data += c.toString();
      if (data.includes('\r\n')) {
        sock.destroy();
        resolve(data.split('\r\n')[0]!);
      }
    });
  });
}

test('a Redis ACL without INFO: every line vigil serve writes is JSON, the denial a warning; decisions still use Redis', async () => {
  redis = await startRedis();
  assert.equal(await redisCommand(redis.port, ['ACL', 'SETUSER', 'vigil', 'on', '>vigil-password-0123', '~*', '+@all', '-info']), '+OK');
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      REDIS_URL: `redis://vigil:vigil-password-0123@127.0.0.1:${redis.port}`,
      VIGIL_KEY_SECRET: 'test-secret-0123456789abcdef',
      VIGIL_GRPC_ADDRESS: '127.0.0.1:0',
      VIGIL_ADMIN_ADDRESS: '127.0.0.1:0',
      VIGIL_DRAIN_TIMEOUT_MS: '200',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const parsed = () => out.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, any>);
  try {
    const deadline = Date.now() + 10_000;
    while (!out.includes('"vigil serving"')) {
      if (child.exitCode !== null || Date.now() > deadline) assert.fail(`vigil did not start: ${out} ${err}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    const serving = parsed().find((l) => l.msg === 'vigil serving')!;
    assert.equal(serving.store, 'redis');
    // The store works without INFO: a request is decided with Redis, not failed open.
    const sim = new EnvoySim(serving.grpc as string, { request_attributes: ['source.address'], message_timeout_ms: 2000 });
    const r = await sim.exchange({ method: 'GET', path: '/api/items/1', headers: [['x-api-key', 'k']], sourceAddress: '203.0.113.5:1', upstream: { status: 200 } });
    sim.close();
    assert.equal(r.client.status, 200);
    assert.equal(r.upstreamRequest?.headers.some(([k]) => k === 'x-vigil-degraded'), false, 'decided with the store, not failed open');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, err);
  assert.equal(err, '', 'nothing on stderr');
  const lines = parsed(); // throws on any line that is not JSON
  const denial = lines.filter((l) => l.source === 'console');
  assert.equal(denial.length, 1, JSON.stringify(denial));
  assert.equal(denial[0]!.level, 'warn');
  assert.match(String(denial[0]!.msg), /INFO command fails: "NOPERM/);
  assert.ok(lines.some((l) => l.msg === 'vigil stopped'));
});
