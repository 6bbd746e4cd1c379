import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EndpointSurgeDetector, failed, succeeded, twoWindowCount } from '../../src/detectors/endpoint-surge.js';
import type { RateOp } from '../../src/state/store.js';
import { ConfigError } from '../../src/errors.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import type { StateStore } from '../../src/state/store.js';
import { buildExchange, play, policyFrom, withResponse, type Played } from '../helpers/exchange.js';

/** A week boundary (a Thursday, 00:00 UTC), so the 7-day history window starts here. */
const T0 = 2_811 * 7 * 86_400_000;
const MIN = 60_000;

const HEAD = `format: 1
endpoints:
  - name: login
    match: {path: '/login', methods: [POST]}
    login: {username: {json: user}, failure: {status: [401]}}
  - name: sso
    match: {path: '/sso', methods: [POST]}
    login: {username: {json: user}, failure: {header: {name: x-login-failed}}}
  - name: admin
    match: {path: '/admin/login'}
    sensitivity: 2
detectors:
`;
type P = ReturnType<typeof policyFrom>;
const policyWith = (detector: string) => policyFrom(`${HEAD}  - ${detector}\n`);
const SURGE = '{name: surge, type: endpoint-surge, action: challenge}';

const knownIp = (k: number) => `10.1.0.${k + 1}`;
const newIp = (j: number) => `203.0.${Math.floor(j / 250)}.${(j % 250) + 1}`;

/** `users` known users logging in once a minute each (status from `status`), minutes [from, to). */
async function background(p: P, store: StateStore, path: string, users: number, from: number, to: number, status: (k: number) => number = () => 200): Promise<void> {
  for (let m = from; m < to; m++) {
    for (let k = 0; k < users; k++) {
      const r = await play(p, store, { method: 'POST', path, ip: knownIp(k), username: `u${k}` }, T0 + m * MIN + Math.floor((k * MIN) / users), status(k));
      assert.equal(r.decision.action, 'allow', `background minute ${m} user ${k}`);
    }
  }
}

test('attempts: during a surge newcomers are challenged and known-good users pass', async () => {
  const p = policyWith(SURGE);
  const store = new MemoryStore();
  await background(p, store, '/login', 20, 0, 40);
  // Minute 40: the 20 regulars, and 100 newcomers with one failing attempt each, interleaved.
  const at = T0 + 40 * MIN;
  const results: Array<{ who: 'new' | 'known'; j: number; r: Played }> = [];
  for (let j = 0; j < 100; j++) {
    results.push({ who: 'new', j, r: await play(p, store, { method: 'POST', path: '/login', ip: newIp(j), username: `x${j}` }, at + j * 500, 401) });
    if (j % 5 === 0) {
      const k = j / 5;
      results.push({ who: 'known', j, r: await play(p, store, { method: 'POST', path: '/login', ip: knownIp(k), username: `u${k}` }, at + j * 500 + 1, 200) });
    }
  }
  for (const [n, { who, j, r }] of results.entries()) {
    const s = r.request.signals[0]!;
    assert.equal(s.signal, 'endpoint-surge');
    // The last minute: this minute's attempts so far, and minute 39's 20 as far as they are still in it.
    assert.ok(Math.abs(s.value - (n + 1 + 20 * (1 - (j * 500) / MIN))) < 0.01, `attempt ${n + 1}: ${s.value}`);
    assert.ok(Math.abs(s.score - (s.value - 20) / Math.sqrt(20)) < 0.01);
    assert.equal(s.fired, s.value >= 60 && s.score > 4 && who === 'new', `attempt ${n + 1} (${who}): z ${s.score}`);
    assert.equal(r.decision.action, s.fired ? 'challenge' : 'allow');
    assert.equal(r.request.newPenalties.length, 0, 'no penalty: the action is per request');
  }
  const first = results.find(({ r }) => r.request.signals[0]!.fired)!.r.request.signals[0]!;
  assert.deepEqual([first.baseline, first.threshold, first.windowMs], [20, 4, MIN]);
  assert.ok(first.value >= 60 && first.value < 61, String(first.value));
  const challenged = results.filter(({ r }) => r.decision.action === 'challenge').length;
  assert.ok(challenged > 50 && challenged < 65, String(challenged));

  // A new minute starts mid-surge: the last minute still holds ~120 attempts, so the first newcomer
  // of minute 41 is challenged at once, while a regular passes.
  const early = await play(p, store, { method: 'POST', path: '/login', ip: newIp(500), username: 'early' }, T0 + 41 * MIN + 100, 401);
  assert.equal(early.decision.action, 'challenge');
  assert.ok(early.request.signals[0]!.value > 115, String(early.request.signals[0]!.value));

  // Ten minutes after the surge, a newcomer at the normal rate passes (the clamp kept the baseline).
  await background(p, store, '/login', 20, 41, 50);
  const late = await play(p, store, { method: 'POST', path: '/login', ip: newIp(999), username: 'late' }, T0 + 50 * MIN + 30_000, 200);
  assert.equal(late.decision.action, 'allow');
  assert.ok(late.request.signals[0]!.baseline < 25, String(late.request.signals[0]!.baseline));
});

