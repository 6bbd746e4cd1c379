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
 * Decisions run on a manual clock that starts on a minute boundary and moves 5 ms per request, so the
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
  // Fail-closed on purpose: had vigil not answered within message_timeout, Envoy would reply 504. Ten times
  // the store deadline: a store that hangs still shows, a loaded machine's slow answer does not.
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
const ready = async () => JSON.parse((await vigil.admin('/readyz')).body) as { serving: boolean; store: { up: boolean; breaker: string } };
const send = (key: string) => {
  clock.advance(5);
  return sim.exchange({ method: 'GET', path: '/api/a/1', headers: [['x-api-key', key]], sourceAddress: '203.0.113.9:1234' });
};

test('Redis stopped and restarted mid-traffic: every request is answered in time, decisions resume', async () => {
  await until('the store to be up', async () => (await ready()).store.up);
  for (let i = 0; i < 20; i++) assert.equal((await send('k1')).client.status, 200);
  assert.equal(await vigil.metric('vigil_fail_open_total'), 0);

  await redis.stop();
  for (let i = 0; i < 60; i++) {
    const r = await send(`k2-${i % 5}`);
    assert.equal(r.outcome, 'passed', `request ${i} while Redis is down: ${r.details ?? ''}`);
    assert.ok(r.upstreamRequest, `request ${i} reached the upstream`);
  }
  assert.ok((await vigil.metric('vigil_fail_open_total')) >= 60, 'every request failed open');
  assert.ok((await vigil.metric('vigil_fail_open_total', { reason: 'breaker-open' })) > 0, 'the breaker opened');
  // One log line per transition, none per request. The breaker tries the store again every 300 ms, so how
  // often it reopened depends on how long the 60 requests took: every reopening follows a half-open trial.
  const opened = vigil.logs.find('store breaker opened: failing open').length;
  const halfOpen = vigil.logs.find('store breaker half-open: trying the store again').length;
  assert.ok(opened >= 1, 'the breaker opened, and said so');
  assert.ok(opened === halfOpen + 1 || opened === halfOpen, `one log line per transition: opened ${opened} times, half-open ${halfOpen}`);
  await until('/readyz to report the store down', async () => {
    const r = await ready();
    return r.serving && !r.store.up;
  });
  assert.equal((await vigil.admin('/readyz')).status, 200, 'readiness stays 200: vigil fails open by design');

  await redis.start();
  await until('the store to be up again', async () => (await ready()).store.up);
  assert.ok(vigil.logs.find('store breaker closed: store healthy').length >= 1);
  // State works again: a flood is throttled at min_count as before.
  const failOpenBefore = await vigil.metric('vigil_fail_open_total');
  let first: number | null = null;
  for (let i = 1; i <= 125 && first === null; i++) if ((await send('flooder')).client.status === 429) first = i;
  assert.equal(first, 120);
  assert.equal(await vigil.metric('vigil_fail_open_total'), failOpenBefore);
});
