/**
 * Contract tests of marks: the penalty a `tag` rule sets (store.ts PenaltyAction). Registered by
 * contractSuite inside its describe, so they run against every store with its harness. A mark is held,
 * listed, inspected, lifted and expires like a penalty; it is the weakest rung (never replaces a
 * stronger penalty, replaced by any); it is no offence (never escalated, no strikes read or written).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Batch, BatchResult, Escalation, Penalty, PenaltyRule, StepUp } from '../../src/state/store.js';
import { T0, W0, countOp, rule, type Harness } from './fixtures.js';

/** Window 10 min, doubling, up to block and 100 s (as contract-escalation.ts). */
const ESC: Escalation = { windowMs: 600_000, factor: 2, maxAction: 'block', maxMs: 100_000 };

export function markTests(harness: () => Harness): void {
  async function run(batch: Batch, nowMs: number): Promise<BatchResult> {
    const [res] = await harness().store.run([batch], nowMs);
    assert.ok(res);
    return res;
  }
  /** A batch whose count op (name = the detector) always fires its rule: count ≥ 1 > 0. */
  function fire(subject: string, action: PenaltyRule['action'], detector: string, durationMs: number, extra: Partial<Batch> = {}): Batch {
    return { subject, ops: [countOp({ name: detector })], rules: [rule(0, 0, action, detector, durationMs)], ...extra };
  }
  const brief = (p: Penalty | null): unknown[] => (p ? [p.action, p.detector, p.level, p.sinceMs, p.untilMs] : [null]);

  it('mark: a tag rule sets a tag penalty for its duration, level 0, no strikes even with escalation', async () => {
    const h = harness();
    const r = await run(fire('s', 'tag', 'scraping', 300_000, { escalation: ESC }), T0);
    assert.deepEqual(r.fired, [0]);
    assert.deepEqual(r.penalty, { action: 'tag', untilMs: T0 + 300_000, detector: 'scraping', score: 1, sinceMs: T0, level: 0 });
    const ttl = await h.pttl('vigil:{s}:penalty', T0);
    assert.ok(ttl > 298_000 && ttl <= 300_000, `mark ttl ${ttl}`);
    assert.equal(await h.pttl('vigil:{s}:strikes', T0), -2);
    // Read back by the next batch of the subject (what decides its next request), listed and inspected.
    assert.deepEqual(brief((await run({ subject: 's', ops: [] }, T0 + 1)).penalty), ['tag', 'scraping', 0, T0, T0 + 300_000]);
    assert.deepEqual(await h.store.listPenalties(T0 + 1, 10), [{ subject: 's', ...r.penalty! }]);
    const s = await h.store.inspect('s', T0 + 1);
    assert.deepEqual([s.penalty, s.strikes], [r.penalty, null]);
  });

  it('mark: never escalated, and it leaves strikes of earlier offences as they are', async () => {
    const h = harness();
    // Marks in a row (each after the last expired): every one level 0, its own duration.
    for (const t of [T0, T0 + 20_000, T0 + 40_000]) {
      assert.deepEqual(brief((await run(fire('m', 'tag', 'x', 10_000, { escalation: ESC }), t)).penalty), ['tag', 'x', 0, t, t + 10_000]);
    }
    assert.equal((await h.store.inspect('m', T0 + 40_000)).strikes, null);
    // A subject with one offence (a throttle, strikes n = 1): its mark after that is not stepped up to
    // throttle, not lengthened, and counts no strike…
    await run(fire('o', 'throttle', 't', 10_000, { escalation: ESC }), T0);
    assert.deepEqual(brief((await run(fire('o', 'tag', 'x', 10_000, { escalation: ESC }), T0 + 20_000)).penalty), ['tag', 'x', 0, T0 + 20_000, T0 + 30_000]);
    assert.deepEqual((await h.store.inspect('o', T0 + 20_000)).strikes, { n: 1, lastMs: T0 });
    // …so the next throttle is the second offence (level 1), not the third.
    assert.deepEqual(brief((await run(fire('o', 'throttle', 't', 10_000, { escalation: ESC }), T0 + 40_000)).penalty), ['challenge', 't', 1, T0 + 40_000, T0 + 60_000]);
  });

  it('mark: a stronger penalty replaces it (escalated as a first offence); firing again does not extend it', async () => {
    const a = await run(fire('s', 'tag', 'x', 300_000, { escalation: ESC }), T0);
    // The same tag rule again while the mark holds: fired, nothing set (the mark is not extended).
    const again = await run(fire('s', 'tag', 'x', 300_000, { escalation: ESC }), T0 + 1000);
    assert.deepEqual([again.fired, again.penalty], [[0], a.penalty]);
    // A throttle replaces it: level 0 (the mark was no offence), strikes n = 1.
    const t = await run(fire('s', 'throttle', 't', 10_000, { escalation: ESC }), T0 + 2000);
    assert.deepEqual(brief(t.penalty), ['throttle', 't', 0, T0 + 2000, T0 + 12_000]);
    assert.deepEqual((await harness().store.inspect('s', T0 + 2000)).strikes, { n: 1, lastMs: T0 + 2000 });
    // Without escalation too, and a challenge or a block replaces one as well.
    await run(fire('c', 'tag', 'x', 300_000), T0);
    assert.deepEqual(brief((await run(fire('c', 'challenge', 'c', 10_000), T0 + 1)).penalty), ['challenge', 'c', 0, T0 + 1, T0 + 10_001]);
    await run(fire('b', 'tag', 'x', 300_000), T0);
    assert.deepEqual(brief((await run(fire('b', 'block', 'b', 10_000), T0 + 1)).penalty), ['block', 'b', 0, T0 + 1, T0 + 10_001]);
  });

  it('mark: never replaces or weakens an active stronger penalty; in one batch the stronger rule wins', async () => {
    const h = harness();
    const t = await run(fire('s', 'throttle', 't', 60_000, { escalation: ESC }), T0);
    const r = await run(fire('s', 'tag', 'x', 300_000, { escalation: ESC }), T0 + 1);
    assert.deepEqual([r.fired, r.penalty], [[0], t.penalty]);
    assert.deepEqual((await h.store.inspect('s', T0 + 1)).strikes, { n: 1, lastMs: T0 });
    // Both rules fire in one batch: the throttle is set, listed first in the rules or not.
    const both = await run(
      { subject: 'two', ops: [countOp({ name: 'x' })], rules: [rule(0, 0, 'tag', 'x', 300_000), rule(0, 0, 'throttle', 't', 10_000)] },
      T0,
    );
    assert.deepEqual([both.fired, ...brief(both.penalty)], [[0, 1], 'throttle', 't', 0, T0, T0 + 10_000]);
    // When the stronger penalty expires, the next firing sets the mark.
    assert.deepEqual(brief((await run(fire('s', 'tag', 'x', 300_000), T0 + 60_000)).penalty), ['tag', 'x', 0, T0 + 60_000, T0 + 360_000]);
  });

  it('mark: set while the identity holds step-up credit (only challenges are excused)', async () => {
    const h = harness();
    const step: StepUp = { relax: 2, creditMs: 300_000 };
    await run(fire('c', 'challenge', 'c', 60_000), T0);
    assert.equal(await h.store.confirmStepUp('c', 300_000, T0 + 1), true);
    // Count 1 > 0 × relax 2: the rule still fires; a mark is set under the credit.
    const r = await run(fire('c', 'tag', 'x', 10_000, { stepUp: step }), T0 + 2);
    assert.deepEqual([r.creditUntilMs, ...brief(r.penalty)], [T0 + 300_001, 'tag', 'x', 0, T0 + 2, T0 + 10_002]);
  });

  it('mark: expires on the caller\'s clock', async () => {
    const h = harness();
    await run(fire('s', 'tag', 'x', 10_000), T0);
    assert.equal((await run({ subject: 's', ops: [] }, T0 + 9_999)).penalty?.action, 'tag');
    assert.equal((await run({ subject: 's', ops: [] }, T0 + 10_000)).penalty, null);
    assert.deepEqual(await h.store.listPenalties(T0 + 10_000, 10), []);
    assert.equal((await h.store.inspect('s', T0 + 10_000)).penalty, null);
  });

  it('mark: lifted like a penalty, with its detector\'s state', async () => {
    const h = harness();
    const set = await run(fire('s', 'tag', 'scraping', 300_000, { escalation: ESC }), T0);
    assert.deepEqual(await h.store.liftPenalty('s', T0 + 1), { ...set.penalty!, reset: [`count:scraping:${W0}`] });
    assert.equal(await h.pttl('vigil:{s}:penalty', T0 + 1), -2);
    assert.equal((await run({ subject: 's', ops: [] }, T0 + 2)).penalty, null);
    assert.equal(await h.store.liftPenalty('s', T0 + 3), null);
  });
}
