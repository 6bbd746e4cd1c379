/**
 * Fault: Redis refusing vigil after start-up, by error. Redis out of memory (maxmemory with
 * noeviction) answers every write with OOM; a rotated ACL password makes every reconnect fail with
 * WRONGPASS. Each must be in vigil's JSON log by its Redis name as soon as it happens (not only when a
 * breaker opens later, and not as a bare "not-ready"), and no line may carry the password.
 */
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { after, test } from 'node:test';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { startRedis } from '../helpers/redis-server.js';
import type { VigilProcess } from '../helpers/vigil-process.js';
import { startVigilProcess } from '../helpers/vigil-process.js';

let redis: RedisServer | undefined;
let vigil: VigilProcess | undefined;
let sim: EnvoySim | undefined;
after(async () => {
  sim?.close();
  await vigil?.stop(5000);
  await redis?.stop();
});

/** One command in RESP as the default user; resolves with the first reply line. */
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

/** Waits for a log line; the bound only keeps a broken build from hanging the suite. */
async function logged(what: string, match: (l: Record<string, any>) => boolean): Promise<Record<string, any>> {
  const end = Date.now() + 30_000;
  for (;;) {
    const line = vigil!.lines.find(match);
    if (line) return line;
    if (Date.now() > end) assert.fail(`no log line for ${what}:\n${vigil!.lines.map((l) => JSON.stringify(l)).join('\n')}`);
    // Traffic keeps the sync writing.
    await sim!.exchange({ method: 'GET', path: '/api/items/1', headers: [['x-api-key', `k${Date.now()}`]], sourceAddress: '203.0.113.9:1', upstream: { status: 200 } });
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('OOM and WRONGPASS after start-up are logged by name when they happen; the password never is', async () => {
  redis = await startRedis();
  const password = 'first-password-0123';
  assert.equal(await redisCommand(redis.port, ['ACL', 'SETUSER', 'vigil', 'on', `>${password}`, '~*', '+@all']), '+OK');
  vigil = await startVigilProcess({
    REDIS_URL: `redis://vigil:${password}@127.0.0.1:${redis.port}`,
    VIGIL_KEY_SECRET: 'test-secret-0123456789abcdef',
    VIGIL_DRAIN_TIMEOUT_MS: '200',
  });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], message_timeout_ms: 10_000 });

  assert.equal(await redisCommand(redis.port, ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction']), '+OK');
  assert.equal(await redisCommand(redis.port, ['CONFIG', 'SET', 'maxmemory', '1']), '+OK');
  const oom = await logged('OOM', (l) => l.error === 'OOM');
  assert.equal(oom.level, 'warn');
  assert.match(String(oom.err), /OOM command not allowed/);
  assert.ok(!vigil.lines.some((l) => l.msg === 'store breaker opened: failing open' && vigil!.lines.indexOf(l) < vigil!.lines.indexOf(oom)), 'named before any breaker opened');

  assert.equal(await redisCommand(redis.port, ['CONFIG', 'SET', 'maxmemory', '0']), '+OK');
  await logged('the recovery', (l) => l.msg === 'store sync recovered: decisions share state again' && vigil!.lines.indexOf(l) > vigil!.lines.indexOf(oom));

  // The password is rotated and vigil's connection dropped: every reconnect is refused.
  assert.equal(await redisCommand(redis.port, ['ACL', 'SETUSER', 'vigil', 'resetpass', '>second-password-0123']), '+OK');
  assert.match(await redisCommand(redis.port, ['CLIENT', 'KILL', 'USER', 'vigil']), /^:[1-9]/);
  const wrongpass = await logged('WRONGPASS', (l) => l.error === 'WRONGPASS');
  assert.match(String(wrongpass.err), /WRONGPASS/);

  assert.equal(await vigil.stop(5000), 0);
  assert.ok(!vigil.lines.some((l) => l.notJson), 'every line is JSON');
  assert.ok(!vigil.lines.some((l) => JSON.stringify(l).includes(password) || JSON.stringify(l).includes('second-password')), 'no password in the log');
});
