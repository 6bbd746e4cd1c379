import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { play, policyFrom } from '../helpers/exchange.js';

/** A day boundary, so every 10-minute window starts here. */
const T0 = 19_675 * 86_400_000;
const ROTATION = `format: 1
detectors:
  - {name: agents, type: agent-rotation, action: throttle}
`;
const browser = (k: number) => `Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:${100 + k}.0) Gecko/20100101 Firefox/${100 + k}.0`;

test('a caller rotating user agents: quiet at max_agents, fires on the 13th distinct one', async () => {
  const p = policyFrom(ROTATION);
  const store = new MemoryStore();
  for (let k = 1; k <= 12; k++) {
    const r = await play(p, store, { path: '/c.php', ip: '198.51.100.4', userAgent: browser(k) }, T0 + k * 20_000, 200);
    const s = r.request.signals[0]!;
    assert.deepEqual([s.signal, s.value, s.fired], ['distinct-agents', k, false], `agent ${k}`);
  }
  const r = await play(p, store, { path: '/c.php', ip: '198.51.100.4', userAgent: browser(13) }, T0 + 260_000);
  const s = r.request.signals[0]!;
  assert.deepEqual(
    { signal: s.signal, value: s.value, threshold: s.threshold, windowMs: s.windowMs, fired: s.fired },
    { signal: 'distinct-agents', value: 13, threshold: 12, windowMs: 600_000, fired: true },
  );
  assert.equal(r.decision.action, 'throttle');
  assert.deepEqual(r.request.newPenalties.map((n) => [n.subject, n.detector]), [['ip:198.51.100.4', 'agents']]);
});

test('one browser, many requests, and a household of four: quiet; a new window starts afresh', async () => {
  const p = policyFrom(ROTATION);
  const store = new MemoryStore();
  for (let k = 0; k < 300; k++) {
    const r = await play(p, store, { path: `/api/items/${k}`, ip: '192.0.2.8', userAgent: browser(k % 4) }, T0 + k * 1000, 200);
    assert.equal(r.decision.action, 'allow');
    assert.ok(r.request.signals.every((x) => !x.fired && x.value <= 4));
  }
  // 12 agents in one window and 12 others in the next never add up.
  for (let k = 0; k < 24; k++) {
    const r = await play(p, store, { path: '/', ip: '192.0.2.9', userAgent: browser(k) }, T0 + (k < 12 ? 0 : 600_000) + k * 1000, 200);
    assert.equal(r.decision.action, 'allow', `agent ${k}`);
  }
});

test('only browser user agents count: one desktop\'s many applications are not a rotation', async () => {
  const p = policyFrom(ROTATION);
  const store = new MemoryStore();
  for (let k = 0; k < 40; k++) {
    const r = await play(p, store, { path: '/update', ip: '192.0.2.20', userAgent: k % 2 ? `Player-Updater/${k}` : '' }, T0 + k * 1000, 200);
    assert.equal(r.decision.action, 'allow');
    assert.equal(r.request.signals.length, 0, 'nothing planned for a non-browser user agent');
  }
  const r = await play(p, store, { path: '/', ip: '192.0.2.20', userAgent: 'Opera/9.80 (Windows NT 6.1) Presto/2.12.388 Version/12.16' }, T0 + 50_000);
  assert.deepEqual(r.request.signals.map((x) => [x.signal, x.value]), [['distinct-agents', 1]]);
});

test('agent-rotation accepts identity, client-ip and ip-prefix subjects only', () => {
  assert.throws(
    () => policyFrom(`format: 1\ndetectors:\n  - {name: agents, type: agent-rotation, subject: username, action: tag}\n`),
    (err: unknown) => err instanceof ConfigError && /detectors\[0\] \(agents\)\.subject: must be one of identity, client-ip, ip-prefix for agent-rotation/.test(err.message),
  );
});