test('near misses: a busier minute within the spread, and a surge below min_count', async () => {
  const p = policyWith(SURGE);
  const store = new MemoryStore();
  await background(p, store, '/login', 50, 0, 30);
  // Right after minute 29's 50 attempts, 25 newcomers: 75 in the last minute, z = 25 / √50 ≈ 3.5.
  let last: Played | null = null;
  for (let j = 0; j < 25; j++) last = await play(p, store, { method: 'POST', path: '/login', ip: newIp(j), username: `x${j}` }, T0 + 30 * MIN + j, 200);
  const s = last!.request.signals[0]!;
  assert.ok(Math.abs(s.value - 75) < 0.1, String(s.value));
  assert.ok(s.score > 3.4 && s.score < 4, String(s.score));
  assert.equal(s.fired, false);

  // A quiet admin endpoint (sensitivity 2: min_count 30, z > 2): 2 a minute, then 40 newcomers at once.
  const quiet = new MemoryStore();
  await background(p, quiet, '/admin/login', 2, 0, 30);
  const fired: number[] = [];
  for (let j = 0; j < 40; j++) {
    const r = await play(p, quiet, { method: 'POST', path: '/admin/login', ip: newIp(j) }, T0 + 30 * MIN + j, 401);
    const sig = r.request.signals[0]!;
    assert.equal(sig.threshold, 2);
    if (j >= 5) assert.ok(sig.score > 2, 'z is high from the 6th attempt…');
    if (sig.fired) fired.push(j);
  }
  // …but the volume reaches min_count / sensitivity only at the 28th (27 + 2 × (1 − ε) < 30 before).
  assert.deepEqual([fired[0], fired.length], [28, 12]);
});

test('failures: attempts stay level, failures surge; read at the request, counted at the response', async () => {
  const p = policyWith('{name: surge, type: endpoint-surge, action: challenge, measure: failures}');
  const store = new MemoryStore();
  // 30 logins a minute, of which 2 mistyped passwords.
  await background(p, store, '/login', 30, 0, 40, (k) => (k < 2 ? 401 : 200));
  const at = T0 + 40 * MIN;
  let firstFired = -1;
  for (let j = 0; j < 90; j++) {
    const r = await play(p, store, { method: 'POST', path: '/login', ip: newIp(j), username: `x${j}` }, at + j * 100, 401);
    const s = r.request.signals[0]!;
    if (s.fired && firstFired < 0) firstFired = j;
    // The request reads the failures so far (a challenged attempt gets no response, so adds none), plus
    // minute 39's 2 failures as far as they are still in the last minute.
    const failures = firstFired < 0 ? j : firstFired;
    assert.ok(Math.abs(s.value - (failures + 2 * (1 - (j * 100) / MIN))) < 0.01, `${j}: ${s.value}`);
  }
  assert.equal(firstFired, 59);
  const known = await play(p, store, { method: 'POST', path: '/login', ip: knownIp(5), username: 'u5' }, at + 9_500, 200);
  assert.equal(known.request.signals[0]!.score > 4, true);
  assert.equal(known.decision.action, 'allow');
});

