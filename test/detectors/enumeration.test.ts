import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EnumerationDetector } from '../../src/detectors/enumeration.js';
import { evaluateDetectors } from '../../src/detectors/engine.js';
import { ConfigError } from '../../src/errors.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { buildExchange, play, policyFrom } from '../helpers/exchange.js';

/** A day boundary, so every window (10 min, 1 day) starts here and sliding counts are exact. */
const T0 = 19_675 * 86_400_000;

const ENDPOINTS = `format: 1
endpoints:
  - name: orders
    match: {path: '/api/orders/{id}', methods: [GET]}
    object_read: {id: param:id}
  - name: invoices
    match: {path: '/api/invoices/{id}'}
    object_read: {id: param:id}
    sensitivity: 2
  - name: profile
    match: {path: '/api/profile/{id}'}
detectors:
`;
const policyWith = (detector: string) => policyFrom(`${ENDPOINTS}  - ${detector}\n`);
const only = (p: ReturnType<typeof policyFrom>) => p.detectors[0] as EnumerationDetector;

test('distinct ids: quiet at exactly the threshold, fires above it, on the reading identity only', async () => {
  const p = policyWith('{name: bola, type: enumeration, action: block, learn_population: false, population_z: 0}');
  const store = new MemoryStore();
  for (let id = 1; id <= 30; id++) {
    const r = await play(p, store, { path: `/api/orders/${id}`, identity: 'mallory' }, T0 + id);
    const s = r.request.signals[0]!;
    assert.equal(s.signal, 'distinct-ids');
    assert.equal(s.value, id);
    assert.equal(s.threshold, 30);
    assert.equal(s.fired, false, `id ${id}`);
    assert.equal(r.decision.action, 'allow');
  }
  const fired = await play(p, store, { path: '/api/orders/31', identity: 'mallory' }, T0 + 31);
  const s = fired.request.signals[0]!;
  assert.deepEqual(
    { signal: s.signal, value: s.value, threshold: s.threshold, score: s.score, windowMs: s.windowMs, fired: s.fired, baseline: s.baseline },
    { signal: 'distinct-ids', value: 31, threshold: 30, score: 31, windowMs: 600_000, fired: true, baseline: 10 },
  );
  assert.equal(fired.decision.action, 'block');
  assert.deepEqual(fired.request.newPenalties.map((n) => [n.subject, n.detector, n.action]), [['api-key:mallory', 'bola', 'block']]);
  // Another caller reading the same ids is untouched.
  const other = await play(p, store, { path: '/api/orders/31', identity: 'alice' }, T0 + 32);
  assert.equal(other.decision.action, 'allow');
  assert.equal(other.request.signals[0]!.value, 1);
});

test('re-reading the same ids never raises the count; no distinct-ids measure when it was not read', async () => {
  const p = policyWith('{name: bola, type: enumeration, action: block, population_z: 0}');
  const store = new MemoryStore();
  for (let round = 0; round < 50; round++) {
    for (let id = 1; id <= 10; id++) {
      const r = await play(p, store, { path: `/api/orders/${id}`, identity: 'busy' }, T0 + round * 1000 + id, 200);
      const s = r.request.signals[0]!;
      assert.equal(s.fired, false);
      // A new id: the distinct count, read; a known one: not read, so only the deny-ratio measure is left.
      assert.deepEqual([s.signal, s.value], round === 0 ? ['distinct-ids', id] : ['deny-ratio', 0]);
    }
  }
});

test('threshold: the initial prior gives max(min, min/3·(1 + z)), capped by max_distinct, divided by sensitivity', () => {
  const p = policyWith('{name: bola, type: enumeration, action: block}');
  const d = only(p);
  assert.equal(d.distinctThreshold(buildExchange(p, { path: '/api/orders/1' })), 50);
  assert.equal(d.distinctThreshold(buildExchange(p, { path: '/api/invoices/1' })), 25);
  const capped = policyWith('{name: bola, type: enumeration, action: block, max_distinct: 40}');
  assert.equal(only(capped).distinctThreshold(buildExchange(capped, { path: '/api/orders/1' })), 40);
});

test('the population of subjects moves the threshold of its endpoint group', async () => {
  const p = policyWith('{name: bola, type: enumeration, action: block}');
  const d = only(p);
  const store = new MemoryStore();
  // 25 identities each read 120 distinct orders in the first window, then one in the next: 25 closed windows of ~120.
  for (let k = 0; k < 25; k++) {
    for (let id = 1; id <= 120; id++) {
      await evaluateDetectors(p.detectors, buildExchange(p, { path: `/api/orders/${id}`, identity: `u${k}` }), ['request'], store, T0 + id, { readIdentity: true });
    }
  }
  for (let k = 0; k < 25; k++) {
    const r = await evaluateDetectors(p.detectors, buildExchange(p, { path: '/api/orders/1', identity: `u${k}` }), ['request'], store, T0 + 600_000 + k, { readIdentity: true });
    assert.equal(r.signals[0]!.fired, false);
  }
  await d.background(store, T0 + 600_100);
  const t = d.distinctThreshold(buildExchange(p, { path: '/api/orders/1' }));
  assert.ok(t > 110 && t < 130, `threshold ${t}`);
  // Another group keeps the configured prior.
  assert.equal(d.distinctThreshold(buildExchange(p, { path: '/api/invoices/1' })), 25);
});

