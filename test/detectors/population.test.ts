import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PopulationPriors, winsorise } from '../../src/detectors/population.js';
import type { RateBaselineDetector } from '../../src/detectors/rate-baseline.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { play, policyFrom } from '../helpers/exchange.js';

const T0 = Date.parse('2026-11-02T09:00:00Z');
const MIN = 60_000;

test('winsorise caps a value at the cap, and a cap that is not finite caps nothing', () => {
  assert.equal(winsorise(570, 20), 20);
  assert.equal(winsorise(12, 20), 12);
  assert.equal(winsorise(20, 20), 20);
  assert.equal(winsorise(570, Number.NaN), 570);
});

test('PopulationPriors queues each value capped at the learned prior’s threshold, so one huge window moves the prior by a bounded step', async () => {
  const store = new MemoryStore();
  const cap = (p: { mean: number; variance: number }) => p.mean + 3 * Math.sqrt(Math.max(p.variance, p.mean));
  const priors = new PopulationPriors('rate:t', { mean: 5, variance: 25 }, 86_400_000, cap);
  // Before the prior is learned, values are taken as they are (the configured prior is only a guess).
  for (let i = 0; i < 29; i++) priors.add('', 5);
  priors.add('', 25);
  await priors.refresh(store, T0);
  let p = priors.get('');
  assert.equal(p.learned, true);
  // 29 × 5 then 25 (not capped at the configured 5 + 3·5 = 20): m = 5.2, v = 0.99·0.01·20² = 3.96.
  assert.ok(Math.abs(p.mean - 5.2) < 1e-9, `mean ${p.mean}`);
  assert.ok(Math.abs(p.variance - 3.96) < 1e-9, `variance ${p.variance}`);
  // Learned: a window of 10 000 is queued as the threshold 5.2 + 3·√5.2.
  const cap5 = 5.2 + 3 * Math.sqrt(5.2);
  priors.add('', 10_000);
  await priors.refresh(store, T0 + 5000);
  p = priors.get('');
  const d = cap5 - 5.2;
  assert.ok(Math.abs(p.mean - (5.2 + 0.01 * d)) < 1e-9, `mean ${p.mean}`);
  assert.ok(Math.abs(p.variance - 0.99 * (3.96 + 0.01 * d * d)) < 1e-9, `variance ${p.variance}`);
});

/**
 * Issue 13 item 3, on the real request path: a population of 40 callers (2 or 12 requests a minute),
 * then one attacker's minute of 570 requests closes. A newcomer's flood must still be throttled at
 * its 120th request (min_count decides, as with the clean population), and a 90-request minute must
 * still score far above threshold_z. Before the population was winsorised, the attacker's minute
 * taught the prior σ ≈ 56: the flood was throttled only at its 179th request and 90 scored z ≈ 1.4 (≈ 23 with the clean population).
 */
test('one large attacker does not teach the population prior that floods are normal', async () => {
  const p = policyFrom(`format: 1
detectors:
  - {name: rate, type: rate-baseline, action: throttle, min_count: 120, threshold_z: 3, prior_mean: 5, prior_variance: 25, prior_weight: 10, variance_floor: 4}
`);
  const detector = p.detectors[0] as RateBaselineDetector;
  const store = new MemoryStore();
  const send = async (who: string, n: number, t: number) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(await play(p, store, { path: '/api/x', identity: who }, t + Math.floor((i * MIN) / (n + 1))));
    return out;
  };
  // Minute 0: the honest population; minute 1: each closes its minute with one request (a sample each).
  for (let k = 0; k < 40; k++) await send(`user-${k}`, k % 2 === 0 ? 2 : 12, T0);
  for (let k = 0; k < 40; k++) await send(`user-${k}`, 1, T0 + MIN);
  await detector.background(store, T0 + MIN + 1);
  const clean = (await send('busy-clean', 90, T0 + MIN + 2))[89]!.request.signals[0]!.score;

  // The attacker's minute of 570, closed in minute 3, then merged.
  await send('attacker', 570, T0 + 2 * MIN);
  await send('attacker', 1, T0 + 3 * MIN);
  await detector.background(store, T0 + 3 * MIN + POPULATION_STEP);

  const flood = await send('newcomer', 200, T0 + 4 * MIN);
  const first = flood.findIndex((r) => r.decision.action === 'throttle');
  assert.equal(first, 119, 'throttled at its 120th request, as with the clean population');
  const ninety = await send('busy-newcomer', 90, T0 + 5 * MIN);
  const s = ninety[89]!.request.signals[0]!;
  assert.equal(s.value, 90);
  assert.ok(s.score > 20, `a 90-request minute scores z ${s.score} (clean population: ${clean})`);
  assert.ok(clean - s.score < 1.5, `within a little of the clean population’s z ${clean}`);
});

/** 5 s: the population refresh interval (POPULATION_REFRESH_MS). */
const POPULATION_STEP = 5000;

