/**
 * Contract tests of the op options (rate scoreMode/maxEmpty/skipLongGaps/by 0, count by 0/sliding,
 * distinct changed/learn/'' and ratio penalty rules). Registered by contractSuite inside its describe,
 * so they run against every store with its harness. Expected numbers are worked out by hand.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Batch, BatchResult, Op, OpResult, PenaltyRule, RateResult } from '../../src/state/store.js';
import { B, T0, W0, countOp, distinctOp, near, rateOp, rule, type Harness } from './fixtures.js';

function ttlAbout(ttl: number, ms: number, what: string): void {
  assert.ok(ttl > ms - 2000 && ttl <= ms, `${what}: ttl ${ttl}, expected about ${ms}`);
}

export function opOptionTests(harness: () => Harness): void {
  async function run(batch: Batch, nowMs: number): Promise<BatchResult> {
    const [res] = await harness().store.run([batch], nowMs);
    assert.ok(res);
    return res;
  }
  async function one(op: Op, nowMs: number, subject = 's'): Promise<OpResult> {
    const r = (await run({ subject, ops: [op] }, nowMs)).results[0];
    assert.ok(r);
    return r;
  }
  async function rate(op: Op, nowMs: number, subject = 's'): Promise<RateResult> {
    const r = await one(op, nowMs, subject);
    assert.ok(r.kind === 'rate');
    return r;
  }
  const unchanged = { kind: 'distinct', estimate: -1, changed: false, closed: -1, score: 0 };
  const added = (estimate: number, closed = -1): OpResult => ({ kind: 'distinct', estimate, changed: true, closed, score: estimate });

  it('rate: scoreMode ratio scores current / max(meanEff, 1) from minCount on', async () => {
    const op = rateOp({ scoreMode: 'ratio', minCount: 3 });
    // No baseline: mean 0 and sd 0, so z = 0; ratio = 4 / max(0, 1) = 4, and 4 ≥ minCount.
    let r = await rate({ ...op, by: 4 }, T0);
    assert.deepEqual([r.current, r.z, r.ratio, r.score], [4, 0, 4, 4]);
    // Folds 4 (m = 4, sd = 2). current 1 < minCount: score 0; ratio 1/4 and z (1 − 4)/2 still reported.
    r = await rate(op, T0 + B);
    assert.deepEqual([r.closed, r.mean, r.current, r.ratio, r.z, r.score], [4, 4, 1, 0.25, -1.5, 0]);
    // current 10: ratio 10/4 = 2.5 is the score; z = (10 − 4)/2 = 3 is what mode 'z' would score.
    r = await rate({ ...op, by: 9 }, T0 + B + 1);
    assert.deepEqual([r.current, r.ratio, r.z, r.score], [10, 2.5, 3, 2.5]);
    // A mean below 1 divides by 1: prior mean 0.5, current 2 → ratio 2.
    r = await rate(rateOp({ scoreMode: 'ratio', by: 2, priorMean: 0.5, priorVariance: 0.5, priorWeight: 10 }), T0, 'quiet');
    assert.deepEqual([r.mean, r.ratio, r.score], [0.5, 2, 2]);
    // Rules compare the ratio: 3 / 1 = 3 > 2.9 fires, 3 > 3 does not.
    const res = await run({ subject: 'ruled', ops: [{ ...op, by: 3 }], rules: [rule(0, 2.9, 'throttle', 't'), rule(0, 3, 'block', 'b')] }, T0);
    assert.deepEqual([res.fired, res.penalty?.action, res.penalty?.score], [[0], 'throttle', 3]);
  });

  it('rate: maxEmpty bounds the zeros folded after a gap; skipLongGaps folds none after a longer one', async () => {
    const capped = rateOp({ maxEmpty: 3, ttlMs: 100_000_000 });
    const skipping = { ...capped, skipLongGaps: true };
    const cases: [string, typeof capped][] = [['capped', capped], ['skipping', skipping]];
    // 2 empty buckets (≤ 3): both fold 5, 0, 0: m 5 → 2.5 → 1.25; v 0 → 0.5·(0 + 0.5·25) = 6.25 → 0.5·(6.25 + 0.5·6.25) = 4.6875.
    for (const [subject, op] of cases) {
      await rate({ ...op, by: 5 }, T0, `${subject}-short`);
      const r = await rate(op, T0 + 3 * B, `${subject}-short`);
      assert.deepEqual([r.closed, r.samples, r.mean, r.variance], [5, 3, 1.25, 4.6875], subject);
    }
    // Exactly 3 empty buckets is not more than maxEmpty: both fold 5, 0, 0, 0 (v → 0.5·(4.6875 + 0.5·1.5625)).
    for (const [subject, op] of cases) {
      await rate({ ...op, by: 5 }, T0, `${subject}-equal`);
      const r = await rate(op, T0 + 4 * B, `${subject}-equal`);
      assert.deepEqual([r.closed, r.samples, r.mean, r.variance], [5, 4, 0.625, 2.734375], subject);
    }
    // 9 empty buckets (> 3): capped folds 5 and min(9, 3) = 3 zeros, as above; skipping folds 5 only.
    await rate({ ...capped, by: 5 }, T0, 'capped-long');
    let r = await rate(capped, T0 + 10 * B, 'capped-long');
    assert.deepEqual([r.closed, r.samples, r.mean, r.variance], [5, 4, 0.625, 2.734375]);
    await rate({ ...skipping, by: 5 }, T0, 'skipping-long');
    r = await rate(skipping, T0 + 10 * B, 'skipping-long');
    assert.deepEqual([r.closed, r.samples, r.mean, r.variance, r.current], [5, 1, 5, 0, 1]);
    near(r.z, (1 - 5) / Math.sqrt(5), 'z against the unchanged baseline');
    // Then the usual folding: the next bucket folds 1: d = −4, m = 3, v = 0.5·(0 + 0.5·16) = 4.
    r = await rate(skipping, T0 + 11 * B, 'skipping-long');
    assert.deepEqual([r.closed, r.samples, r.mean, r.variance], [1, 2, 3, 4]);
  });

  it('rate: by 0 reads the score without counting', async () => {
    const op = rateOp();
    await rate({ ...op, by: 4 }, T0);
    // by 0 in the next bucket still closes bucket 0 (fold 4: m = 4, sd = 2) but counts nothing: z = (0 − 4)/2.
    let r = await rate({ ...op, by: 0 }, T0 + B);
    assert.deepEqual([r.closed, r.samples, r.current, r.z, r.ratio], [4, 1, 0, -2, 0]);
    r = await rate({ ...op, by: 2 }, T0 + B + 1);
    assert.deepEqual([r.current, r.z], [2, -1]);
    r = await rate({ ...op, by: 0 }, T0 + B + 2);
    assert.deepEqual([r.closed, r.current, r.z, r.ratio, r.score], [-1, 2, -1, 0.5, -1]);
    // The state key is written and its TTL refreshed as on any call, even for a new subject.
    r = await rate({ ...op, by: 0 }, T0, 'new');
    assert.deepEqual([r.current, r.samples, r.closed, r.score], [0, 0, -1, 0]);
    ttlAbout(await harness().pttl('vigil:{new}:rate:r', T0), 3_600_000, 'rate key');
  });

  it('count: by 0 reads without creating a key', async () => {
    const h = harness();
    assert.deepEqual(await one(countOp({ by: 0 }), T0), { kind: 'count', count: 0, score: 0 });
    assert.deepEqual(await one(countOp({ by: 0, sliding: true }), T0), { kind: 'count', count: 0, score: 0 });
    assert.equal(await h.pttl(`vigil:{s}:count:c:${W0}`, T0), -2);
    assert.deepEqual(await h.keys(T0), []);
    await one(countOp({ by: 2 }), T0);
    assert.deepEqual(await one(countOp({ by: 0 }), T0 + 1000), { kind: 'count', count: 2, score: 2 });
    // The read added nothing.
    assert.deepEqual(await one(countOp(), T0 + 2000), { kind: 'count', count: 3, score: 3 });
    assert.deepEqual(await h.keys(T0 + 2000), [`vigil:{s}:count:c:${W0}`]);
  });

  it('count: sliding adds the previous window weighted by its share of the last windowMs', async () => {
    const h = harness();
    const op = countOp({ sliding: true });
    // In W0 − 1, half way through; its own previous window is empty: 4 + 0·0.5.
    assert.equal((await one({ ...op, by: 4 }, T0 - 30_000)).score, 4);
    // 0 % into W0: 1 + 4·(1 − 0) = 5.
    assert.equal((await one(op, T0)).score, 5);
    // 25 %: 2 + 4·(1 − 15_000/60_000) = 2 + 3 = 5.
    assert.equal((await one(op, T0 + 15_000)).score, 5);
    // 50 %, by 0 (reads only): 2 + 4·0.5 = 4.
    assert.equal((await one({ ...op, by: 0 }, T0 + 30_000)).score, 4);
    // 99 %: 3 + 4·(1 − 59_400/60_000) = 3 + 0.04, a float; a rule compares it as it is.
    const res = await run({ subject: 's', ops: [op], rules: [rule(0, 3, 'throttle', 'sliding')] }, T0 + 59_400);
    const r = res.results[0];
    assert.ok(r?.kind === 'count');
    near(r.count, 3.04, 'count at 99 %');
    assert.equal(r.score, r.count);
    assert.deepEqual(res.fired, [0]);
    // The next window: W0 becomes the previous one: 1 + 3·1 = 4; a fixed count sees W0 + 1 only.
    assert.equal((await one(op, T0 + 60_000)).score, 4);
    assert.equal((await one(countOp({ by: 0 }), T0 + 60_000)).score, 1);
    // Each window's key lives 2 × windowMs from its creation; the sliding read created no other key.
    ttlAbout(await h.pttl(`vigil:{s}:count:c:${W0 - 1}`, T0 - 30_000), 120_000, 'W0 − 1');
    ttlAbout(await h.pttl(`vigil:{s}:count:c:${W0}`, T0), 120_000, 'W0');
    ttlAbout(await h.pttl(`vigil:{s}:count:c:${W0 + 1}`, T0 + 60_000), 120_000, 'W0 + 1');
    assert.equal(await h.pttl(`vigil:{s}:count:c:${W0 - 2}`, T0 - 30_000), -2);
  });

  it('distinct: the estimate is read only when the add changed the HLL', async () => {
    assert.deepEqual(await one(distinctOp('a'), T0), added(1));
    // Re-adding a member changes no register: nothing read, score 0.
    assert.deepEqual(await one(distinctOp('a'), T0 + 1), unchanged);
    assert.deepEqual(await one(distinctOp('b'), T0 + 2), added(2));
    assert.deepEqual(await one(distinctOp('b'), T0 + 3), unchanged);
    // So a rule fires only on the call that raised the count.
    const batch = (member: string): Batch => ({ subject: 'r', ops: [distinctOp(member)], rules: [rule(0, 1, 'block', 'spray')] });
    assert.deepEqual((await run(batch('x'), T0)).fired, []);
    let res = await run(batch('y'), T0 + 1);
    assert.deepEqual([res.results[0], res.fired, res.penalty?.score], [added(2), [0], 2]);
    res = await run(batch('y'), T0 + 2);
    assert.deepEqual([res.results[0], res.fired, res.penalty?.action], [unchanged, [], 'block']);
  });

  it("distinct: member '' adds nothing and reads nothing", async () => {
    const h = harness();
    assert.deepEqual(await one(distinctOp(''), T0), unchanged);
    assert.deepEqual(await one(distinctOp('', { learn: true }), T0), unchanged);
    assert.deepEqual(await h.keys(T0), []);
    assert.deepEqual(await one(distinctOp('a'), T0 + 1), added(1));
    assert.deepEqual(await one(distinctOp(''), T0 + 2), unchanged);
    assert.deepEqual(await one(distinctOp('b'), T0 + 3), added(2));
  });

  it("distinct: learn reports the previous window's estimate once, when the window's HLL is created", async () => {
    const learn = (member: string): Op => distinctOp(member, { learn: true });
    // W0 created, W0 − 1 does not exist: closed 0.
    assert.deepEqual(await one(learn('a'), T0), added(1, 0));
    // Later calls in W0: −1, whether they change the HLL or not.
    assert.deepEqual(await one(learn('b'), T0 + 1000), added(2));
    assert.deepEqual(await one(learn('c'), T0 + 2000), added(3));
    assert.deepEqual(await one(learn('a'), T0 + 3000), unchanged);
    // The first call of W0 + 1 creates its HLL and reads W0's final estimate, 3.
    assert.deepEqual(await one(learn('x'), T0 + 60_000), added(1, 3));
    assert.deepEqual(await one(learn('y'), T0 + 61_000), added(2));
    assert.deepEqual(await one(learn('x'), T0 + 62_000), unchanged);
    // W0 + 3 after an empty W0 + 2: closed 0, and W0 + 2's key is not created by the read.
    assert.deepEqual(await one(learn('z'), T0 + 180_000), added(1, 0));
    assert.equal(await harness().pttl(`vigil:{s}:hll:d:${W0 + 2}`, T0 + 180_000), -2);
    // Without learn, creating a window reports −1.
    assert.deepEqual(await one(distinctOp('a'), T0, 'plain'), added(1));
    assert.deepEqual(await one(distinctOp('a'), T0 + 60_000, 'plain'), added(1));
  });

  it('penalty: ratio rules fire on score(op) / score(per) above the threshold', async () => {
    const ops = (fail: number, all: number): Op[] => [countOp({ name: 'fail', by: fail }), countOp({ name: 'all', by: all })];
    const ratio = (above: number, perAtLeast?: number, action: PenaltyRule['action'] = 'block'): PenaltyRule => ({
      op: 0, per: 1, above, action, durationMs: 30_000, detector: 'ratio', ...(perAtLeast === undefined ? {} : { perAtLeast }),
    });
    // 3 / 4 = 0.75 > 0.5 and 4 ≥ perAtLeast 4: fires; the penalty's score is the ratio.
    let r = await run({ subject: 'a', ops: ops(3, 4), rules: [ratio(0.5, 4)] }, T0);
    assert.deepEqual([r.fired, r.penalty], [[0], { action: 'block', untilMs: T0 + 30_000, detector: 'ratio', score: 0.75, sinceMs: T0, level: 0 }]);
    // 3 / 3 = 1 > 0.5, but the denominator 3 is below perAtLeast 4.
    r = await run({ subject: 'b', ops: ops(3, 3), rules: [ratio(0.5, 4)] }, T0);
    assert.deepEqual([r.fired, r.penalty], [[], null]);
    // 2 / 4 = 0.5 is not above 0.5 (strict).
    r = await run({ subject: 'c', ops: ops(2, 4), rules: [ratio(0.5, 4)] }, T0);
    assert.deepEqual([r.fired, r.penalty], [[], null]);
    // A zero denominator never fires, even with perAtLeast 0 (count by 0 reads 0).
    r = await run({ subject: 'd', ops: ops(5, 0), rules: [ratio(0.5, 0), ratio(-1, 0)] }, T0);
    assert.deepEqual([r.fired, r.penalty], [[], null]);
    // perAtLeast defaults to 1: 1 / 1 = 1 > 0.5 fires…
    r = await run({ subject: 'e', ops: ops(1, 1), rules: [ratio(0.5)] }, T0);
    assert.deepEqual(r.fired, [0]);
    // …and a denominator of 0.5 (a sliding count: 0 + 1·(1 − 30/60)) is below it; 1 / 0.5 = 2.
    await run({ subject: 'f', ops: [countOp({ name: 'all' })] }, T0 - 30_000);
    const sliding: Op[] = [countOp({ name: 'fail' }), countOp({ name: 'all', by: 0, sliding: true })];
    r = await run({ subject: 'f', ops: sliding, rules: [ratio(0.5), ratio(0.5, 0.5, 'throttle'), rule(0, 0, 'challenge', 'plain')] }, T0 + 30_000);
    assert.deepEqual(r.results.map((x) => x.score), [1, 0.5]);
    assert.deepEqual([r.fired, r.penalty?.action, r.penalty?.detector, r.penalty?.score], [[1, 2], 'challenge', 'plain', 1]);
  });
}
