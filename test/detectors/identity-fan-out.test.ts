import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateDetectors } from '../../src/detectors/engine.js';
import { FanOutDetector } from '../../src/detectors/fan-out.js';
import { ConfigError } from '../../src/errors.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { buildExchange, play, policyFrom } from '../helpers/exchange.js';

/** A day boundary, so the 1-day window starts here. */
const T0 = 19_675 * 86_400_000;
const MIN = 60_000;

const HEAD = `format: 1
endpoints:
  - name: admin
    match: {path: '/api/admin/**'}
    sensitivity: 2
detectors:
`;
const policyWith = (detector: string) => policyFrom(`${HEAD}  - ${detector}\n`);
const FAN_OUT = '{name: fan-out, type: identity-fan-out, action: challenge}';

test('distinct IPs: quiet at max_ips, fires on the 11th IP; the identity is challenged', async () => {
  const p = policyWith(FAN_OUT);
  const store = new MemoryStore();
  // Ten IPs of one /24: up to max_ips, and one prefix.
  for (let k = 1; k <= 10; k++) {
    const r = await play(p, store, { path: '/api/orders', identity: 'shared', ip: `198.51.100.${k}` }, T0 + k * MIN, 200);
    const s = r.request.signals[0]!;
    assert.equal(s.signal, 'distinct-ips');
    assert.equal(s.value, k);
    assert.equal(s.fired, false, `ip ${k}`);
    assert.equal(r.decision.action, 'allow');
  }
  const r = await play(p, store, { path: '/api/orders', identity: 'shared', ip: '198.51.100.11' }, T0 + 11 * MIN);
  const s = r.request.signals[0]!;
  assert.deepEqual(
    { signal: s.signal, value: s.value, baseline: s.baseline, threshold: s.threshold, score: s.score, windowMs: s.windowMs, fired: s.fired },
    { signal: 'distinct-ips', value: 11, baseline: 0, threshold: 10, score: 11, windowMs: 86_400_000, fired: true },
  );
  assert.equal(r.decision.action, 'challenge');
  assert.deepEqual(r.request.newPenalties.map((n) => [n.subject, n.detector, n.action]), [['api-key:shared', 'fan-out', 'challenge']]);
  // The penalty holds for the next requests, from any IP, though nothing new is measured.
  const next = await play(p, store, { path: '/api/orders', identity: 'shared', ip: '198.51.100.1' }, T0 + 12 * MIN);
  assert.equal(next.request.signals.length, 0);
  assert.equal(next.decision.action, 'challenge');
});

test('distinct prefixes: a mobile user on 4 networks is quiet, a fifth /24 fires before 10 IPs', async () => {
  const p = policyWith(FAN_OUT);
  const store = new MemoryStore();
  // Home, office, a carrier's CGNAT (two addresses in one /24), a café: 5 IPs, 4 prefixes, all day.
  const places = ['203.0.113.17', '198.51.100.80', '100.64.12.9', '100.64.12.200', '192.0.2.55'];
  for (let round = 0; round < 20; round++) {
    for (const [k, ip] of places.entries()) {
      const r = await play(p, store, { path: '/api/feed', identity: 'mobile', ip }, T0 + round * 3_600_000 + k * MIN, 200);
      assert.equal(r.decision.action, 'allow', `round ${round} ${ip}`);
      assert.ok(r.request.signals.every((s) => !s.fired));
      if (round > 0) assert.equal(r.request.signals.length, 0, 'a known IP measures nothing new');
    }
  }
  const r = await play(p, store, { path: '/api/feed', identity: 'mobile', ip: '192.0.2.200' }, T0 + 21 * 3_600_000);
  assert.equal(r.request.signals[0]!.fired, false, 'a second IP in a known /24 adds no prefix');
  const s = (await play(p, store, { path: '/api/feed', identity: 'mobile', ip: '209.85.1.1' }, T0 + 22 * 3_600_000)).request.signals[0]!;
  assert.deepEqual([s.signal, s.value, s.threshold, s.fired], ['distinct-prefixes', 5, 4, true]);
});

test('the window resets the sets; IP identities are not planned at all', async () => {
  const p = policyWith(FAN_OUT);
  const store = new MemoryStore();
  for (let k = 1; k <= 10; k++) await play(p, store, { path: '/api/orders', identity: 'daily', ip: `10.0.${k}.1` }, T0 + k * MIN);
  // Ten prefixes fired on the fifth; a new day starts clean.
  const r = await play(p, store, { path: '/api/orders', identity: 'daily', ip: '10.0.1.1' }, T0 + 86_400_000 + 6 * MIN);
  assert.deepEqual([r.request.signals[0]!.value, r.request.signals[0]!.fired], [1, false]);

  const det = p.detectors[0] as FanOutDetector;
  const anon = buildExchange(p, { path: '/api/orders', ip: '10.9.9.9' });
  assert.equal(det.plan(anon, 'request'), null);
  const e = await evaluateDetectors(p.detectors, anon, ['request'], store, T0, { readIdentity: true });
  assert.equal(e.signals.length, 0);
  assert.equal(det.plan(buildExchange(p, { path: '/api/orders', identity: 'x' }), 'response'), null);
});

test('sensitivity divides both maximums', async () => {
  const p = policyWith(FAN_OUT);
  const store = new MemoryStore();
  // On the admin endpoint (sensitivity 2): fires above 5 IPs, or above 2 prefixes.
  const ips = ['198.51.100.1', '198.51.100.2', '203.0.113.1', '192.0.2.1'];
  for (const [k, ip] of ips.entries()) {
    const r = await play(p, store, { path: '/api/admin/users', identity: 'op', ip }, T0 + k);
    const s = r.request.signals[0]!;
    assert.equal(s.fired, k === 3, ip);
    if (k === 3) assert.deepEqual([s.signal, s.value, s.threshold], ['distinct-prefixes', 3, 2]);
  }
  // Elsewhere the same identity's sets are shared, but the maximums are whole.
  const r = await play(p, store, { path: '/api/orders', identity: 'op', ip: '192.0.2.2' }, T0 + 10);
  assert.deepEqual([r.request.signals[0]!.signal, r.request.signals[0]!.value, r.request.signals[0]!.threshold, r.request.signals[0]!.fired], ['distinct-ips', 5, 10, false]);
});

test('parsing: defaults, bounds and the subject', () => {
  const d = (policyWith(FAN_OUT).detectors[0] as FanOutDetector).config;
  assert.deepEqual([d.windowMs, d.maxIps, d.maxPrefixes, d.subject], [86_400_000, 10, 4, 'identity']);
  const bad = (fields: string): string[] => {
    try {
      policyWith(`{name: fan-out, type: identity-fan-out, action: challenge, ${fields}}`);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    return [];
  };
  assert.deepEqual(bad('max_ips: 0'), ['policy.yaml: detectors[0] (fan-out).max_ips: must be an integer from 1 to 1000000']);
  assert.deepEqual(bad('max_prefixes: 2.5'), ['policy.yaml: detectors[0] (fan-out).max_prefixes: must be an integer from 1 to 1000000']);
  assert.deepEqual(bad('window: 10s'), ['policy.yaml: detectors[0] (fan-out).window: must be from 1m to 30d']);
  assert.deepEqual(bad('subject: client-ip'), ['policy.yaml: detectors[0] (fan-out).subject: must be one of identity for identity-fan-out']);
  assert.deepEqual(bad('max_ip: 3'), ['policy.yaml: detectors[0] (fan-out).max_ip: unknown field (did you mean "max_ips"?)']);
});
