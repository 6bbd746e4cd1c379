/**
 * Two real vigil processes sharing one Redis (docs/architecture.md, "Two tiers of state"): a flood split
 * evenly across them is throttled within the documented bound, and a penalty set on one applies on the
 * other at its next sync. The flood goes in rounds of K requests per replica, and each round waits for
 * two completed syncs on both replicas, so "what one sync interval lets through" is K by construction
 * and the test does not depend on how fast the machine is.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { predictableRate, tempDir, until } from '../helpers/policy-files.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startVigilProcess, type VigilProcess } from '../helpers/vigil-process.js';

/** The predictable rate detector fires at the 21st request of its minute (z = (n − 5) / 5 > 3). */
const THRESHOLD = 21;
const K = 4;

let redis: RedisServer;
let a: VigilProcess;
let b: VigilProcess;
let simA: EnvoySim;
let simB: EnvoySim;

before(async () => {
  redis = await startRedis();
  const dir = tempDir();
  const policy = join(dir, 'policy.yaml');
  writeFileSync(policy, `format: 1\ndetectors:\n${predictableRate('flood', 'throttle', { penalty: '5m' })}`);
  const env = { REDIS_URL: redis.url, VIGIL_KEY_SECRET: 'replicas-test-secret-0123456789', VIGIL_POLICY: policy, VIGIL_SYNC_MS: '20' };
  [a, b] = await Promise.all([startVigilProcess(env), startVigilProcess(env)]);
  const opts = { request_attributes: ['source.address'], message_timeout_ms: 10_000, failure_mode_allow: false };
  simA = new EnvoySim(a.target, opts);
  simB = new EnvoySim(b.target, opts);
  // The flood must not straddle a minute (the detector's bucket): start early in one.
  if (Date.now() % 60_000 > 40_000) await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 50));
});

after(async () => {
  simA?.close();
  simB?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

const send = (sim: EnvoySim, key: string) =>
  sim.exchange({ method: 'GET', path: '/api/items', headers: [['x-api-key', key]], sourceAddress: '203.0.113.50:4000' });

/** Waits until each replica has completed `n` more successful syncs. */
async function syncs(n: number): Promise<void> {
  const base = await Promise.all([a, b].map((v) => v.metric('vigil_store_sync_total', { result: 'ok' })));
  await until(`${n} more syncs on both replicas`, async () => {
    const now = await Promise.all([a, b].map((v) => v.metric('vigil_store_sync_total', { result: 'ok' })));
    return now.every((x, i) => x >= base[i]! + n);
  });
}

test('a flood split evenly across two replicas is throttled within threshold + what one sync interval lets through', async () => {
  let sent = 0;
  let first = 0;
  for (let round = 0; round < 20 && first === 0; round++) {
    for (const sim of [simA, simB]) {
      for (let i = 0; i < K && first === 0; i++) {
        sent++;
        const r = await send(sim, 'split-flood');
        assert.notEqual(r.outcome, 'reset', r.details);
        if (r.client.status === 429) first = sent;
      }
    }
    await syncs(2);
  }
  // Never earlier than one replica alone would throttle (nothing counted twice), and at most K
  // requests later (the other replica's requests not yet merged when the threshold was crossed).
  assert.ok(first >= THRESHOLD && first <= THRESHOLD + K, `first throttled at request ${first}, bound [${THRESHOLD}, ${THRESHOLD + K}]`);
  assert.equal(await a.metric('vigil_fail_open_total'), 0);
  assert.equal(await b.metric('vigil_fail_open_total'), 0);
});

test("a penalty set on one replica applies on the other at its next sync, without the other's own detectors", async () => {
  let first = 0;
  for (let i = 1; i <= 30 && first === 0; i++) if ((await send(simA, 'flood-on-a')).client.status === 429) first = i;
  assert.equal(first, THRESHOLD, 'replica A alone throttles at the threshold');
  await syncs(2);
  const setOnB = await b.metric('vigil_penalties_set_total');
  const r = await send(simB, 'flood-on-a');
  assert.equal(r.client.status, 429, "B enforces A's penalty");
  assert.equal(await b.metric('vigil_penalties_set_total'), setOnB, 'B did not set a penalty of its own: it holds A\'s');
});
