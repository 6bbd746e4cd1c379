import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allowedCount, type RateBaselineDetector } from '../../src/detectors/rate-baseline.js';
import { hourOfWeek } from '../../src/detectors/seasonal.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { buildExchange, play, policyFrom } from '../helpers/exchange.js';

/** Monday 2026-11-02 09:00 UTC: a bucket boundary, hour of the week 9. */
const MON9 = Date.parse('2026-11-02T09:00:00Z');
const MIN = 60_000;
const WEEK = 7 * 24 * 60 * MIN;

const HEAD = `format: 1
endpoints:
  - { name: orders, match: { path: "/api/orders/**" } }
  - { name: search, match: { path: "/api/search" } }
detectors:
`;

/** n requests of one identity spread over the minute starting at t. */
async function minute(p: ReturnType<typeof policyFrom>, store: MemoryStore, t: number, n: number, path: string) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await play(p, store, { path, identity: 'steady' }, t + Math.floor((i * MIN) / Math.max(n, 1))));
  return out;
}

test('per_endpoint keeps one baseline per endpoint group; without it, traffic across groups adds up', async () => {
  for (const perEndpoint of [false, true]) {
    const p = policyFrom(`${HEAD}  - {name: rate, type: rate-baseline, action: throttle, prior_weight: 0, per_endpoint: ${perEndpoint}}\n`);
    const store = new MemoryStore();
    for (let m = 0; m < 30; m++) await minute(p, store, MON9 + m * MIN, 100, '/api/orders/1');
    // A new minute: the usual 100 on orders, plus 100 on search.
    const orders = await minute(p, store, MON9 + 30 * MIN, 100, '/api/orders/1');
    const search = await minute(p, store, MON9 + 30 * MIN + 1, 100, '/api/search');
    const fired = [...orders, ...search].filter((r) => r.request.signals[0]!.fired).length;
    if (perEndpoint) {
      assert.equal(fired, 0, 'each group within its own normal (search: 100 < min_count 120)');
      assert.equal(search.at(-1)!.request.signals[0]!.value, 100);
    } else {
      // The combined count against a baseline of 100/min (sd = √100 = 10 by the Poisson floor): z > 3 at
      // 131 requests, i.e. the 31st search request.
      assert.ok(fired > 0, 'the combined rate fires');
      assert.equal(search.findIndex((r) => r.request.signals[0]!.fired), 30);
    }
  }
});

test('the ratio rule: fires on the request that takes the bucket above ratio_k × the average, not before', async () => {
  const p = policyFrom(`${HEAD}  - {name: rate, type: rate-baseline, action: throttle, rule: ratio, ratio_k: 3, min_count: 10, prior_weight: 0}\n`);
  const store = new MemoryStore();
  for (let m = 0; m < 30; m++) await minute(p, store, MON9 + m * MIN, 20, '/api/orders/1');
  const burst = await minute(p, store, MON9 + 30 * MIN, 61, '/api/orders/1');
  const s60 = burst[59]!.request.signals[0]!;
  assert.deepEqual([s60.signal, s60.value, s60.baseline, s60.score, s60.fired], ['rate-ratio', 60, 20, 3, false]);
  const s61 = burst[60]!.request.signals[0]!;
  assert.deepEqual([s61.value, s61.score, s61.fired], [61, 3.05, true]);
  assert.equal(s61.limit, 60, 'RateLimit quota: ratio_k × average');
  assert.equal(burst[60]!.request.newPenalties[0]?.detector, 'rate');
});

test('the RateLimit quota is the count the bucket allows: the last request that does not fire, on both sides of min_count', async () => {
  // min_count above μ + 3σ: the min_count-th request fires, so the quota is min_count − 1.
  const p = policyFrom(`${HEAD}  - {name: rate, type: rate-baseline, action: throttle, min_count: 30, learn_population: false}\n`);
  const store = new MemoryStore();
  const burst = await minute(p, store, MON9, 31, '/api/orders/1');
  const firstFired = burst.findIndex((r) => r.request.signals[0]!.fired) + 1;
  assert.equal(firstFired, 30, 'fires at min_count');
  assert.ok(burst.every((r) => r.request.signals[0]!.limit === 29), 'quota: min_count − 1');
  // μ + 3σ above min_count (μ 5, σ 5 → 20 allowed): the 21st fires.
  const q = policyFrom(`${HEAD}  - {name: rate, type: rate-baseline, action: throttle, min_count: 10, learn_population: false}\n`);
  const again = await minute(q, new MemoryStore(), MON9, 22, '/api/orders/1');
  assert.equal(again.findIndex((r) => r.request.signals[0]!.fired) + 1, 21);
  assert.equal(again[0]!.request.signals[0]!.limit, 20);
});

test('allowedCount agrees with the firing rule on every boundary', () => {
  for (const ratio of [false, true]) {
    for (const mean of [0, 0.4, 1, 5, 19.999999999999996, 20, 37.25]) {
      for (const sd of [0.5, 2, Math.sqrt(30), 5, 7.000000000000001]) {
        for (const threshold of [0.5, 2.5, 3, 3.0000000000000004]) {
          for (const minCount of [1, 2, 10, 120]) {
            const score = (n: number) => (ratio ? n / Math.max(mean, 1) : (n - mean) / sd);
            const fires = (n: number) => n >= minCount && score(n) > threshold;
            const got = allowedCount(ratio, mean, sd, threshold, minCount)!;
            const where = JSON.stringify({ ratio, mean, sd, threshold, minCount, got });
            assert.ok(!fires(got) && fires(got + 1), where);
            for (let n = 1; n <= got; n++) assert.ok(!fires(n), `${where}: ${n} fires`);
          }
        }
      }
    }
  }
  assert.equal(allowedCount(false, 0, 0, 3, 10), null, 'sd 0: no count fires, no quota');
});

test('seasonal: one baseline per hour of the week, kept across the week-long gap', async () => {
  const p = policyFrom(`${HEAD}  - {name: rate, type: rate-baseline, action: throttle, seasonal: true, learn_population: false}\n`);
  const d = p.detectors[0] as RateBaselineDetector;
  assert.equal(hourOfWeek(MON9), 9);
  assert.equal(hourOfWeek(Date.parse('2026-11-08T23:30:00Z')), 167, 'Sunday 23:00 is the last hour');
  const plan = d.plan(buildExchange(p, { path: '/api/orders/1', identity: 'steady' }), 'request', MON9);
  assert.ok(plan && !Array.isArray(plan));
  assert.equal(plan.ops[0]!.kind === 'rate' && plan.ops[0]!.name, 'rate:how9');

  const store = new MemoryStore();
  // Week 1: Monday 09:00–09:59 at 100/min.
  for (let m = 0; m < 60; m++) await minute(p, store, MON9 + m * MIN, 100, '/api/orders/1');
  // Week 2, same hour: the baseline is still 100 (the week between was not folded in as zeros)…
  const again = await minute(p, store, MON9 + WEEK, 100, '/api/orders/1');
  assert.equal(again[0]!.request.signals[0]!.baseline, 100);
  assert.ok(again.every((r) => !r.request.signals[0]!.fired));
  // …while 10:00, never seen, starts from the configured prior (mean 5) and a flood there fires at min_count.
  const ten = await minute(p, store, MON9 + WEEK + 60 * MIN, 130, '/api/orders/1');
  assert.equal(ten[0]!.request.signals[0]!.baseline, 5);
  assert.equal(ten.findIndex((r) => r.request.signals[0]!.fired), 119);
});
