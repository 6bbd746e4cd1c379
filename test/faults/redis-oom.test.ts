/**
 * Redis out of memory (`maxmemory` reached with `noeviction`: every write is refused with OOM). Redis
 * refuses vigil's sync without running it, so vigil keeps the changes: requests are decided from the
 * tier meanwhile (a flood throttled at its threshold, nothing allowed undecided, the upstream told
 * `x-vigil-degraded: store-sync`), the failure is logged by its Redis error, and once memory is freed
 * the kept changes reach Redis (the flood's penalty is there) without a restart.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { predictableRate, tempDir, until } from '../helpers/policy-files.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startVigilProcess, type VigilProcess } from '../helpers/vigil-process.js';

let redis: RedisServer;
let admin: Redis;
let vigil: VigilProcess;
let sim: EnvoySim;

before(async () => {
  redis = await startRedis({ args: ['--maxmemory-policy', 'noeviction'] });
  admin = new Redis(redis.url, { maxRetriesPerRequest: 0 });
  const policy = join(tempDir(), 'policy.yaml');
  writeFileSync(policy, `format: 1\ndetectors:\n${predictableRate('flood', 'throttle', { penalty: '5m' })}`);
  vigil = await startVigilProcess({ REDIS_URL: redis.url, VIGIL_KEY_SECRET: 'oom-test-secret-0123456789abcdef', VIGIL_POLICY: policy });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], failure_mode_allow: false, message_timeout_ms: 10_000 });
  // The flood must not straddle a minute (the detector's bucket).
  if (Date.now() % 60_000 > 35_000) await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 50));
});
after(async () => {
  sim?.close();
  await vigil?.stop();
  admin?.disconnect();
  await redis?.stop();
});

const send = (key: string) => sim.exchange({ method: 'GET', path: '/api/items', headers: [['x-api-key', key]], sourceAddress: '203.0.113.73:4000' });
const ready = () => vigil.readyz();

/**
 * Redis full: maxmemory below what it already uses, with noeviction, so every write is refused with
 * OOM until the limit is raised. (Filling it with keys instead leaves it at the border, where writes are
 * refused or not by the size of their own arguments.)
 */
async function full(): Promise<void> {
  await admin.config('SET', 'maxmemory', '1');
  await assert.rejects(admin.set('probe', '1'), /OOM command not allowed/);
}

test('Redis out of memory: decisions go on from the tier, the error is logged by name, nothing is lost', async () => {
  await until('the store to be up', async () => (await ready()).store.up);
  assert.equal((await send('warm')).client.status, 200);
  await until('the warm-up to be synced', async () => (await ready()).store.sync?.dirtySubjects === 0);

  await full();
  assert.equal((await send('first-after-oom')).client.status, 200, 'decided from the tier');
  await until('the sync to notice', async () => (await ready()).store.sync?.degraded === 'store-sync', 15_000);
  const failing = vigil.lines.find((l) => l.msg === "store sync failing: deciding from this replica's own view");
  assert.ok(failing, 'the failure is logged');
  assert.match(JSON.stringify(failing), /OOM command not allowed/, 'by the error Redis gave');

  let first = 0;
  for (let i = 1; i <= 25 && first === 0; i++) {
    const r = await send('flood-while-oom');
    if (r.client.status === 429) first = i;
    else assert.equal(r.upstreamRequest?.headers.find(([k]) => k === 'x-vigil-degraded')?.[1], 'store-sync', `request ${i} is marked degraded`);
  }
  assert.equal(first, 21, 'the flood is throttled at its threshold while Redis refuses writes');
  assert.equal(await vigil.metric('vigil_fail_open_total'), 0, 'nothing allowed undecided');
  assert.equal(await vigil.metric('vigil_store_sync_dropped_total'), 0, 'refused, so kept: nothing dropped');
  assert.deepEqual(await admin.keys('vigil:*:penalty'), [], 'the penalty has not reached Redis yet');

  await admin.config('SET', 'maxmemory', '0');
  await until('the sync to recover', async () => {
    const r = await ready();
    return r.store.sync?.degraded === null && r.store.sync.dirtySubjects === 0;
  }, 30_000);
  assert.equal((await admin.keys('vigil:*:penalty')).length, 1, "the flood's penalty, set while Redis was full, reached it");
  assert.ok(vigil.lines.some((l) => l.msg === 'store sync recovered: decisions share state again'));
});
