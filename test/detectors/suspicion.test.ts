import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../src/state/memory-store.js';
import { play, policyFrom } from '../helpers/exchange.js';

const T0 = Date.parse('2026-11-02T00:00:00Z');
const MIN = 60_000;
const H = 3_600_000;

const policy = (suspicion: string) =>
  policyFrom(`format: 1
escalation: { window: 1h, factor: 2, max_action: challenge, max_penalty: 1d${suspicion} }
detectors:
  - {name: rate, type: rate-baseline, action: throttle, penalty: 5m, min_count: 120, threshold_z: 3, learn_population: false}
`);

async function minute(p: ReturnType<typeof policy>, store: MemoryStore, who: string, t: number, n: number) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await play(p, store, { path: '/login', method: 'POST', identity: who }, t + Math.floor((i * MIN) / (n + 1))));
  return out;
}

test('suspicion: the signals are judged as the store judged the rules (threshold / s, volume floor ⌈min_count / s⌉, no quota)', async () => {
  const p = policy(', suspicion: { sensitivity: 3, half_life: 6h }');
  const store = new MemoryStore();
  const first = await minute(p, store, 'guesser', T0, 150);
  assert.equal(first.findIndex((r) => r.decision.action === 'throttle'), 119);
  // About 6 h after the offence (47 s into the first minute): s ≈ 1 + 2·2^(−1) = 2, threshold ≈ 1.5,
  // floor ⌈120 / s⌉ = 60 all through the minute.
  const again = await minute(p, store, 'guesser', T0 + 6 * H, 100);
  const s58 = again[58]!.request.signals[0]!;
  assert.deepEqual([s58.value, s58.fired, s58.limit], [59, false, undefined]);
  assert.ok(Math.abs(s58.threshold - 1.5) < 0.005, `threshold ${s58.threshold}`);
  assert.ok(s58.score > s58.threshold, 'z is far above the threshold: the volume floor holds it');
  assert.equal(again[58]!.decision.action, 'allow');
  const s59 = again[59]!.request.signals[0]!;
  assert.deepEqual([s59.value, s59.fired], [60, true]);
  assert.equal(again[59]!.decision.action, 'throttle');
  assert.equal(again[59]!.request.newPenalties[0]?.detector, 'rate', 'the store set the penalty on the same request');
});

test('suspicion: sensitivity 1 turns it off; a caller never penalised is judged as always', async () => {
  const off = policy(', suspicion: { sensitivity: 1 }');
  const store = new MemoryStore();
  await minute(off, store, 'guesser', T0, 150);
  const again = await minute(off, store, 'guesser', T0 + 6 * H, 130);
  assert.equal(again.findIndex((r) => r.decision.action === 'throttle'), 119);
  assert.equal(again[100]!.request.signals[0]!.limit, 119);

  const on = policy('');
  const other = new MemoryStore();
  const clean = await minute(on, other, 'stranger', T0, 130);
  assert.equal(clean.findIndex((r) => r.decision.action === 'throttle'), 119, 'suspicion is on by default, and only for offenders');
});