test('deny ratio: needs min_responses, fires above the ratio, and the next request is blocked', async () => {
  const p = policyWith('{name: bola, type: enumeration, action: block, learn_population: false}');
  const store = new MemoryStore();
  let t = T0;
  // 10 of the first 20 responses are 404: a ratio of exactly 0.5 is not above 0.5.
  for (let i = 1; i <= 20; i++) {
    const r = await play(p, store, { path: `/api/orders/${i % 5}`, identity: 'mallory' }, ++t, i % 2 === 0 ? 404 : 200);
    const s = r.response!.signals[0]!;
    assert.equal(s.signal, 'deny-ratio');
    assert.equal(s.fired, false, `response ${i}`);
    if (i === 20) assert.deepEqual([s.value, s.baseline, s.score, s.threshold], [10, 20, 0.5, 0.5]);
  }
  // One more denial: 11 / 21 > 0.5.
  const over = await play(p, store, { path: '/api/orders/1', identity: 'mallory' }, ++t, 403);
  assert.equal(over.response!.signals[0]!.fired, true);
  assert.deepEqual(over.response!.newPenalties.map((n) => n.subject), ['api-key:mallory']);
  const next = await play(p, store, { path: '/api/orders/2', identity: 'mallory' }, ++t);
  assert.equal(next.decision.action, 'block');
  assert.equal(next.request.signals[0]!.signal, 'deny-ratio');
  assert.equal(next.request.signals[0]!.fired, true);
});

test('deny ratio below min_responses never fires, even at 100%', async () => {
  const p = policyWith('{name: bola, type: enumeration, action: block, learn_population: false, min_responses: 20}');
  const store = new MemoryStore();
  for (let i = 1; i <= 19; i++) {
    const r = await play(p, store, { path: `/api/orders/${i}`, identity: 'mallory' }, T0 + i, 404);
    assert.equal(r.response!.signals[0]!.fired, false);
    assert.equal(r.response!.signals[0]!.score, 0);
  }
  const r = await play(p, store, { path: '/api/orders/20', identity: 'mallory' }, T0 + 20, 404);
  assert.equal(r.response!.signals[0]!.fired, true);
});

test('applies only to object_read endpoints with an id, in its endpoint groups', () => {
  const p = policyWith('{name: bola, type: enumeration, action: block, endpoints: [orders]}');
  const d = only(p);
  assert.ok(d.plan(buildExchange(p, { path: '/api/orders/7' }), 'request'));
  assert.equal(d.plan(buildExchange(p, { path: '/api/invoices/7' }), 'request'), null, 'not in endpoints');
  assert.equal(d.plan(buildExchange(p, { path: '/api/profile/7' }), 'request'), null, 'no object_read role');
  assert.equal(d.plan(buildExchange(p, { path: '/api/orders/7', method: 'POST' }), 'request'), null, 'other group');
  assert.equal(d.plan(buildExchange(p, { path: '/api/orders/7' }), 'response'), null, 'no response yet');
});

test('client-ip subject: the penalty lands on the IP, whatever the identity', async () => {
  const p = policyWith('{name: bola, type: enumeration, subject: client-ip, action: throttle, learn_population: false, population_z: 0, min_distinct: 5}');
  const store = new MemoryStore();
  let last;
  for (let id = 1; id <= 6; id++) last = await play(p, store, { path: `/api/orders/${id}`, identity: `key${id}`, ip: '198.51.100.9' }, T0 + id);
  assert.deepEqual(last!.request.newPenalties.map((n) => n.subject), ['cip:198.51.100.9']);
});

test('a tag detector fires and sets a mark (a tag penalty, level 0) for its penalty duration', async () => {
  const p = policyWith('{name: bola, type: enumeration, action: tag, learn_population: false, population_z: 0, min_distinct: 2}');
  const store = new MemoryStore();
  let last;
  for (let id = 1; id <= 3; id++) last = await play(p, store, { path: `/api/orders/${id}`, identity: 'm' }, T0 + id);
  assert.equal(last!.request.signals[0]!.fired, true);
  assert.equal(last!.decision.action, 'tag');
  assert.deepEqual(
    last!.request.newPenalties.map((x) => [x.action, x.detector, x.level, x.untilMs - x.sinceMs]),
    [['tag', 'bola', 0, 300_000]],
  );
});

test('policy: defaults and bounds', () => {
  const c = only(policyWith('{name: bola, type: enumeration, action: block}')).config;
  assert.deepEqual(
    { ...c, endpoints: undefined },
    {
      name: 'bola', type: 'enumeration', subject: 'identity', action: 'block', penaltyMs: 300_000, shadow: false, enforcePercent: 100, endpoints: undefined,
      windowMs: 600_000, maxDistinct: 200, minDistinct: 30, populationZ: 4, learnPopulation: true, denyStatuses: [403, 404], denyRatio: 0.5, minResponses: 20,
    },
  );
  const bad = (fields: string) => {
    try {
      policyWith(`{name: bola, type: enumeration, action: block, ${fields}}`);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    return [];
  };
  assert.deepEqual(bad('max_distinct: 0'), ['policy.yaml: detectors[0] (bola).max_distinct: must be an integer from 1 to 1000000']);
  assert.deepEqual(bad('min_distinct: 50, max_distinct: 40'), ['policy.yaml: detectors[0] (bola).min_distinct: must not be above max_distinct (40)']);
  assert.deepEqual(bad('deny_statuses: []'), ['policy.yaml: detectors[0] (bola).deny_statuses: must list at least one status']);
  assert.deepEqual(bad('deny_ratio: 0'), ['policy.yaml: detectors[0] (bola).deny_ratio: must be a number from 0.01 to 1']);
  assert.deepEqual(bad('window: 30s'), ['policy.yaml: detectors[0] (bola).window: must be from 1m to 1d']);
  assert.deepEqual(bad('subject: username'), ['policy.yaml: detectors[0] (bola).subject: must be one of identity, client-ip, ip-prefix for enumeration']);
  assert.deepEqual(bad('max_ids: 3'), ['policy.yaml: detectors[0] (bola).max_ids: unknown field']);
});
