/**
 * Redis frozen (SIGSTOP: the connection stays open, nothing answers) under a running vigil: every
 * request is still decided by vigil (a flood throttled at its threshold), nothing is allowed undecided,
 * the upstream is told `x-vigil-degraded: store-sync`; once Redis is thawed the sync recovers by itself
 * (the unanswered sync was abandoned at its deadline and the connection reset) and nothing is left
 * unsent.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { predictableRate, tempDir, until } from '../helpers/policy-files.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startVigilProcess, type VigilProcess } from '../helpers/vigil-process.js';

let redis: RedisServer;
let vigil: VigilProcess;
let sim: EnvoySim;

before(async () => {
  redis = await startRedis();
  const policy = join(tempDir(), 'policy.yaml');
  writeFileSync(policy, `format: 1\ndetectors:\n${predictableRate('flood', 'throttle', { penalty: '5m' })}`);
  vigil = await startVigilProcess({ REDIS_URL: redis.url, VIGIL_KEY_SECRET: 'frozen-test-secret-0123456789', VIGIL_POLICY: policy });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], failure_mode_allow: false, message_timeout_ms: 10_000 });
  // The flood must not straddle a minute (the detector's bucket).
  if (Date.now() % 60_000 > 35_000) await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 50));
});
after(async () => {
  sim?.close();
  redis?.signal('SIGCONT');
  await vigil?.stop();
  await redis?.stop();
});

const send = (key: string) => sim.exchange({ method: 'GET', path: '/api/items', headers: [['x-api-key', key]], sourceAddress: '203.0.113.70:4000' });
const ready = () => vigil.readyz();

test('Redis frozen: decisions go on from the tier, degraded is said; thawed: the sync recovers by itself', async () => {
  await until('the store to be up', async () => (await ready()).store.up);
  assert.equal((await send('warm')).client.status, 200);
  assert.ok(redis.signal('SIGSTOP'));
  await until('the sync to notice', async () => (await ready()).store.sync?.degraded === 'store-sync', 15_000);

  let first = 0;
  for (let i = 1; i <= 25 && first === 0; i++) {
    const r = await send('flood-while-frozen');
    if (r.client.status === 429) first = i;
    else {
      const degraded = r.upstreamRequest?.headers.find(([k]) => k === 'x-vigil-degraded')?.[1];
      if (degraded !== 'store-sync') {
        const syncs = await Promise.all(['ok', 'timeout', 'not-ready', 'error'].map(async (result) => `${result}=${await vigil.metric('vigil_store_sync_total', { result })}`));
        assert.fail(`request ${i}: x-vigil-degraded ${String(degraded)}; readyz ${(await vigil.admin('/readyz')).body}; syncs ${syncs.join(' ')}; log ${JSON.stringify(vigil.lines.slice(-5))}`);
      }
    }
  }
  assert.equal(first, 21, 'the flood is throttled at its threshold with Redis frozen');
  assert.equal(await vigil.metric('vigil_fail_open_total'), 0, 'nothing allowed undecided');
  assert.ok((await vigil.metric('vigil_store_sync_total', { result: 'timeout' })) >= 1, 'the unanswered sync was abandoned at its deadline');

  assert.ok(redis.signal('SIGCONT'));
  await until('the sync to recover', async () => {
    const r = await ready();
    return r.store.up && r.store.sync?.degraded === null && r.store.sync.dirtySubjects === 0;
  }, 30_000);
  assert.ok(vigil.lines.some((l) => l.msg === 'store sync recovered: decisions share state again'));
});