test('good history: counted on good exchanges only, over the current and previous window', async () => {
  const p = policyWith('{name: surge, type: endpoint-surge, action: challenge, history: 1h, min_good: 2}');
  const store = new MemoryStore();
  const det = p.detectors[0] as EndpointSurgeDetector;
  const login = (ip: string, status: number, at: number) => play(p, store, { method: 'POST', path: '/login', ip, username: 'u' }, at, status);
  // One failed and two good logins at 00:50; a known-good user is known at 01:30 (previous hour) …
  await login('10.9.0.1', 401, T0 + 50 * MIN);
  await login('10.9.0.1', 200, T0 + 51 * MIN);
  await login('10.9.0.1', 302, T0 + 52 * MIN);
  await login('10.9.0.2', 200, T0 + 53 * MIN);
  const readGood = async (ip: string, at: number) => {
    const x = buildExchange(p, { method: 'POST', path: '/login', ip, username: 'u' });
    const plan = det.plan(x, 'request', at)!;
    const [r] = await store.run([{ subject: plan[1]!.subject, ops: plan[1]!.ops }], at);
    const [fixed, sliding] = r!.results.map((o) => (o.kind === 'count' ? o.count : NaN));
    return twoWindowCount(fixed!, sliding!, at, 3_600_000);
  };
  assert.equal(await readGood('10.9.0.1', T0 + 90 * MIN), 2);
  assert.equal(await readGood('10.9.0.1', T0 + 119 * MIN + 59_999), 2);
  // … and forgotten two windows later; one good login is not min_good.
  assert.equal(await readGood('10.9.0.1', T0 + 120 * MIN), 0);
  assert.equal(await readGood('10.9.0.2', T0 + 90 * MIN), 1);

  // The signal agrees: a surging endpoint (warmed up elsewhere in the hour) fires for 10.9.0.2 only.
  await background(p, store, '/login', 10, 60, 90);
  for (let j = 0; j < 70; j++) await play(p, store, { method: 'POST', path: '/login', ip: newIp(j) }, T0 + 90 * MIN + j, 401);
  const a = await play(p, store, { method: 'POST', path: '/login', ip: '10.9.0.1', username: 'u' }, T0 + 90 * MIN + 100);
  const b = await play(p, store, { method: 'POST', path: '/login', ip: '10.9.0.2', username: 'u' }, T0 + 90 * MIN + 101);
  assert.deepEqual([a.decision.action, b.decision.action], ['allow', 'challenge']);
});

test('success and failure by the endpoint: status, the login failure signal', () => {
  const p = policyWith(SURGE);
  const at = (path: string, status: number, headers: Array<[string, string]> = []) =>
    withResponse(buildExchange(p, { method: 'POST', path, ip: '10.0.0.1', username: 'u' }), status, headers);
  assert.deepEqual([succeeded(at('/login', 200)), failed(at('/login', 200))], [true, false]);
  assert.deepEqual([succeeded(at('/login', 401)), failed(at('/login', 401))], [false, true]);
  // Not a login failure by this endpoint's signal, and not a success either.
  assert.deepEqual([succeeded(at('/login', 500)), failed(at('/login', 500))], [false, false]);
  assert.deepEqual([succeeded(at('/sso', 200, [['x-login-failed', '1']])), failed(at('/sso', 200, [['x-login-failed', '1']]))], [false, true]);
  assert.deepEqual([succeeded(at('/api/search', 404)), failed(at('/api/search', 404))], [false, true]);
  assert.deepEqual([succeeded(at('/api/search', 304)), failed(at('/api/search', 304))], [true, false]);
});

