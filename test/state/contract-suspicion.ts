/**
 * Contract tests of suspicion (store.ts Suspicion): after an offence, a subject's rules compare
 * against above / s and its rate ops score from ceil(minCount / s), with s decaying from sensitivity
 * to 1 with halfLifeMs and ending after keepMs; the strikes outlive the escalation count for it.
 * Registered by contractSuite, so every store (memory, Redis, the tier over both) gives these numbers.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { suspicionKeepMs, type Batch, type BatchResult, type Escalation } from '../../src/state/store.js';
import { T0, countOp, rateOp, rule, type Harness } from './fixtures.js';

const H = 3_600_000;
/** Sensitivity 3, half-life 1 h: kept ⌈1 h · log2(200)⌉ = 27 517 883 ms (s has decayed to 1.01). */
const KEEP = suspicionKeepMs(3, H);
const ESC: Escalation = { windowMs: 600_000, factor: 2, maxAction: 'block', maxMs: 100_000, suspicion: { sensitivity: 3, halfLifeMs: H, keepMs: KEEP } };

export function suspicionTests(harness: () => Harness): void {
  async function run(batch: Batch, nowMs: number): Promise<BatchResult> {
    const [res] = await harness().store.run([batch], nowMs);
    assert.ok(res);
    return res;
  }
  /** A count of `n` in a fresh window name against "count > 10 → throttle 10 s". */
  function count(subject: string, n: number, name: string, escalation: Escalation = ESC): Batch {
    return { subject, ops: [countOp({ name, by: n })], rules: [rule(0, 10, 'throttle', 't', 10_000)], escalation };
  }

  it('suspicion: keepMs is the time s takes to decay to 1.01', () => {
    assert.equal(KEEP, 27_517_883);
    assert.equal(suspicionKeepMs(1, H), 0);
    assert.equal(suspicionKeepMs(1.01, H), 0);
  });

  it('suspicion: after an offence the rules compare against above / s, s = 1 + (3 − 1)·2^(−Δ/1h), until keepMs', async () => {
    const h = harness();
    // No offence yet: s = 1, a count of 6 is under 10.
    let r = await run(count('s', 6, 'a'), T0);
    assert.deepEqual([r.suspicion, r.fired, r.penalty], [1, [], null]);
    // The offence (11 > 10): throttled; the strikes are kept for keepMs, not n · windowMs = 10 min.
    r = await run(count('s', 11, 'b'), T0 + 1);
    assert.deepEqual([r.suspicion, r.penalty?.action, r.penalty?.level], [1, 'throttle', 0]);
    const ttl = await h.pttl('vigil:{s}:strikes', T0 + 1);
    assert.ok(ttl > KEEP - 2000 && ttl <= KEEP, `strikes ttl ${ttl}, expected about ${KEEP}`);
    // 2 h later (Δ = 2 h): s = 1 + 2·¼ = 1.5, the threshold 10 / 1.5 = 6.67: 6 stays under, 7 fires.
    r = await run(count('s', 6, 'c'), T0 + 1 + 2 * H);
    assert.deepEqual([r.suspicion, r.fired, r.penalty], [1.5, [], null]);
    r = await run(count('s', 1, 'c'), T0 + 1 + 2 * H);
    assert.deepEqual([r.suspicion, r.fired, r.penalty?.action, r.penalty?.level], [1.5, [0], 'throttle', 0]);
    // That was a new offence: s is back at 3 (Δ = 0), the threshold 10 / 3: 4 fires.
    r = await run(count('s', 4, 'd'), T0 + 1 + 2 * H + 20_000);
    assert.ok(Math.abs(r.suspicion - (1 + 2 * Math.pow(2, -20_000 / H))) < 1e-6, `s ${r.suspicion}`);
    assert.deepEqual(r.fired, [0]);
    // Another subject with the same counts and no offence: nothing.
    r = await run(count('other', 7, 'c'), T0 + 1 + 2 * H);
    assert.deepEqual([r.suspicion, r.fired, r.penalty], [1, [], null]);
  });

  it('suspicion: ends after keepMs (s ≥ 1.01 until then), and an operator lift ends it at once', async () => {
    await run(count('e', 11, 'a'), T0);
    let r = await run(count('e', 9, 'b'), T0 + KEEP - 1);
    assert.deepEqual([r.suspicion, r.fired], [1.01, []], '9 < 10 / 1.01');
    r = await run(count('e', 1, 'b'), T0 + KEEP - 1);
    assert.deepEqual([r.suspicion, r.fired], [1.01, [0]], '10 > 10 / 1.01: a new offence');
    await run(count('f', 11, 'a'), T0);
    r = await run(count('f', 10, 'b'), T0 + KEEP);
    assert.deepEqual([r.suspicion, r.fired], [1, []], 'after keepMs: 10 is not above 10');

    await run(count('l', 11, 'a'), T0);
    assert.equal((await run(count('l', 0, 'b'), T0 + H)).suspicion, 2);
    await harness().store.liftPenalty('l', T0 + H);
    assert.equal((await run(count('l', 0, 'c'), T0 + H)).suspicion, 1);
  });

  it('suspicion: a rate op scores from ceil(minCount / s); without suspicion in the policy, nothing changes', async () => {
    const rate = (subject: string, escalation: Escalation) =>
      ({ subject, ops: [rateOp({ name: 'q', minCount: 10, varianceFloor: 1, by: 5 })], rules: [rule(0, 3, 'throttle', 'q')], escalation }) satisfies Batch;
    await run(count('r', 11, 'a'), T0);
    const { suspicion: _, ...plain } = ESC;
    await run(count('n', 11, 'a', plain), T0);
    const ttl = await harness().pttl('vigil:{n}:strikes', T0);
    assert.ok(ttl > 598_000 && ttl <= 600_000, `strikes ttl ${ttl}: n · windowMs without suspicion`);
    // 1 h on: s = 2, the op scores from 5: z = (5 − 0)/1 = 5 > 3 / 2.
    let r = await run(rate('r', ESC), T0 + H);
    assert.deepEqual([r.suspicion, r.results[0]?.score, r.fired], [2, 5, [0]]);
    // The same with a policy without suspicion: 5 < minCount 10 scores 0.
    r = await run(rate('n', plain), T0 + H);
    assert.deepEqual([r.suspicion, r.results[0]?.score, r.fired], [1, 0, []]);
  });
}
