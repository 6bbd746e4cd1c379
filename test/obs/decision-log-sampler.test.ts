import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecisionLogSampler } from '../../src/obs/decision-log-sampler.js';

test('the first decision per key is logged, repeats within the interval are counted into the next line', () => {
  const s = new DecisionLogSampler(60_000, 100);
  const T = 1_000_000;
  assert.deepEqual(s.admit('a', T), { log: true, repeated: 1 });
  for (let i = 1; i <= 199; i++) assert.equal(s.admit('a', T + i * 100).log, false, `repeat ${i}`);
  assert.deepEqual(s.admit('b', T + 50), { log: true, repeated: 1 }, 'another caller or detector is its own key');
  assert.deepEqual(s.admit('a', T + 60_000), { log: true, repeated: 200 }, 'the 199 held back, and this one');
  assert.deepEqual(s.admit('a', T + 60_001), { log: false, repeated: 0 });
  assert.deepEqual(s.admit('a', T + 10), { log: true, repeated: 2 }, 'a clock that went back starts a new interval');
});

test('a flood of distinct keys cannot grow it beyond maxKeys; a forgotten key logs in full again', () => {
  const s = new DecisionLogSampler(60_000, 10);
  for (let i = 0; i < 1000; i++) assert.equal(s.admit(`k${i}`, 0).log, true);
  assert.deepEqual(s.admit('k0', 1), { log: true, repeated: 1 });
  assert.deepEqual(s.admit('k999', 1), { log: false, repeated: 0 });
});
