import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { startRedis } from '../helpers/redis-server.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';

let redis: RedisServer;
let vigil: TestVigil;
let sim: EnvoySim;
/**
 * Redis going away and coming back (the fail-open file keeps its name: Envoy's failure_mode_allow is
 * what remains when vigil itself is gone). Decisions run on a manual clock that starts on a minute boundary and moves 5 ms per request, so the
 * flood below never straddles a rate bucket (on the wall clock it could, about once in fifty runs).
 * The breaker and the store deadline keep real time.
 */
const clock = new ManualClock(Date.parse('2026-11-02T10:00:00Z'));

before(async () => {
  redis = await startRedis();
  vigil = await startTestVigil({
    // A store deadline a loaded machine's healthy Redis always meets (a missed one would fail open and
    // shift the flood's count below), still far below the message timeout.
    env: { REDIS_URL: redis.url, VIGIL_STORE_TIMEOUT_MS: '1000', VIGIL_BREAKER_RESET_MS: '300' },
    clock,
  });
  // Fail-closed on purpose: had vigil not answered, Envoy would reply 504. The timeout is generous: the
  // request path never waits on Redis, and this test is about behaviour, not how fast a loaded machine is.
  sim = new EnvoySim(vigil.target, { failure_mode_allow: false, message_timeout_ms: 10_000, request_attributes: ['source.address'] });
});
after(async () => {
  sim.close();
  await vigil.shutdown();
  await redis.stop();
});

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}
const ready = async () =>
  JSON.parse((await vigil.admin('/readyz')).body) as { serving: boolean; store: { up: boolean; breaker: string; sync?: { degraded: string | null; dirtySubjects: number } } };
const send = (key: string) => {
  clock.advance(5);
  return sim.exchange({ method: 'GET', path: '/api/a/1', headers: [['x-api-key', key]], sourceAddress: '203.0.113.9:1234' });
};

test('Redis stopped and restarted mid-traffic: decisions go on from the in-process tier, the upstream is told, state is shared again after', async () => {
  await until('the store to be up', async () => (await ready()).store.up);
  for (let i = 0; i < 20; i++) assert.equal((await send('k1')).client.status, 200);
  assert.equal(await vigil.metric('vigil_fail_open_total'), 0);

  await redis.stop();
  await until('/readyz to report the store down', async () => {
    const r = await ready();
    return r.serving && !r.store.up && r.store.sync?.degraded === 'store-sync';
  });
  assert.equal((await vigil.admin('/readyz')).status, 200, 'readiness stays 200: vigil decides on by itself');
  // A flood while Redis is away is still throttled at min_count, from this replica's own view.
  let first: number | null = null;
  for (let i = 1; i <= 125 && first === null; i++) {
    const r = await send('flooder-while-down');
    assert.notEqual(r.outcome, 'reset', `request ${i} while Redis is down: ${r.details ?? ''}`);
    if (r.client.status === 429) first = i;
    else assert.equal(r.upstreamRequest?.headers.find(([k]) => k === 'x-vigil-degraded')?.[1], 'store-sync', `request ${i} tells the upstream`);
  }
  assert.equal(first, 120);
  assert.equal(await vigil.metric('vigil_fail_open_total'), 0, 'nothing was allowed undecided');
  assert.equal(vigil.logs.find("store sync failing: deciding from this replica's own view").length, 1, 'one log line per transition');

  await redis.start();
  await until('the store to be up again', async () => (await ready()).store.up);
  await until('the changes made meanwhile to reach Redis', async () => (await ready()).store.sync?.dirtySubjects === 0);
  assert.ok(vigil.logs.find('store sync recovered: decisions share state again').length >= 1);
  // Shared state works again: a new flood is throttled at min_count, and no longer degraded.
  first = null;
  for (let i = 1; i <= 125 && first === null; i++) {
    const r = await send('flooder');
    if (r.client.status === 429) first = i;
    else if (i > 1) assert.equal(r.upstreamRequest?.headers.find(([k]) => k === 'x-vigil-degraded'), undefined);
  }
  assert.equal(first, 120);
  assert.equal(await vigil.metric('vigil_fail_open_total'), 0);
});
