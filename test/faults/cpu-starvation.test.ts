/**
 * CPU starvation of vigil (its process gets no CPU for seconds: a container throttled by its CPU
 * limit, a long pause of the host; played here with SIGSTOP / SIGCONT on vigil) while a sync is in
 * flight and Redis answers it: the reply waits in vigil's socket while the sync's deadline passes.
 * The stall is vigil's own, not the store's: the answered sync is taken (no timeout, nothing dropped,
 * no connection reset, no "store sync failing"), requests after the stall are decided with the shared
 * state, and the stall is counted (`vigil_event_loop_stall_seconds`) and logged once.
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
  vigil = await startVigilProcess({ REDIS_URL: redis.url, VIGIL_KEY_SECRET: 'starved-test-secret-0123456789', VIGIL_POLICY: policy });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], failure_mode_allow: false, message_timeout_ms: 10_000 });
});
after(async () => {
  sim?.close();
  redis?.signal('SIGCONT');
  vigil?.child.kill('SIGCONT');
  await vigil?.stop();
  await redis?.stop();
});

const send = (key: string) => sim.exchange({ method: 'GET', path: '/api/items', headers: [['x-api-key', key]], sourceAddress: '203.0.113.72:4000' });
const ready = () => vigil.readyz();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SYNC_RESULTS = ['ok', 'timeout', 'not-ready', 'error'] as const;
const syncCounts = async () => Object.fromEntries(await Promise.all(SYNC_RESULTS.map(async (result) => [result, await vigil.metric('vigil_store_sync_total', { result })] as const)));

test('a starved vigil does not blame Redis: the sync answered during the stall is taken', async () => {
  await until('the store to be up', async () => (await ready()).store.up);
  assert.equal((await send('warm')).client.status, 200);
  await until('the warm-up to be synced', async () => (await ready()).store.sync?.dirtySubjects === 0);

  // A sync in flight: Redis paused, a new subject (its early sync is sent at once and waits).
  assert.ok(redis.signal('SIGSTOP'));
  assert.equal((await send('during-stall')).client.status, 200);
  await sleep(300); // vigil's loop runs: the early sync goes out and waits on the paused Redis
  const before = await syncCounts();

  // vigil starved for longer than the sync deadline (2 s); Redis answers meanwhile.
  assert.ok(vigil.child.kill('SIGSTOP'));
  assert.ok(redis.signal('SIGCONT'));
  await sleep(3500);
  assert.ok(vigil.child.kill('SIGCONT'));

  await until('the sync to be answered', async () => (await ready()).store.sync?.dirtySubjects === 0, 15_000);
  const afterStall = await syncCounts();
  assert.equal(afterStall.timeout, before.timeout, 'no sync counted as timed out: Redis answered, vigil was stalled');
  assert.equal(afterStall.error, before.error);
  assert.equal(await vigil.metric('vigil_store_sync_dropped_total'), 0, 'nothing dropped');
  assert.ok(!vigil.lines.some((l) => l.msg === "store sync failing: deciding from this replica's own view"), 'no sync failure logged');
  assert.equal((await ready()).store.sync?.degraded, null);
  const stalls = await vigil.metric('vigil_event_loop_stall_seconds_count');
  assert.ok(stalls - (await vigil.metric('vigil_event_loop_stall_seconds_bucket', { le: '2' })) >= 1, 'the stall is counted, as one of over 2 s');
  assert.ok(vigil.lines.some((l) => l.kind === 'event-loop-stall' && l.stalledMs >= 2000), 'and is logged');
  assert.equal((await send('after-stall')).client.status, 200);
  assert.equal(await vigil.metric('vigil_fail_open_total'), 0, 'nothing allowed undecided');
});
