import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SlowBruteForceDetector } from '../../src/detectors/slow-brute-force.js';
import { ConfigError } from '../../src/errors.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { buildExchange, play, policyFrom, withResponse } from '../helpers/exchange.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = 19_675 * DAY;

const ENDPOINTS = `format: 1
endpoints:
  - name: login
    match: {path: /login, methods: [POST]}
    login: {username: {json: username}, failure: {status: [401]}}
  - name: sso
    match: {path: /sso/login, methods: [POST]}
    login: {username: {header: x-user}, failure: {every_attempt: true}}
detectors:
`;
const policyWith = (...detectors: string[]) => policyFrom(`${ENDPOINTS}${detectors.map((d) => `  - ${d}\n`).join('')}`);
const attempt = (username: string | null, ip: string, path = '/login') => ({ method: 'POST', path, ip, username });
/** A different client IP for each attempt (a botnet or proxy pool). */
const rotatingIp = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

test('5 failures an hour from rotating IPs: the 51st failure in 24 h fires on the username, and it stays blocked', async () => {
  const p = policyWith(
    '{name: sbf-user, type: slow-brute-force, subject: username, action: block, penalty: 1m}',
    '{name: sbf-ip, type: slow-brute-force, subject: client-ip, action: block}',
  );
  const store = new MemoryStore();
  let n = 0;
  for (let hour = 0; hour < 10; hour++) {
    for (let k = 0; k < 5; k++) {
      const r = await play(p, store, attempt('victim', rotatingIp(++n)), T0 + hour * HOUR + k * 12 * 60_000, 401);
      assert.equal(r.decision.action, 'allow', `failure ${n}`);
      const s = r.response!.signals.find((x) => x.detector === 'sbf-user')!;
      assert.deepEqual([s.signal, s.value, s.threshold, s.fired], ['failures-24h', n, 50, false]);
    }
  }
  const r = await play(p, store, attempt('victim', rotatingIp(++n)), T0 + 10 * HOUR, 401);
  const s = r.response!.signals.find((x) => x.detector === 'sbf-user')!;
  assert.deepEqual([s.signal, s.value, s.score, s.threshold, s.windowMs, s.fired], ['failures-24h', 51, 51, 50, DAY, true]);
  assert.deepEqual(r.response!.newPenalties.map((x) => [x.subject, x.detector]), [['user:victim', 'sbf-user']]);
  // The next attempt, from yet another IP, is blocked at its login phase.
  const next = await play(p, store, attempt('victim', rotatingIp(++n)), T0 + 10 * HOUR + 12 * 60_000, 401);
  assert.equal(next.decision.action, 'block');
  // After the 1 m penalty has expired the login phase reads the 24 h count again: still over, still blocked.
  const later = await play(p, store, attempt('victim', rotatingIp(++n)), T0 + 14 * HOUR, 401);
  assert.equal(later.decision.action, 'block');
  const again = later.request.signals.find((x) => x.detector === 'sbf-user')!;
  assert.deepEqual([again.signal, again.value, again.fired], ['failures-24h', 51, true]);
  assert.equal(later.response, null, 'a blocked attempt reaches no upstream');
  // Other usernames and the rotating IPs are untouched.
  assert.equal((await play(p, store, attempt('someone-else', rotatingIp(1)), T0 + 14 * HOUR + 1, 200)).decision.action, 'allow');
});

test('a user who mistypes three times, then succeeds, every day for a month is never flagged', async () => {
  const p = policyWith(
    '{name: sbf-user, type: slow-brute-force, subject: username, action: block}',
    '{name: sbf-id, type: slow-brute-force, action: block}',
  );
  const store = new MemoryStore();
  let maxSeen = 0;
  for (let day = 0; day < 30; day++) {
    const at = T0 + day * DAY + 9 * HOUR + day * 7 * 60_000;
    for (let k = 0; k < 4; k++) {
      const r = await play(p, store, attempt('carol', '192.0.2.44'), at + k * 20_000, k < 3 ? 401 : 200);
      assert.equal(r.decision.action, 'allow');
      for (const s of [...r.request.signals, ...(r.response?.signals ?? [])]) {
        assert.equal(s.fired, false);
        if (s.signal === 'failures-24h') maxSeen = Math.max(maxSeen, s.value);
      }
    }
  }
  assert.ok(maxSeen <= 6, `sliding 24 h count peaked at ${maxSeen}`);
});

