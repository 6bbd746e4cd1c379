import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CredentialStuffingDetector } from '../../src/detectors/credential-stuffing.js';
import { ConfigError } from '../../src/errors.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { buildExchange, play, policyFrom, withResponse } from '../helpers/exchange.js';

const T0 = 19_675 * 86_400_000;

const ENDPOINTS = `format: 1
endpoints:
  - name: login
    match: {path: /login, methods: [POST]}
    login: {username: {json: username}, failure: {status: [401]}}
  - name: sso
    match: {path: /sso/login, methods: [POST]}
    login: {username: {header: x-user}, failure: {every_attempt: true}}
  - name: admin-login
    match: {path: /admin/login, methods: [POST]}
    login: {username: {json: username}, failure: {header: {name: x-login-failed}}}
    sensitivity: 2
detectors:
`;
const policyWith = (detector: string) => policyFrom(`${ENDPOINTS}  - ${detector}\n`);
const attempt = (username: string | null, ip = '203.0.113.7', path = '/login') => ({ method: 'POST', path, ip, username });

test('distinct usernames: quiet at exactly max_usernames, fires above, and the penalty lands on the client IP', async () => {
  const p = policyWith('{name: stuffing, type: credential-stuffing, action: block}');
  const store = new MemoryStore();
  for (let u = 1; u <= 20; u++) {
    const r = await play(p, store, attempt(`user${u}`), T0 + u, 200);
    const s = r.request.signals[0]!;
    assert.equal(s.signal, 'distinct-usernames');
    assert.equal(s.value, u);
    assert.equal(s.fired, false);
  }
  const r = await play(p, store, attempt('user21'), T0 + 21, 200);
  const s = r.request.signals[0]!;
  assert.deepEqual([s.signal, s.value, s.threshold, s.score, s.windowMs, s.fired], ['distinct-usernames', 21, 20, 21, 600_000, true]);
  assert.equal(r.decision.action, 'block');
  assert.deepEqual(r.request.newPenalties.map((n) => n.subject), ['cip:203.0.113.7']);
  // The next attempt from the IP is blocked, even with a known username; another IP is not.
  assert.equal((await play(p, store, attempt('user1'), T0 + 22)).decision.action, 'block');
  assert.equal((await play(p, store, attempt('user1', '203.0.113.8'), T0 + 23)).decision.action, 'allow');
});

test('one user logging in again and again never raises the username count', async () => {
  const p = policyWith('{name: stuffing, type: credential-stuffing, action: block}');
  const store = new MemoryStore();
  for (let i = 0; i < 100; i++) {
    const r = await play(p, store, attempt('alice'), T0 + i * 1000, 200);
    assert.equal(r.request.signals[0]!.value, i === 0 ? 1 : 0);
    assert.equal(r.decision.action, 'allow');
  }
});

test('failure ratio: exactly failure_ratio is quiet, above it fires at the response and blocks the next attempt', async () => {
  const p = policyWith('{name: stuffing, type: credential-stuffing, action: block}');
  const store = new MemoryStore();
  // 30 attempts on 5 usernames, 24 failing: 24 / 30 = 0.8 is not above 0.8.
  for (let i = 1; i <= 30; i++) {
    const r = await play(p, store, attempt(`user${i % 5}`), T0 + i, i <= 24 ? 401 : 200);
    const s = r.response!.signals[0]!;
    assert.equal(s.signal, 'failure-ratio');
    assert.equal(s.fired, false, `attempt ${i}`);
    if (i === 29) assert.equal(s.score, 0, 'below min_attempts the ratio is not computed');
    if (i === 30) assert.deepEqual([s.value, s.baseline, s.score, s.threshold], [24, 30, 0.8, 0.8]);
  }
  const r = await play(p, store, attempt('user1'), T0 + 31, 401);
  assert.equal(r.request.signals[0]!.fired, false, 'login phase: 24 / 31');
  const s = r.response!.signals[0]!;
  assert.equal(s.fired, true);
  assert.equal(s.score, 0.806);
  assert.deepEqual(r.response!.newPenalties.map((n) => [n.subject, n.detector]), [['cip:203.0.113.7', 'stuffing']]);
  const next = await play(p, store, attempt('user2'), T0 + 32);
  assert.equal(next.decision.action, 'block');
  assert.deepEqual(next.decision.reasons.map((x) => x.detector), ['stuffing']);
  // The login phase re-checks the ratio with this attempt counted but its outcome unknown: 25 / 32.
  assert.equal(next.request.signals[0]!.fired, false);
});