test('plans: endpoint subject, op names, seasonal keys, response parts', () => {
  const p = policyWith('{name: surge, type: endpoint-surge, action: challenge, seasonal: true, measure: failures}');
  const det = p.detectors[0] as EndpointSurgeDetector;
  const x = buildExchange(p, { method: 'POST', path: '/login', ip: '10.0.0.1', username: 'u' });
  const plan = det.plan(x, 'request', T0)!;
  assert.deepEqual(plan.map((part) => part.subject), ['ep:login', 'ip:10.0.0.1']);
  const rate = plan[0]!.ops[0] as RateOp;
  // T0 is a Thursday 00:00 UTC: hour 72 of the week.
  assert.deepEqual([rate.name, rate.by, rate.minCount, rate.skipLongGaps], ['surge:rate:how72', 0, 60, true]);
  assert.deepEqual(plan[0]!.ops[1], { kind: 'count', name: 'surge:recent', windowMs: MIN, by: 0, sliding: true });
  assert.deepEqual(plan[1]!.ops.map((o) => o.name), ['surge:good:login', 'surge:good:login']);
  assert.ok(plan.every((part) => part.rules.length === 0));
  withResponse(x, 401);
  assert.deepEqual(det.plan(x, 'response', T0)!.map((part) => [part.subject, ...part.ops.map((o) => `${o.name} by ${o.kind === 'distinct' ? '-' : o.by}`)]), [['ep:login', 'surge:rate:how72 by 1', 'surge:recent by 1']]);
  withResponse(x, 200);
  assert.deepEqual(det.plan(x, 'response', T0)!.map((part) => [part.subject, part.ops[0]!.name]), [['ip:10.0.0.1', 'surge:good:login']]);
  withResponse(x, 500);
  assert.equal(det.plan(x, 'response', T0), null);
  assert.equal(det.plan(x, 'login', T0), null);
  assert.equal(twoWindowCount(3, 3 + 4 * 0.25, 45 * MIN, 3_600_000), 7);
});

test('parsing: defaults, bounds and the fixed subject', () => {
  const c = (policyWith(SURGE).detectors[0] as EndpointSurgeDetector).config;
  assert.deepEqual(
    [c.measure, c.bucketMs, c.halfLifeMs, c.thresholdZ, c.minCount, c.varianceFloor, c.priorMean, c.priorVariance, c.priorWeight, c.clampZ, c.seasonal, c.historyMs, c.minGood, c.subject],
    ['attempts', MIN, 3_600_000, 4, 60, 4, 0, 1e6, 30, 4, false, 7 * 86_400_000, 1, 'endpoint'],
  );
  assert.equal((policyWith('{name: surge, type: endpoint-surge, action: challenge, subject: endpoint}').detectors[0] as EndpointSurgeDetector).config.subject, 'endpoint');
  const bad = (fields: string): string[] => {
    try {
      policyWith(`{name: surge, type: endpoint-surge, action: challenge, ${fields}}`);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    return [];
  };
  const where = 'policy.yaml: detectors[0] (surge)';
  assert.deepEqual(bad('subject: identity'), [`${where}.subject: must be one of endpoint for endpoint-surge`]);
  assert.deepEqual(bad('measure: errors'), [`${where}.measure: must be one of attempts, failures`]);
  assert.deepEqual(bad('min_good: 0'), [`${where}.min_good: must be an integer from 1 to 1000000`]);
  assert.deepEqual(bad('history: 10m'), [`${where}.history: must be from 1h to 90d`]);
  assert.deepEqual(bad('bucket: 2h'), [`${where}.bucket: must be from 1s to 1h`]);
});
