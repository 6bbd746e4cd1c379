import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NotFoundSurgeDetector } from '../../src/detectors/not-found-surge.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { play, policyFrom } from '../helpers/exchange.js';

/** A day boundary, so every hour window starts here. */
const T0 = 19_675 * 86_400_000;
const H = 3_600_000;

const policy = () =>
  policyFrom('format: 1\ndetectors:\n  - {name: nf, type: not-found-surge, window: 1h, min_paths: 10, population_z: 4, history: 1d, min_failures: 2, action: throttle, penalty: 1h}\n');
/** The k-th address of a range nobody else uses. */
const ip = (k: number) => `198.18.${Math.floor(k / 200)}.${k % 200}`;

test('the 11th distinct not-found path from unknown callers starts a surge; callers with only failures pay, known ones do not', async () => {
  const p = policy();
  const d = p.detectors[0] as NotFoundSurgeDetector;
  const store = new MemoryStore();
  // A visitor with a success earlier: known. Its not-founds never count.
  await play(p, store, { path: '/home', ip: '192.0.2.1' }, T0, 200);
  for (let k = 0; k < 20; k++) await play(p, store, { path: `/old/${k}`, ip: '192.0.2.1' }, T0 + 1000 + k, 404);
  assert.equal(d.surging(T0 + 2000), false);
  // Ten unknown addresses, one path each: 10 is not above 10.
  for (let k = 0; k < 10; k++) await play(p, store, { path: `/site${k}.zip`, ip: ip(k) }, T0 + 10_000 + k * 1000, 404);
  assert.equal(d.surging(T0 + 30_000), false);
  const r = await play(p, store, { path: '/site10.zip', ip: ip(10) }, T0 + 30_000, 404);
  assert.equal(d.surging(T0 + 30_000), true);
  assert.equal(r.decision.action, 'allow', 'its first answer: one failure is not enough');
  // ip(10)'s second request is answered (1 answer before it); its answer is the 2nd failure: penalty.
  const second = await play(p, store, { path: '/site10.sql', ip: ip(10) }, T0 + 31_000, 404);
  assert.equal(second.decision.action, 'allow');
  assert.deepEqual(second.response!.newPenalties.map((n) => n.detector), ['nf']);
  const third = await play(p, store, { path: '/site10.bak', ip: ip(10) }, T0 + 32_000, 404);
  assert.equal(third.decision.action, 'throttle');
  // value: the site's 12 paths (ip(10)'s second path counted too); baseline: the caller's 2 failures.
  const s = third.request.signals[0]!;
  assert.deepEqual([s.signal, s.value, s.baseline, s.threshold, s.score, s.fired], ['not-found-surge', 12, 2, 10, 1, true]);
  // The known visitor keeps being served during the surge, 404s or not.
  for (let k = 0; k < 3; k++) assert.equal((await play(p, store, { path: `/old/x${k}`, ip: '192.0.2.1' }, T0 + 40_000 + k, 404)).decision.action, 'allow');
  // The surge lasts this window and the next, then is over.
  assert.equal(d.surging(T0 + H + 1), true);
  assert.equal(d.surging(T0 + 2 * H + 1), false);
});

test('one broken link hit by every visitor is one path: no surge', async () => {
  const p = policy();
  const d = p.detectors[0] as NotFoundSurgeDetector;
  const store = new MemoryStore();
  for (let k = 0; k < 100; k++) {
    const a = await play(p, store, { path: '/assets/app.js', ip: ip(k) }, T0 + k * 1000, 404);
    const b = await play(p, store, { path: '/assets/app.js', ip: ip(k) }, T0 + k * 1000 + 1, 404);
    const c = await play(p, store, { path: '/assets/app.js', ip: ip(k) }, T0 + k * 1000 + 2, 404);
    assert.deepEqual([a, b, c].map((r) => r.decision.action), ['allow', 'allow', 'allow']);
  }
  assert.equal(d.surging(T0 + 100_000), false);
});

test('a surge cannot raise its own baseline: closed windows are learned clamped at the threshold', async () => {
  const p = policy();
  const d = p.detectors[0] as NotFoundSurgeDetector;
  const store = new MemoryStore();
  // 30 hours of 40 distinct unknown not-found paths an hour (4 × min_paths). Unclamped, the
  // population would learn μ → 40 and the threshold μ + 4σ would pass 40 (the surge absorbed);
  // clamped, each closed window counts as at most 10 (the first one, an empty hour, as 0), so μ ≤ 10
  // and the threshold stays below the surge.
  let n = 0;
  for (let h = 0; h < 30; h++) {
    for (let k = 0; k < 40; k++) await play(p, store, { path: `/h${h}/b${k}.zip`, ip: ip(n++ % 3000) }, T0 + h * H + k * 1000, 404);
    await d.background(store, T0 + h * H + 100_000);
  }
  assert.ok(d.threshold() >= 10 && d.threshold() < 40, `threshold ${d.threshold()}`);
  assert.equal(d.surging(T0 + 29 * H + 50_000), true);
});
