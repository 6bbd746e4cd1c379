/**
 * The StateStore contract suite, defined once; contract.test.ts runs it against every store.
 * Expected numbers are worked out by hand in the comments (docs: src/state/lua/rate.lua header).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Op, RateOp, RateResult } from '../../src/state/store.js';
import { escalationTests } from './contract-escalation.js';
import { markTests } from './contract-marks.js';
import { suspicionTests } from './contract-suspicion.js';
import { opOptionTests } from './contract-ops.js';
import { B, T0, countOp, distinctOp, near, rateOp, rule, type Harness } from './fixtures.js';

export { B, T0, countOp, distinctOp, rateOp, type Harness } from './fixtures.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function contractSuite(name: string, setup: () => Promise<Harness>): void {
  describe(`StateStore contract: ${name}`, () => {
    let h: Harness;
    before(async () => {
      h = await setup();
    });
    after(async () => {
      await h.close();
    });
    beforeEach(async () => {
      await h.reset();
    });
    afterEach(async () => {
      // Every key any test left behind carries a TTL (store.ts: "Every key carries a TTL").
      assert.deepEqual(await h.untimed(), [], 'keys without a TTL');
    });

    async function rate(op: RateOp, nowMs: number, subject = 's'): Promise<RateResult> {
      const [res] = await h.store.run([{ subject, ops: [op] }], nowMs);
      const r = res?.results[0];
      assert.ok(r?.kind === 'rate');
      return r;
    }
    async function score(op: Op, nowMs: number, subject = 's'): Promise<number | undefined> {
      const [res] = await h.store.run([{ subject, ops: [op] }], nowMs);
      return res?.results[0]?.score;
    }

    it('rate: the first call opens a fresh bucket', async () => {
      const r = await rate(rateOp(), T0);
      // No baseline at all: sd = 0 so z = 0; ratio = 1 / max(0, 1) = 1.
      assert.deepEqual(r, { kind: 'rate', current: 1, mean: 0, variance: 0, samples: 0, z: 0, ratio: 1, score: 0, closed: -1 });
    });

    it('rate: rolls buckets into the EWMA (hand-computed, alpha 0.5)', async () => {
      const op = rateOp();
      for (let i = 0; i < 3; i++) await rate(op, T0 + i);
      assert.equal((await rate(op, T0 + 3)).current, 4);
      // Bucket 1 closes bucket 0 (4): first sample sets m = 4, v = 0. sd = sqrt(max(0, 4)) = 2.
      let r = await rate(op, T0 + B);
      assert.deepEqual([r.closed, r.samples, r.current, r.mean, r.variance, r.z], [4, 1, 1, 4, 0, -1.5]);
      r = await rate(op, T0 + B + 5);
      assert.deepEqual([r.closed, r.current, r.z], [-1, 2, -1]);
      // Fold 2: d = -2, m = 3, v = 0.5·(0 + 0.5·4) = 1.
      r = await rate(op, T0 + 2 * B);
      assert.deepEqual([r.closed, r.samples, r.mean, r.variance], [2, 2, 3, 1]);
      near(r.z, -2 / Math.sqrt(3), 'z');
      // Fold 1: d = -2, m = 2, v = 0.5·(1 + 0.5·4) = 1.5; then 8 calls.
      for (let i = 0; i < 7; i++) await rate(op, T0 + 3 * B + i);
      r = await rate(op, T0 + 3 * B + 7);
      assert.deepEqual([r.current, r.samples, r.mean, r.variance], [8, 3, 2, 1.5]);
      near(r.z, 6 / Math.sqrt(2), 'z');
      near(r.score, r.z, 'score');
    });

    it('rate: variance above the mean sets the sd', async () => {
      const op = rateOp();
      await rate({ ...op, by: 10 }, T0);
      // Bucket 2: folds 10 (m = 10) and one empty bucket: d = -10, m = 5, v = 0.5·(0 + 0.5·100) = 25.
      const r = await rate(op, T0 + 2 * B);
      assert.deepEqual([r.closed, r.samples, r.mean, r.variance, r.z], [10, 2, 5, 25, (1 - 5) / 5]);
    });

    it('rate: the variance floor bounds the sd from below', async () => {
      const r = await rate(rateOp({ by: 21, priorMean: 1, priorVariance: 1, priorWeight: 1, varianceFloor: 100 }), T0);
      assert.deepEqual([r.mean, r.variance, r.z], [1, 1, 2]);
    });

    it('rate: newcomers are scored against the prior, which own history then dilutes', async () => {
      const op = rateOp({ priorMean: 10, priorVariance: 16, priorWeight: 4 });
      let r = await rate(op, T0);
      assert.deepEqual([r.mean, r.variance, r.samples, r.z], [10, 16, 0, -2.25]);
      await rate({ ...op, by: 19 }, T0 + 1);
      // Own m = 20 after one sample; the prior's weight fades to 4 − 1 = 3:
      // mean = (20 + 3·10)/4 = 12.5, variance = (0 + 3·16)/4 = 12.
      r = await rate(op, T0 + B);
      assert.deepEqual([r.closed, r.samples], [20, 1]);
      near(r.mean, 12.5, 'mean');
      near(r.variance, 12, 'variance');
      near(r.z, (1 - 12.5) / Math.sqrt(12.5), 'z');
      // After priorWeight buckets of its own history the prior is gone: 20, 1, 0, 0 folded.
      r = await rate(op, T0 + 4 * B);
      assert.equal(r.samples, 4);
      const a = op.alpha;
      let m = 20;
      let v = 0;
      for (const x of [1, 0, 0]) {
        const d = x - m;
        m += a * d;
        v = (1 - a) * (v + a * d * d);
      }
      near(r.mean, m, 'own mean only');
      near(r.variance, v, 'own variance only');
    });

    it('rate: the score is 0 below minCount, z from minCount on', async () => {
      const op = rateOp({ minCount: 3, priorMean: 0.5, priorVariance: 0.5, priorWeight: 10 });
      const sd = Math.sqrt(0.5);
      let r = await rate(op, T0);
      near(r.z, 0.5 / sd, 'z');
      assert.equal(r.score, 0);
      r = await rate(op, T0 + 1);
      assert.equal(r.score, 0);
      r = await rate(op, T0 + 2);
      near(r.score, 2.5 / sd, 'score');
    });

    it('rate: a closed bucket is clamped at mean + clampZ·sd before it is folded', async () => {
      const op = rateOp({ priorMean: 10, priorVariance: 4, priorWeight: 1000, clampZ: 2 });
      await rate({ ...op, by: 100 }, T0);
      const r = await rate(op, T0 + B);
      const cap = 10 + 2 * Math.sqrt(10); // sd = sqrt(max(4, 10)): the Poisson floor
      assert.equal(r.closed, 100, 'closed reports the raw count');
      // One own sample; the prior's weight fades to 999.
      near(r.mean, (cap + 999 * 10) / 1000, 'mean');
      // Without the clamp the same bucket moves the mean much further.
      await rate({ ...op, clampZ: 1e9, by: 100 }, T0, 'other');
      near((await rate({ ...op, clampZ: 1e9 }, T0 + B, 'other')).mean, (100 + 999 * 10) / 1000, 'unclamped');
      // A bucket below minCount could not have fired: it is learned unclamped.
      await rate({ ...op, minCount: 101, by: 100 }, T0, 'small');
      near((await rate({ ...op, minCount: 101 }, T0 + B, 'small')).mean, (100 + 999 * 10) / 1000, 'below minCount');
    });

    it('rate: skipped buckets fold as zeros', async () => {
      const op = rateOp();
      await rate({ ...op, by: 5 }, T0);
      // Folds 5, 0, 0, 0: m 5 → 2.5 → 1.25 → 0.625; v 0 → 6.25 → 4.6875 → 2.734375.
      const r = await rate(op, T0 + 4 * B);
      assert.deepEqual([r.closed, r.samples, r.mean, r.variance, r.current], [5, 4, 0.625, 2.734375, 1]);
    });

    it('rate: at most 60 empty buckets are folded after a long gap', async () => {
      const op = rateOp({ ttlMs: 100_000_000 });
      await rate({ ...op, by: 5 }, T0);
      let r = await rate(op, T0 + 1000 * B);
      assert.deepEqual([r.closed, r.samples, r.current], [5, 61, 1]);
      near(r.mean, 5 * 0.5 ** 60, 'mean');
      r = await rate(op, T0 + 1000 * B + 1);
      assert.deepEqual([r.closed, r.samples, r.current], [-1, 61, 2]);
    });

    it('rate: a late event counts into the current bucket', async () => {
      const op = rateOp();
      await rate(op, T0);
      await rate({ ...op, by: 3 }, T0 + 5 * B);
      let r = await rate(op, T0 + 4 * B + 10);
      assert.deepEqual([r.closed, r.samples, r.current], [-1, 5, 4]);
      r = await rate(op, T0 + 5 * B + 10);
      assert.deepEqual([r.closed, r.current], [-1, 5]);
      r = await rate(op, T0 + 6 * B);
      assert.deepEqual([r.closed, r.samples, r.current], [5, 6, 1]);
    });

    it('rate: the state key lives ttlMs after the last call', async () => {
      const op = rateOp({ ttlMs: 60_000 });
      await rate(op, T0);
      const ttl = await h.pttl('vigil:{s}:rate:r', T0);
      assert.ok(ttl > 58_000 && ttl <= 60_000, `ttl ${ttl}`);
      // Expiry, on a short TTL: real time for Redis, the clock for the memory store.
      const short = rateOp({ ttlMs: 40 });
      await rate({ ...short, by: 3 }, T0, 'brief');
      await sleep(120);
      const r = await rate(short, T0 + 120, 'brief');
      assert.deepEqual([r.current, r.samples, r.closed], [1, 0, -1]);
    });

    it('count: counts per fixed window; score = count', async () => {
      const op = countOp();
      assert.equal(await score(op, T0), 1);
      assert.equal(await score({ ...op, by: 2 }, T0 + 1000), 3);
      assert.equal(await score(op, T0 + 59_999), 4);
      const [res] = await h.store.run([{ subject: 's', ops: [op] }], T0 + 60_000);
      assert.deepEqual(res?.results, [{ kind: 'count', count: 1, score: 1 }]);
      const ttl = await h.pttl(`vigil:{s}:count:c:${Math.floor(T0 / 60_000)}`, T0);
      assert.ok(ttl > 118_000 && ttl <= 120_000, `ttl ${ttl}`);
    });

    it('distinct: estimates members, ignores repeats, within 5 % at 1000', async () => {
      assert.equal(await score(distinctOp('a'), T0), 1);
      assert.equal(await score(distinctOp('a'), T0), 0, 'a repeat changes nothing: score 0');
      assert.equal(await score(distinctOp('b'), T0), 2);
      const batches = Array.from({ length: 1000 }, (_, i) => ({ subject: 'many', ops: [distinctOp(`member-${i}`)] }));
      const res = await h.store.run(batches, T0 + 1);
      // The last member may land on a register that already holds as much: then nothing is read.
      const last = [...res].reverse().find((r) => r.results[0]?.kind === 'distinct' && r.results[0].changed);
      const estimate = last?.results[0]?.score ?? 0;
      assert.ok(estimate >= 950 && estimate <= 1050, `estimate ${estimate}`);
      const again = await h.store.run(batches.slice(0, 100), T0 + 2);
      const unchanged = { kind: 'distinct', estimate: -1, changed: false, closed: -1, score: 0 };
      assert.deepEqual(again.map((r) => r.results[0]), new Array(100).fill(unchanged));
      const [first] = res[0]?.results ?? [];
      assert.deepEqual(first, { kind: 'distinct', estimate: 1, changed: true, closed: -1, score: 1 });
    });

    it('distinct: windows are separate and keys expire after two windows', async () => {
      await score(distinctOp('a'), T0);
      assert.equal(await score(distinctOp('b'), T0 + 59_000), 2);
      assert.equal(await score(distinctOp('a'), T0 + 60_000), 1);
      const ttl = await h.pttl(`vigil:{s}:hll:d:${Math.floor(T0 / 60_000)}`, T0 + 59_000);
      assert.ok(ttl > 118_000 && ttl <= 120_000, `ttl ${ttl}`);
    });

    it('penalty: a rule fires above its threshold and sets the penalty', async () => {
      const batch = { subject: 's', ops: [countOp()], rules: [rule(0, 2, 'throttle', 'd1')] };
      for (let i = 0; i < 2; i++) {
        const [r] = await h.store.run([batch], T0 + i);
        assert.deepEqual([r?.fired, r?.penalty], [[], null]);
      }
      const expected = { action: 'throttle', untilMs: T0 + 5 + 30_000, detector: 'd1', score: 3, sinceMs: T0 + 5, level: 0 };
      let [r] = await h.store.run([batch], T0 + 5);
      assert.deepEqual([r?.fired, r?.penalty], [[0], expected]);
      // Fires again, same strength: the active penalty is kept as it was.
      [r] = await h.store.run([batch], T0 + 10);
      assert.deepEqual([r?.fired, r?.penalty], [[0], expected]);
      // A batch without rules still reports it.
      [r] = await h.store.run([{ subject: 's', ops: [] }], T0 + 20);
      assert.deepEqual(r, { results: [], penalty: expected, fired: [], creditUntilMs: 0, cleared: false, suspicion: 1 });
      const ttl = await h.pttl('vigil:{s}:penalty', T0 + 5);
      assert.ok(ttl > 28_000 && ttl <= 30_000, `ttl ${ttl}`);
    });

    it('penalty: the strongest fired rule wins, ties go to the first', async () => {
      const rules = [rule(0, 0, 'throttle', 'a'), rule(0, 0, 'block', 'b', 9000), rule(0, 0, 'challenge', 'c'), rule(0, 0, 'block', 'd'), rule(0, 100, 'block', 'e')];
      const [r] = await h.store.run([{ subject: 's', ops: [countOp()], rules }], T0);
      assert.deepEqual(r?.fired, [0, 1, 2, 3]);
      assert.deepEqual(r?.penalty, { action: 'block', untilMs: T0 + 9000, detector: 'b', score: 1, sinceMs: T0, level: 0 });
    });

    it('penalty: never downgraded; a stronger action replaces it', async () => {
      await h.store.run([{ subject: 's', ops: [countOp()], rules: [rule(0, 0, 'challenge', 'c', 60_000)] }], T0);
      let [r] = await h.store.run([{ subject: 's', ops: [countOp()], rules: [rule(0, 0, 'throttle', 't', 1000)] }], T0 + 100);
      assert.deepEqual([r?.fired, r?.penalty?.action, r?.penalty?.sinceMs, r?.penalty?.detector], [[0], 'challenge', T0, 'c']);
      [r] = await h.store.run([{ subject: 's', ops: [countOp()], rules: [rule(0, 0, 'block', 'b', 5000)] }], T0 + 200);
      assert.deepEqual(r?.penalty, { action: 'block', untilMs: T0 + 5200, detector: 'b', score: 3, sinceMs: T0 + 200, level: 0 });
    });

    it('penalty: expires on the caller clock', async () => {
      const ops = [countOp()];
      await h.store.run([{ subject: 's', ops, rules: [rule(0, 0, 'block', 'b', 1000)] }], T0);
      let [r] = await h.store.run([{ subject: 's', ops }], T0 + 999);
      assert.equal(r?.penalty?.action, 'block');
      [r] = await h.store.run([{ subject: 's', ops }], T0 + 1000);
      assert.equal(r?.penalty, null);
      [r] = await h.store.run([{ subject: 's', ops, rules: [rule(0, 0, 'throttle', 't', 1000)] }], T0 + 1001);
      assert.deepEqual(r?.penalty, { action: 'throttle', untilMs: T0 + 2001, detector: 't', score: 4, sinceMs: T0 + 1001, level: 0 });
    });

    it('run: several batches in one call, results in batch order', async () => {
      const res = await h.store.run(
        [
          { subject: 'a', ops: [countOp(), distinctOp('x')] },
          { subject: 'b', ops: [countOp({ by: 5 })], rules: [rule(0, 4, 'block', 'bb')] },
          { subject: 'a', ops: [countOp(), distinctOp('y')] },
          { subject: 'c', ops: [rateOp()] },
        ],
        T0,
      );
      assert.deepEqual(res.map((r) => r.results.map((o) => o.score)), [[1, 1], [5], [2, 2], [0]]);
      assert.deepEqual(res.map((r) => r.penalty?.action ?? null), [null, 'block', null, null]);
      assert.deepEqual(res.map((r) => r.fired), [[], [0], [], []]);
      assert.deepEqual(await h.store.run([], T0), []);
    });

    opOptionTests(() => h);

    it('mergePopulation: folds samples like the rate EWMA, weight decays', async () => {
      assert.deepEqual(await h.store.mergePopulation('p', [], 0.5, 60_000, T0), { mean: 0, variance: 0, weight: 0 });
      // 10: m = 10, v = 0, w = 1; 20: d = 10, m = 15, v = 0.5·(0 + 0.5·100) = 25, w = 0.5 + 1.
      assert.deepEqual(await h.store.mergePopulation('p', [10, 20], 0.5, 60_000, T0), { mean: 15, variance: 25, weight: 1.5 });
      assert.deepEqual(await h.store.mergePopulation('p', [], 0.5, 60_000, T0), { mean: 15, variance: 25, weight: 1.5 });
      // 15: d = 0, v = 12.5, w = 1.75.
      assert.deepEqual(await h.store.mergePopulation('p', [15], 0.5, 60_000, T0 + 1), { mean: 15, variance: 12.5, weight: 1.75 });
      const ttl = await h.pttl('vigil:{pop}:p', T0 + 1);
      assert.ok(ttl > 58_000 && ttl <= 60_000, `ttl ${ttl}`);
    });

    it('liftPenalty: resets the lifted detector\'s state of the subject, and only that', async () => {
      const w = Math.floor(T0 / 60_000);
      const ops: Op[] = [
        rateOp({ name: 'flood' }),
        countOp({ name: 'flood:x' }),
        distinctOp('m', { name: 'flood:ids' }),
        countOp({ name: 'floodgate' }),
        countOp({ name: 'other' }),
      ];
      for (let i = 0; i < 3; i++) await h.store.run([{ subject: 's', ops, rules: [rule(1, 1, 'throttle', 'flood')] }], T0 + i);
      const lifted = await h.store.liftPenalty('s', T0 + 10);
      assert.deepEqual(lifted?.reset, [`count:flood:x:${w}`, `hll:flood:ids:${w}`, 'rate:flood']);
      const [r] = await h.store.run([{ subject: 's', ops: [rateOp({ name: 'flood' }), countOp({ name: 'flood:x' }), countOp({ name: 'floodgate' }), countOp({ name: 'other' })] }], T0 + 11);
      assert.deepEqual(r?.results.map((x) => (x.kind === 'rate' ? x.current : x.score)), [1, 1, 4, 4], 'a clean slate for that detector, the rest kept');
      assert.equal(r?.penalty, null);
      // Another subject's state of the same detector is untouched.
      await h.store.run([{ subject: 't', ops: [countOp({ name: 'flood:x' })], rules: [rule(0, 0, 'throttle', 'flood')] }], T0);
      assert.deepEqual((await h.store.liftPenalty('s', T0 + 12)), null);
      const [t] = await h.store.run([{ subject: 't', ops: [countOp({ name: 'flood:x', by: 0 })] }], T0 + 12);
      assert.equal(t?.results[0]?.score, 1);
    });

    it('liftPenalty: removes the penalty and returns it, null when there is none', async () => {
      const [set] = await h.store.run([{ subject: 's', ops: [countOp()], rules: [rule(0, 0, 'block', 'b')] }], T0);
      assert.deepEqual(await h.store.liftPenalty('s', T0 + 1), { action: 'block', untilMs: T0 + 30_000, detector: 'b', score: 1, sinceMs: T0, level: 0, reset: [] });
      assert.ok(set?.penalty);
      const [r] = await h.store.run([{ subject: 's', ops: [] }], T0 + 1);
      assert.equal(r?.penalty, null);
      assert.equal(await h.store.liftPenalty('s', T0 + 2), null);
      await h.store.ping();
    });

    escalationTests(() => h);
    markTests(() => h);
    suspicionTests(() => h);
  });
}
