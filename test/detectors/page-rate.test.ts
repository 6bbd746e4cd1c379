import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pageSlot } from '../../src/detectors/page-rate.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { play, policyFrom } from '../helpers/exchange.js';

/** A day boundary, so every 10-minute window starts here. */
const T0 = 19_675 * 86_400_000;

const policy = () => policyFrom('format: 1\ndetectors:\n  - {name: pages, type: page-rate, window: 10m, max_requests: 30, action: throttle, penalty: 5m}\n');

test('page slots: two hex digits of a hash of method and path, the query left out', () => {
  assert.match(pageSlot('GET', '/a'), /^[0-9a-f]{2}$/);
  assert.equal(pageSlot('GET', '/account/balance'), pageSlot('GET', '/account/balance'));
  assert.notEqual(pageSlot('GET', '/account/balance'), pageSlot('POST', '/account/balance'));
});

test('the 31st request to one page in the window fires; the query does not make a new page', async () => {
  const p = policy();
  const store = new MemoryStore();
  for (let k = 0; k < 30; k++) {
    const r = await play(p, store, { path: `/account/balance?t=${k}` }, T0 + k * 1000);
    assert.equal(r.decision.action, 'allow', `request ${k}`);
    assert.deepEqual(r.request.signals.map((s) => [s.signal, s.value, s.fired]), [['page-requests', k + 1, false]]);
  }
  const r = await play(p, store, { path: '/account/balance' }, T0 + 30_000);
  const s = r.request.signals[0]!;
  assert.deepEqual([s.value, s.threshold, s.score, s.windowMs, s.fired], [31, 30, 31, 600_000, true]);
  assert.equal(r.decision.action, 'throttle');
});

test('a caller spreading the same volume over many pages is never flagged', async () => {
  const p = policy();
  const store = new MemoryStore();
  for (let k = 0; k < 300; k++) {
    const r = await play(p, store, { path: `/products/${1000 + k}` }, T0 + k * 1000);
    assert.equal(r.decision.action, 'allow', `request ${k}`);
  }
});

test('a sliding window: 30 requests late in one window and 30 early in the next fire', async () => {
  const p = policy();
  const store = new MemoryStore();
  // 30 in the last 30 s of window 0; 6 s into window 1 the previous window weighs 1 − 6/600 = 0.99:
  // 30 × 0.99 + 1 = 30.7 > 30. A fixed window would count 1.
  for (let k = 0; k < 30; k++) await play(p, store, { path: '/x' }, T0 + 570_000 + k * 1000);
  const r = await play(p, store, { path: '/x' }, T0 + 606_000);
  assert.deepEqual([r.request.signals[0]!.score, r.request.signals[0]!.fired], [30.7, true]);
});