test('a success plans nothing; a failure counts one; every_attempt counts every attempt', () => {
  const p = policyWith('{name: sbf, type: slow-brute-force, subject: username, action: block}');
  const d = p.detectors[0] as SlowBruteForceDetector;
  assert.equal(d.plan(withResponse(buildExchange(p, attempt('a', '192.0.2.1')), 200), 'response'), null);
  const failed = d.plan(withResponse(buildExchange(p, attempt('a', '192.0.2.1')), 401), 'response');
  assert.deepEqual(failed, {
    subject: 'user:a',
    ops: [{ kind: 'count', name: 'sbf:fail', windowMs: DAY, by: 1, sliding: true }],
    rules: [{ op: 0, above: 50 }],
  });
  assert.ok(d.plan(withResponse(buildExchange(p, attempt('a', '192.0.2.1', '/sso/login')), 200), 'response'));
  // The username subject has no username without one: nothing to plan.
  assert.equal(d.plan(buildExchange(p, attempt(null, '192.0.2.1')), 'login'), null);
  // Its login phase only reads the failures (no distinct-targets on a username).
  const login = d.plan(buildExchange(p, attempt('a', '192.0.2.1')), 'login');
  assert.deepEqual(login, { subject: 'user:a', ops: [{ kind: 'count', name: 'sbf:fail', windowMs: DAY, by: 0, sliding: true }], rules: [{ op: 0, above: 50 }] });
});

test('distinct targets: an IP trying exactly max_targets usernames in a day is quiet, one more fires', async () => {
  const p = policyWith('{name: sbf-ip, type: slow-brute-force, subject: client-ip, action: challenge}');
  const store = new MemoryStore();
  for (let u = 1; u <= 10; u++) {
    const r = await play(p, store, attempt(`user${u}`, '198.51.100.20'), T0 + u * HOUR, 200);
    const s = r.request.signals[0]!;
    assert.deepEqual([s.signal, s.value, s.fired], ['distinct-targets', u, false]);
  }
  const r = await play(p, store, attempt('user11', '198.51.100.20'), T0 + 11 * HOUR, 200);
  const s = r.request.signals[0]!;
  assert.deepEqual([s.signal, s.value, s.threshold, s.windowMs, s.fired], ['distinct-targets', 11, 10, DAY, true]);
  assert.deepEqual(r.request.newPenalties.map((x) => [x.subject, x.action]), [['cip:198.51.100.20', 'challenge']]);
  assert.equal(r.decision.action, 'challenge');
});

test('sensitivity divides max_failures', async () => {
  const p = policyFrom(`format: 1
endpoints:
  - name: admin-login
    match: {path: /admin/login}
    login: {username: {header: x-user}, failure: {status: [401, 403]}}
    sensitivity: 5
detectors:
  - {name: sbf, type: slow-brute-force, subject: username, action: block}
`);
  const store = new MemoryStore();
  for (let i = 1; i <= 10; i++) {
    const r = await play(p, store, { method: 'POST', path: '/admin/login', ip: rotatingIp(i), username: 'root' }, T0 + i * HOUR, 403);
    assert.equal(r.response!.signals[0]!.threshold, 10);
    assert.equal(r.response!.signals[0]!.fired, false);
  }
  const r = await play(p, store, { method: 'POST', path: '/admin/login', ip: rotatingIp(11), username: 'root' }, T0 + 11 * HOUR, 403);
  assert.equal(r.response!.signals[0]!.fired, true);
});

test('policy: defaults and bounds', () => {
  const c = (policyWith('{name: sbf, type: slow-brute-force, action: block}').detectors[0] as SlowBruteForceDetector).config;
  assert.deepEqual([c.subject, c.windowMs, c.maxFailures, c.targetWindowMs, c.maxTargets], ['identity', DAY, 50, DAY, 10]);
  const bad = (fields: string) => {
    try {
      policyWith(`{name: sbf, type: slow-brute-force, action: block, ${fields}}`);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    return [];
  };
  assert.deepEqual(bad('subject: endpoint'), ['policy.yaml: detectors[0] (sbf).subject: must be one of identity, client-ip, ip-prefix, username for slow-brute-force']);
  assert.deepEqual(bad('window: 10m'), ['policy.yaml: detectors[0] (sbf).window: must be from 1h to 30d']);
  assert.deepEqual(bad('max_failures: -1'), ['policy.yaml: detectors[0] (sbf).max_failures: must be an integer from 1 to 1000000']);
  assert.deepEqual(bad('target_window: soon'), ['policy.yaml: detectors[0] (sbf).target_window: invalid duration (use e.g. 500ms, 30s, 5m, 1h, 1d)']);
  assert.deepEqual(bad('max_targets: 0'), ['policy.yaml: detectors[0] (sbf).max_targets: must be an integer from 1 to 1000000']);
});
