import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summarise, type PacedRecords } from '../../bench/paced-summary.js';

/** `n` requests every `gapMs` from t0, each `latencyMs` long and late by `lateMs`. */
function records(n: number, gapMs: number, latencyMs: (i: number) => number, lateMs = 0): PacedRecords {
  const rec: PacedRecords = {
    sent: n,
    start: new Float64Array(n),
    due: new Float64Array(n),
    latency: new Float64Array(n),
    outcome: new Uint8Array(n).fill(2),
    status2xx: n,
  };
  for (let i = 0; i < n; i++) {
    rec.due[i] = i * gapMs;
    rec.start[i] = i * gapMs + lateMs;
    rec.latency[i] = latencyMs(i);
  }
  return rec;
}

test('rates, percentiles and lateness over the steady-state window', () => {
  // 2,000 requests at 1,000/s (one per ms), latency 0.1 ms except every 100th at 5 ms, 0.02 ms late.
  const rec = records(2000, 1, (i) => (i % 100 === 99 ? 5 : 0.1), 0.02);
  const r = summarise(rec, { dropMs: 1000, offeredRps: 1000, generatorCpu: 0.5, payloads: 3 });
  assert.equal(r.done, 2000);
  assert.equal(r.succeeded, 2000);
  assert.equal(r.failed, 0);
  assert.equal(r.samples, 1000); // the first second dropped
  assert.equal(r.p50, 0.1);
  assert.equal(r.p99, 0.1);
  assert.equal(r.p999, 5);
  assert.equal(r.max, 5);
  assert.ok(Math.abs(r.lateP99 - 0.02) < 1e-9);
  assert.ok(Math.abs(r.startedRps - 1000) < 2, `started ${r.startedRps}`);
  assert.ok(Math.abs(r.reqPerSec - 1000) < 10, `achieved ${r.reqPerSec}`);
  assert.equal(r.burst, 1); // one start per busy ms: evenly paced
  assert.equal(r.distinctPayloads, 3);
  assert.equal(r.offeredRps, 1000);
});

test('unanswered and failed requests count as failures and stay out of the percentiles', () => {
  const rec = records(10, 1, () => 1);
  rec.outcome[3] = 0; // never answered
  rec.latency[3] = NaN;
  rec.outcome[4] = 1; // answered, but not HTTP 200 + grpc-status 0
  rec.latency[4] = 50;
  const r = summarise(rec, { dropMs: 0, offeredRps: null, generatorCpu: 0, payloads: 1 });
  assert.equal(r.done, 9);
  assert.equal(r.succeeded, 8);
  assert.equal(r.failed, 2);
  assert.equal(r.samples, 8);
  assert.equal(r.max, 1);
  assert.equal(r.distinctPayloads, 1);
});

test('bursty starts show in arrivals per busy ms', () => {
  // 10 requests in the same millisecond, then 10 in the next busy one 10 ms later.
  const rec = records(20, 0.05, () => 1);
  for (let i = 10; i < 20; i++) rec.start[i] = 10 + (i - 10) * 0.05;
  const r = summarise(rec, { dropMs: 0, offeredRps: null, generatorCpu: 0, payloads: 1 });
  assert.equal(r.burst, 10);
});
