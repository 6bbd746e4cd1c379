/** MemoryStore specifics: bounded memory (LRU eviction, expiry sweep) and its HyperLogLog. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HyperLogLog, hllPattern } from '../../src/state/hyperloglog.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import type { Batch } from '../../src/state/store.js';

const T0 = 1_700_000_000_000;
const count = (subject: string, windowMs = 60_000): Batch => ({ subject, ops: [{ kind: 'count', name: 'c', windowMs }] });
const keyOf = (subject: string, nowMs: number, windowMs = 60_000): string => `vigil:{${subject}}:count:c:${Math.floor(nowMs / windowMs)}`;

describe('MemoryStore: bounded memory', () => {
  it('never holds more than maxKeys keys', async () => {
    const store = new MemoryStore({ maxKeys: 100 });
    for (let i = 0; i < 5000; i++) {
      await store.run([count(`s${i}`), { subject: `s${i}`, ops: [{ kind: 'distinct', name: 'd', member: 'm', windowMs: 60_000 }] }], T0);
      assert.ok(store.size <= 100, `size ${store.size} at ${i}`);
    }
    assert.equal(store.size, 100);
  });

  it('evicts the least recently used key first', async () => {
    const store = new MemoryStore({ maxKeys: 10, sweepPerCall: 0 });
    for (let i = 0; i < 10; i++) await store.run([count(`s${i}`)], T0);
    await store.run([count('s0')], T0 + 1); // s0 is now the most recently used
    for (let i = 10; i < 15; i++) await store.run([count(`s${i}`)], T0 + 2);
    assert.equal(store.size, 10);
    assert.ok(store.pttl(keyOf('s0', T0), T0 + 2) > 0, 's0 was used recently and must survive');
    for (let i = 1; i <= 5; i++) assert.equal(store.pttl(keyOf(`s${i}`, T0), T0 + 2), -2, `s${i} should be evicted`);
    for (let i = 6; i < 15; i++) assert.ok(store.pttl(keyOf(`s${i}`, T0), T0 + 2) > 0, `s${i} should be kept`);
    const [r] = await store.run([count('s0')], T0 + 3);
    assert.equal(r?.results[0]?.score, 3, 'the surviving counter kept its value');
  });

  it('sweeps expired keys incrementally, without them being touched', async () => {
    const store = new MemoryStore({ sweepPerCall: 16 });
    for (let i = 0; i < 200; i++) await store.run([count(`old${i}`, 1000)], T0); // TTL 2 s
    await store.run([count('live', 3_600_000)], T0);
    assert.equal(store.size, 201);
    let calls = 0;
    while (store.size > 1 && calls < 100) {
      await store.run([], T0 + 10_000);
      calls++;
    }
    assert.equal(store.size, 1, 'only the live key is left');
    assert.ok(calls <= Math.ceil(201 / 16) + 1, `took ${calls} calls`);
    assert.deepEqual(store.keys(T0 + 10_000), [keyOf('live', T0, 3_600_000)]);
  });

  it('treats an expired key as missing on access', async () => {
    const store = new MemoryStore({ sweepPerCall: 0 });
    await store.run([count('s', 1000), count('s', 1000)], T0);
    assert.equal(store.pttl(keyOf('s', T0, 1000), T0 + 1999), 1);
    assert.equal(store.pttl(keyOf('s', T0, 1000), T0 + 2000), -2);
    // Same window index on the clock, but the key is gone: the counter starts again.
    const rate = { kind: 'rate', name: 'r', bucketMs: 1e9, alpha: 0.5, priorMean: 0, priorVariance: 0, priorWeight: 0, varianceFloor: 0, minCount: 0, clampZ: 3, ttlMs: 1000 } as const;
    await store.run([{ subject: 's', ops: [{ ...rate, by: 7 }] }], T0);
    const [r] = await store.run([{ subject: 's', ops: [rate] }], T0 + 1000);
    assert.equal(r?.results[0]?.kind === 'rate' && r.results[0].current, 1);
  });

  it('refuses calls once closed', async () => {
    const store = new MemoryStore();
    await store.close();
    await assert.rejects(store.run([count('s')], T0), /closed/);
    await assert.rejects(store.ping(), /closed/);
  });
});

describe('HyperLogLog (memory store)', () => {
  it('is exact-ish for a few members and ignores repeats', () => {
    const h = new HyperLogLog();
    assert.equal(h.count(), 0);
    assert.equal(h.add('a'), true);
    assert.equal(h.add('a'), false);
    assert.equal(h.count(), 1);
    for (let i = 0; i < 10; i++) h.add(`m${i}`);
    assert.equal(h.count(), 11);
  });

  it('stays within 2 % at 50,000 members, in 16 KiB', () => {
    const h = new HyperLogLog();
    for (let i = 0; i < 50_000; i++) h.add(`10.0.${i >> 8}.${i & 255}`);
    const estimate = h.count();
    assert.ok(Math.abs(estimate - 50_000) / 50_000 < 0.02, `estimate ${estimate}`);
    assert.equal(h.bytes, 16_384);
    const small = new HyperLogLog();
    for (let i = 0; i < 100; i++) small.add(`u${i}`);
    assert.ok(small.bytes <= 1024, `sparse HLL uses ${small.bytes} bytes`);
  });

  it('keeps register values in Redis range and spreads members over the registers', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const { index, value } = hllPattern(`k${i}`);
      assert.ok(index >= 0 && index < 16_384 && value >= 1 && value <= 51);
      seen.add(index);
    }
    assert.ok(seen.size > 1800, `only ${seen.size} distinct registers for 2000 members`);
  });
});