test('every_attempt endpoints have no failure information: no ratio op, no ratio rule', async () => {
  const p = policyWith('{name: stuffing, type: credential-stuffing, action: block}');
  const d = p.detectors[0] as CredentialStuffingDetector;
  const x = buildExchange(p, attempt('bob', '203.0.113.7', '/sso/login'));
  const plan = d.plan(x, 'login');
  assert.ok(plan && !Array.isArray(plan));
  assert.deepEqual(plan.ops.map((o) => o.name), ['stuffing:users', 'stuffing:attempts']);
  assert.equal(plan.rules.length, 1);
  assert.equal(d.plan(withResponse(x, 401), 'response'), null);
  const store = new MemoryStore();
  for (let i = 0; i < 100; i++) assert.equal((await play(p, store, attempt('bob', '203.0.113.7', '/sso/login'), T0 + i, 401)).decision.action, 'allow');
});

test('a response whose login phase never ran is not counted; a null username adds nothing', async () => {
  const p = policyWith('{name: stuffing, type: credential-stuffing, action: block}');
  const d = p.detectors[0] as CredentialStuffingDetector;
  const x = withResponse(buildExchange(p, attempt('bob')), 401);
  x.login = null;
  assert.equal(d.plan(x, 'response'), null);
  const store = new MemoryStore();
  for (let i = 0; i < 5; i++) {
    const r = await play(p, store, attempt(null), T0 + i, 401);
    // No username, nothing added to the set: no distinct-usernames measure (the failure ratio still is).
    assert.deepEqual(r.request.signals.map((s) => s.signal), ['failure-ratio']);
  }
  const plan = d.plan(buildExchange(p, { method: 'GET', path: '/orders' }), 'login');
  assert.equal(plan, null, 'not a login endpoint');
});

test('ip-prefix subject: a /24 rotating through addresses is one subject', async () => {
  const p = policyWith('{name: stuffing, type: credential-stuffing, subject: ip-prefix, action: challenge, max_usernames: 5}');
  const store = new MemoryStore();
  let last;
  for (let u = 1; u <= 6; u++) last = await play(p, store, attempt(`user${u}`, `198.51.100.${u}`), T0 + u, 401);
  assert.deepEqual(last!.request.newPenalties.map((n) => [n.subject, n.action]), [['pfx:198.51.100.0/24', 'challenge']]);
});

test('sensitivity divides the thresholds; a header failure signal counts failures', async () => {
  const p = policyWith('{name: stuffing, type: credential-stuffing, action: block}');
  const store = new MemoryStore();
  for (let u = 1; u <= 10; u++) {
    const r = await play(p, store, attempt(`user${u}`, '203.0.113.7', '/admin/login'), T0 + u, 200, u % 2 ? [['x-login-failed', '1']] : []);
    assert.equal(r.request.signals[0]!.threshold, 10);
    assert.equal(r.request.signals[0]!.fired, false);
    assert.equal(r.response!.signals[0]!.value, Math.ceil(u / 2));
  }
  const r = await play(p, store, attempt('user11', '203.0.113.7', '/admin/login'), T0 + 11);
  assert.equal(r.decision.action, 'block');
});

test('policy: defaults (subject client-ip) and bounds', () => {
  const c = (policyWith('{name: stuffing, type: credential-stuffing, action: block}').detectors[0] as CredentialStuffingDetector).config;
  assert.deepEqual([c.subject, c.windowMs, c.maxUsernames, c.failureRatio, c.minAttempts], ['client-ip', 600_000, 20, 0.8, 30]);
  const explicit = (policyWith('{name: s, type: credential-stuffing, action: block, subject: identity}').detectors[0] as CredentialStuffingDetector).config;
  assert.equal(explicit.subject, 'identity');
  const bad = (fields: string) => {
    try {
      policyWith(`{name: s, type: credential-stuffing, action: block, ${fields}}`);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    return [];
  };
  assert.deepEqual(bad('subject: username'), ['policy.yaml: detectors[0] (s).subject: must be one of client-ip, ip-prefix, identity for credential-stuffing']);
  assert.deepEqual(bad('failure_ratio: 1.5'), ['policy.yaml: detectors[0] (s).failure_ratio: must be a number from 0.01 to 1']);
  assert.deepEqual(bad('min_attempts: 2.5'), ['policy.yaml: detectors[0] (s).min_attempts: must be an integer from 1 to 1000000']);
  assert.deepEqual(bad('max_usernames: 0'), ['policy.yaml: detectors[0] (s).max_usernames: must be an integer from 1 to 1000000']);
  assert.deepEqual(bad('window: 2d'), ['policy.yaml: detectors[0] (s).window: must be from 1m to 1d']);
});
