/**
 * Contract tests of escalation, step-up (clear, credit), liftPenalty, confirmStepUp, listPenalties and
 * inspect. Registered by contractSuite inside its describe, so they run against every store with its
 * harness. Expected numbers are worked out by hand from store.ts (Escalation, StepUp).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { Batch, BatchResult, Escalation, Op, Penalty, PenaltyRule, StepUp } from '../../src/state/store.js';
import { T0, W0, countOp, distinctOp, rateOp, rule, type Harness } from './fixtures.js';

function ttlAbout(ttl: number, ms: number, what: string): void {
  assert.ok(ttl > ms - 2000 && ttl <= ms, `${what}: ttl ${ttl}, expected about ${ms}`);
}

/** Window 10 min, doubling, up to block and 100 s. */
const ESC: Escalation = { windowMs: 600_000, factor: 2, maxAction: 'block', maxMs: 100_000 };
const STEP: StepUp = { relax: 2, creditMs: 300_000 };

export function escalationTests(harness: () => Harness): void {
  async function run(batch: Batch, nowMs: number): Promise<BatchResult> {
    const [res] = await harness().store.run([batch], nowMs);
    assert.ok(res);
    return res;
  }
  /** A batch whose count op always fires `rules` (count ≥ 1 > 0). */
  function offend(subject: string, action: PenaltyRule['action'], extra: Partial<Batch> = {}, durationMs = 10_000): Batch {
    return { subject, ops: [countOp({ name: 'o' })], rules: [rule(0, 0, action, action[0]!, durationMs)], ...extra };
  }
  const brief = (p: Penalty | null): unknown[] => (p ? [p.action, p.level, p.untilMs - p.sinceMs] : [null]);
  async function strikes(subject: string, nowMs: number): Promise<{ n: number; lastMs: number } | null> {
    return (await harness().store.inspect(subject, nowMs)).strikes;
  }
  /** Gives `subject` credit until nowMs + creditMs: a challenge, confirmed. */
  async function credit(subject: string, nowMs: number, creditMs = 300_000): Promise<void> {
    await run(offend(subject, 'challenge', {}, 60_000), nowMs - 1);
    assert.equal(await harness().store.confirmStepUp(subject, creditMs, nowMs), true);
  }

  it('escalation: level 0, 1, 2, … on each offence, duration factor^level up to maxMs', async () => {
    const h = harness();
    const b = offend('s', 'throttle', { escalation: ESC });
    // First offence: the rule as it is; strikes n = 1, key TTL 1·windowMs.
    let r = await run(b, T0);
    assert.deepEqual(r.penalty, { action: 'throttle', untilMs: T0 + 10_000, detector: 't', score: 1, sinceMs: T0, level: 0 });
    assert.deepEqual(await strikes('s', T0), { n: 1, lastMs: T0 });
    ttlAbout(await h.pttl('vigil:{s}:strikes', T0), 600_000, 'strikes after 1');
    // After it expired: level 1 → one step up (challenge), 10 s · 2.
    r = await run(b, T0 + 20_000);
    assert.deepEqual(r.penalty, { action: 'challenge', untilMs: T0 + 40_000, detector: 't', score: 2, sinceMs: T0 + 20_000, level: 1 });
    ttlAbout(await h.pttl('vigil:{s}:strikes', T0 + 20_000), 1_200_000, 'strikes after 2');
    ttlAbout(await h.pttl('vigil:{s}:penalty', T0 + 20_000), 20_000, 'penalty of level 1');
    // Level 2: block, 40 s; level 3: block (the top), 80 s; level 4: 160 s capped at maxMs 100 s.
    r = await run(b, T0 + 60_000);
    assert.deepEqual(brief(r.penalty), ['block', 2, 40_000]);
    r = await run(b, T0 + 110_000);
    assert.deepEqual(brief(r.penalty), ['block', 3, 80_000]);
    r = await run(b, T0 + 200_000);
    assert.deepEqual(brief(r.penalty), ['block', 4, 100_000]);
    assert.deepEqual(await strikes('s', T0 + 200_000), { n: 5, lastMs: T0 + 200_000 });
    ttlAbout(await h.pttl('vigil:{s}:strikes', T0 + 200_000), 3_000_000, 'strikes after 5');
    // maxMs below D: the rule's own duration is never cut.
    const short: Escalation = { ...ESC, maxMs: 1000 };
    await run(offend('m', 'throttle', { escalation: short }), T0);
    r = await run(offend('m', 'throttle', { escalation: short }), T0 + 20_000);
    assert.deepEqual(brief(r.penalty), ['challenge', 1, 10_000]);
    // A fractional factor: 10 s · 1.5 · 1.5 = 22.5 s.
    const soft: Escalation = { ...ESC, factor: 1.5 };
    for (const t of [T0, T0 + 20_000]) await run(offend('f', 'throttle', { escalation: soft }), t);
    r = await run(offend('f', 'throttle', { escalation: soft }), T0 + 60_000);
    assert.deepEqual(brief(r.penalty), ['block', 2, 22_500]);
  });

  it('escalation: firing again while penalized is no new offence; a stronger own action replaces it, escalated', async () => {
    const b = offend('s', 'throttle', { escalation: ESC });
    assert.deepEqual(brief((await run(b, T0)).penalty), ['throttle', 0, 10_000]);
    // The same rule again, while its throttle is active: fired, but nothing set and no strike counted
    // (its escalated action, challenge, would be stronger: the own action is what is compared).
    let r = await run(b, T0 + 1);
    assert.deepEqual([r.fired, r.penalty?.sinceMs, ...brief(r.penalty)], [[0], T0, 'throttle', 0, 10_000]);
    assert.deepEqual(await strikes('s', T0 + 1), { n: 1, lastMs: T0 });
    // A challenge rule beats the throttle: set, one step up (block), twice as long.
    r = await run(offend('s', 'challenge', { escalation: ESC }), T0 + 2);
    assert.deepEqual([r.penalty?.sinceMs, r.penalty?.detector, ...brief(r.penalty)], [T0 + 2, 'c', 'block', 1, 20_000]);
    assert.deepEqual(await strikes('s', T0 + 2), { n: 2, lastMs: T0 + 2 });
    // A block rule does not beat the (escalated) block: nothing.
    r = await run(offend('s', 'block', { escalation: ESC }), T0 + 3);
    assert.deepEqual([r.fired, r.penalty?.sinceMs, r.penalty?.detector], [[0], T0 + 2, 'c']);
    assert.deepEqual(await strikes('s', T0 + 3), { n: 2, lastMs: T0 + 2 });
  });

  it('escalation: capped at maxAction, but a rule stronger than maxAction keeps its own action', async () => {
    const cap: Escalation = { ...ESC, maxAction: 'challenge' };
    const b = offend('s', 'throttle', { escalation: cap });
    await run(b, T0);
    assert.deepEqual(brief((await run(b, T0 + 20_000)).penalty), ['challenge', 1, 20_000]);
    // Level 2 would be block: capped at challenge, 40 s.
    let r = await run(b, T0 + 60_000);
    assert.deepEqual(brief(r.penalty), ['challenge', 2, 40_000]);
    assert.deepEqual(await strikes('s', T0 + 60_000), { n: 3, lastMs: T0 + 60_000 });
    // A block rule stays block under a challenge cap, at every level.
    const blk = offend('b', 'block', { escalation: cap });
    assert.deepEqual(brief((await run(blk, T0)).penalty), ['block', 0, 10_000]);
    assert.deepEqual(brief((await run(blk, T0 + 20_000)).penalty), ['block', 1, 20_000]);
    r = await run(offend('t', 'block', { escalation: { ...ESC, maxAction: 'throttle' } }), T0);
    assert.deepEqual(brief(r.penalty), ['block', 0, 10_000]);
    // A throttle rule under a throttle cap stays throttle; its duration still grows.
    const tt = offend('tt', 'throttle', { escalation: { ...ESC, maxAction: 'throttle' } });
    await run(tt, T0);
    assert.deepEqual(brief((await run(tt, T0 + 20_000)).penalty), ['throttle', 1, 20_000]);
  });

  it('escalation: offences decay by one per windowMs without one', async () => {
    const e: Escalation = { windowMs: 60_000, factor: 1, maxAction: 'block', maxMs: 0 };
    const b = offend('s', 'throttle', { escalation: e }, 1000);
    // factor 1, maxMs 0: the duration stays the rule's (min(D·1, max(D, 0)) = D).
    assert.deepEqual(brief((await run(b, T0)).penalty), ['throttle', 0, 1000]);
    assert.deepEqual(brief((await run(b, T0 + 2000)).penalty), ['challenge', 1, 1000]);
    assert.deepEqual(brief((await run(b, T0 + 4000)).penalty), ['block', 2, 1000]);
    // One window after the last offence: n_eff = 3 − 1 = 2.
    assert.deepEqual(brief((await run(b, T0 + 64_000)).penalty), ['block', 2, 1000]);
    assert.deepEqual(await strikes('s', T0 + 64_000), { n: 3, lastMs: T0 + 64_000 });
    // Two windows and a bit: 3 − 2 = 1.
    assert.deepEqual(brief((await run(b, T0 + 185_000)).penalty), ['challenge', 1, 1000]);
    ttlAbout(await harness().pttl('vigil:{s}:strikes', T0 + 185_000), 120_000, 'strikes n = 2');
    // n = 2 at T0 + 185 s: 1 left until two full windows have passed, then none (and no key).
    assert.deepEqual(await strikes('s', T0 + 185_000 + 59_999), { n: 2, lastMs: T0 + 185_000 });
    assert.deepEqual(await strikes('s', T0 + 185_000 + 60_000), { n: 1, lastMs: T0 + 185_000 });
    assert.deepEqual(await strikes('s', T0 + 305_000 - 1), { n: 1, lastMs: T0 + 185_000 });
    assert.equal(await strikes('s', T0 + 305_000), null);
    assert.deepEqual(brief((await run(b, T0 + 305_000)).penalty), ['throttle', 0, 1000]);
  });

  it('escalation: without it, level 0 and no strikes key', async () => {
    const h = harness();
    const b = offend('s', 'throttle');
    for (const t of [T0, T0 + 20_000, T0 + 40_000]) assert.deepEqual(brief((await run(b, t)).penalty), ['throttle', 0, 10_000]);
    // A stronger rule replaces it, still unescalated.
    const r = await run(offend('s', 'block'), T0 + 40_001);
    assert.deepEqual(brief(r.penalty), ['block', 0, 10_000]);
    assert.equal(await h.pttl('vigil:{s}:strikes', T0 + 40_001), -2);
    assert.equal(await strikes('s', T0 + 40_001), null);
    assert.deepEqual(await h.keys(T0 + 40_001), [`vigil:{s}:count:o:${W0}`, 'vigil:{s}:penalty']);
  });

  it('step-up clear: a challenge set no later than authTime + skew is cleared and credit granted', async () => {
    const h = harness();
    await run(offend('s', 'challenge', { escalation: ESC }, 60_000), T0);
    // since T0 > authTime + skew = T0 − 1: not cleared, no credit.
    const late = { ...STEP, clear: { authTimeMs: T0 - 5001, skewMs: 5000 } };
    let r = await run({ subject: 's', ops: [], stepUp: late }, T0 + 100);
    assert.deepEqual([r.cleared, r.creditUntilMs, r.penalty?.action], [false, 0, 'challenge']);
    assert.equal(await h.pttl('vigil:{s}:credit', T0 + 100), -2);
    // since T0 = authTime + skew: cleared; credit until now + creditMs, key TTL creditMs.
    const ok = { ...STEP, clear: { authTimeMs: T0 - 5000, skewMs: 5000 } };
    r = await run({ subject: 's', ops: [], stepUp: ok }, T0 + 100);
    assert.deepEqual(r, { results: [], penalty: null, fired: [], creditUntilMs: T0 + 300_100, cleared: true, suspicion: 1 });
    ttlAbout(await h.pttl('vigil:{s}:credit', T0 + 100), 300_000, 'credit');
    // The strikes are kept; clearing again finds nothing to clear, the credit stays.
    assert.deepEqual(await strikes('s', T0 + 100), { n: 1, lastMs: T0 });
    r = await run({ subject: 's', ops: [], stepUp: ok }, T0 + 200);
    assert.deepEqual([r.cleared, r.creditUntilMs, r.penalty], [false, T0 + 300_100, null]);
    // Authenticated after the challenge: cleared too.
    await run(offend('later', 'challenge', {}, 60_000), T0);
    r = await run({ subject: 'later', ops: [], stepUp: { ...STEP, clear: { authTimeMs: T0 + 50, skewMs: 0 } } }, T0 + 100);
    assert.deepEqual([r.cleared, r.penalty], [true, null]);
  });

  it('step-up clear: only a challenge; the clearing batch itself runs with the credit', async () => {
    const clear = { ...STEP, clear: { authTimeMs: T0, skewMs: 0 } };
    for (const action of ['throttle', 'block'] as const) {
      await run(offend(action, action, {}, 60_000), T0);
      const r = await run({ subject: action, ops: [], stepUp: clear }, T0 + 1);
      assert.deepEqual([r.cleared, r.creditUntilMs, r.penalty?.action], [false, 0, action], action);
    }
    // The challenge rule fires again in the clearing batch (2 > 0·relax): the batch already runs with
    // the credit it granted, so the challenge sets nothing.
    await run(offend('c', 'challenge', {}, 60_000), T0);
    const r = await run({ ...offend('c', 'challenge', {}, 60_000), stepUp: clear }, T0 + 1);
    assert.deepEqual([r.cleared, r.fired, r.penalty, r.creditUntilMs], [true, [0], null, T0 + 300_001]);
    // No clear asked for: nothing is cleared.
    await run(offend('n', 'challenge', {}, 60_000), T0);
    const n = await run({ subject: 'n', ops: [], stepUp: STEP }, T0 + 1);
    assert.deepEqual([n.cleared, n.creditUntilMs, n.penalty?.action], [false, 0, 'challenge']);
  });

  it('credit: thresholds relax to above × relax while it is active (plain and ratio rules)', async () => {
    await credit('s', T0);
    const until = T0 + 300_000;
    const plain = (by: number, stepUp?: StepUp): Batch => ({
      subject: 's', ops: [countOp({ name: 'x', by })], rules: [rule(0, 2, 'throttle', 't')], ...(stepUp ? { stepUp } : {}),
    });
    // Without credit, 3 > 2 fires.
    let r = await run({ ...plain(3), subject: 'nocredit', stepUp: STEP }, T0 + 1);
    assert.deepEqual([r.fired, r.penalty?.action, r.creditUntilMs], [[0], 'throttle', 0]);
    // With credit: 3 is not above 2·2 = 4; 4 neither (strict); 5 is.
    r = await run(plain(3, STEP), T0 + 1);
    assert.deepEqual([r.fired, r.penalty, r.creditUntilMs, r.cleared], [[], null, until, false]);
    r = await run(plain(1, STEP), T0 + 2);
    assert.deepEqual([r.results[0]?.score, r.fired, r.penalty], [4, [], null]);
    r = await run(plain(1, STEP), T0 + 3);
    assert.deepEqual([r.results[0]?.score, r.fired, r.penalty?.action, r.penalty?.score], [5, [0], 'throttle', 5]);
    // Without stepUp in the batch, the credit is neither read nor applied: 6 > 2, and creditUntilMs 0.
    r = await run({ ...plain(1), subject: 's' }, T0 + 4);
    assert.deepEqual([r.fired, r.creditUntilMs], [[0], 0]);
    // Ratio rules: 3/4 = 0.75 > 0.4 fires without credit, not against 0.4·2 = 0.8; 5/5 = 1 does.
    const ratio = (fail: number, all: number, subject: string): Batch => ({
      subject,
      ops: [countOp({ name: 'fail', by: fail }), countOp({ name: 'all', by: all })],
      rules: [{ op: 0, per: 1, above: 0.4, perAtLeast: 4, action: 'block', durationMs: 30_000, detector: 'ratio' }],
      stepUp: STEP,
    });
    await credit('r', T0);
    r = await run(ratio(3, 4, 'r0'), T0 + 1);
    assert.deepEqual([r.fired, r.penalty?.action], [[0], 'block']);
    r = await run(ratio(3, 4, 'r'), T0 + 1);
    assert.deepEqual([r.fired, r.penalty, r.creditUntilMs], [[], null, until]);
    r = await run(ratio(2, 1, 'r'), T0 + 2);
    assert.deepEqual([r.results.map((x) => x.score), r.fired, r.penalty?.action, r.penalty?.score], [[5, 5], [0], 'block', 1]);
    // Credit ends at its expiry on the caller's clock (whatever Redis's TTL says): 3 fires again (a
    // new window; the throttle set at T0 + 3 has expired).
    r = await run(plain(3, STEP), until - 1);
    assert.deepEqual([r.creditUntilMs, r.fired], [until, []]);
    r = await run(plain(3, STEP), until);
    assert.deepEqual([r.results[0]?.score, r.creditUntilMs, r.fired, r.penalty?.action], [3, 0, [0], 'throttle']);
  });

  it('credit: a challenge sets nothing while it is active; throttle and block still do', async () => {
    await credit('s', T0);
    const rules = [rule(0, 0, 'challenge', 'c'), rule(0, 0, 'throttle', 't')];
    let r = await run({ subject: 's', ops: [countOp({ name: 'x' })], rules, stepUp: STEP }, T0 + 1);
    assert.deepEqual([r.fired, r.penalty?.action, r.penalty?.detector], [[0, 1], 'throttle', 't']);
    r = await run({ subject: 's', ops: [countOp({ name: 'x' })], rules: [rule(0, 0, 'challenge', 'c')], stepUp: STEP }, T0 + 2);
    assert.deepEqual([r.fired, r.penalty?.action], [[0], 'throttle']);
    r = await run({ subject: 's', ops: [countOp({ name: 'x' })], rules: [rule(0, 0, 'block', 'b')], stepUp: STEP }, T0 + 3);
    assert.deepEqual([r.fired, r.penalty?.action], [[0], 'block']);
    // With escalation the escalated action counts. The credit() challenge made no strike (no
    // escalation); a throttle offence at level 0 is set; once it expired, throttle → challenge
    // (level 1) is not set, and no strike is counted; a challenge rule escalated to block is set.
    await credit('e', T0);
    const t = { subject: 'e', ops: [countOp({ name: 'x' })], rules: [rule(0, 0, 'throttle', 't')], escalation: ESC, stepUp: STEP };
    assert.deepEqual(brief((await run(t, T0 + 1)).penalty), ['throttle', 0, 30_000]);
    r = await run(t, T0 + 40_000);
    assert.deepEqual([r.fired, r.penalty, r.creditUntilMs], [[0], null, T0 + 300_000]);
    assert.deepEqual(await strikes('e', T0 + 40_000), { n: 1, lastMs: T0 + 1 });
    r = await run({ ...t, rules: [rule(0, 0, 'challenge', 'c')] }, T0 + 40_001);
    assert.deepEqual([r.fired, ...brief(r.penalty)], [[0], 'block', 1, 60_000]);
  });

  it('liftPenalty: returns the active penalty and removes it and the strikes', async () => {
    const h = harness();
    const set = (await run(offend('s', 'block', { escalation: ESC }), T0)).penalty;
    await run(offend('s', 'block', { escalation: ESC }), T0 + 20_000);
    const active = (await run({ subject: 's', ops: [] }, T0 + 20_001)).penalty;
    assert.deepEqual(brief(set), ['block', 0, 10_000]);
    assert.deepEqual(brief(active), ['block', 1, 20_000]);
    assert.deepEqual(await h.store.liftPenalty('s', T0 + 20_002), { ...active, reset: [] });
    assert.equal(await h.pttl('vigil:{s}:penalty', T0 + 20_002), -2);
    assert.equal(await h.pttl('vigil:{s}:strikes', T0 + 20_002), -2);
    assert.equal((await run({ subject: 's', ops: [] }, T0 + 20_003)).penalty, null);
    // A false positive does not escalate the next time.
    assert.deepEqual(brief((await run(offend('s', 'block', { escalation: ESC }), T0 + 20_004)).penalty), ['block', 0, 10_000]);
    assert.notEqual(await h.store.liftPenalty('s', T0 + 20_005), null);
    assert.equal(await h.store.liftPenalty('s', T0 + 20_006), null);
    assert.equal(await h.store.liftPenalty('never', T0), null);
    // Expired on the caller's clock: none was active, but the strikes go all the same.
    await run(offend('x', 'throttle', { escalation: ESC }), T0);
    assert.equal(await h.store.liftPenalty('x', T0 + 10_000), null);
    assert.equal(await strikes('x', T0 + 10_000), null);
  });

  it('confirmStepUp: clears a challenge and grants credit; anything else changes nothing', async () => {
    const h = harness();
    await run(offend('c', 'challenge', { escalation: ESC }, 60_000), T0);
    assert.equal(await h.store.confirmStepUp('c', 120_000, T0 + 10), true);
    let s = await h.store.inspect('c', T0 + 10);
    assert.deepEqual([s.penalty, s.creditUntilMs, s.strikes], [null, T0 + 120_010, { n: 1, lastMs: T0 }]);
    ttlAbout(await h.pttl('vigil:{c}:credit', T0 + 10), 120_000, 'credit');
    const r = await run({ subject: 'c', ops: [], stepUp: STEP }, T0 + 20);
    assert.equal(r.creditUntilMs, T0 + 120_010);
    // Nothing left to clear.
    assert.equal(await h.store.confirmStepUp('c', 120_000, T0 + 30), false);
    assert.equal((await h.store.inspect('c', T0 + 30)).creditUntilMs, T0 + 120_010);
    // A throttle: false, still there, no credit.
    const t = (await run(offend('t', 'throttle', {}, 60_000), T0)).penalty;
    assert.equal(await h.store.confirmStepUp('t', 120_000, T0 + 10), false);
    s = await h.store.inspect('t', T0 + 10);
    assert.deepEqual([s.penalty, s.creditUntilMs], [t, 0]);
    assert.equal(await h.pttl('vigil:{t}:credit', T0 + 10), -2);
    // None (or an expired challenge): false, and no key is created.
    assert.equal(await h.store.confirmStepUp('none', 120_000, T0), false);
    await run(offend('old', 'challenge', {}, 1000), T0);
    assert.equal(await h.store.confirmStepUp('old', 120_000, T0 + 1000), false);
    assert.deepEqual((await h.keys(T0 + 1000)).filter((k) => k.endsWith(':credit')), ['vigil:{c}:credit']);
  });

  it('listPenalties: active ones, soonest expiry first, then by subject, at most limit', async () => {
    const h = harness();
    const set = async (subject: string, action: PenaltyRule['action'], durationMs: number, nowMs = T0): Promise<void> => {
      await run(offend(subject, action, {}, durationMs), nowMs);
    };
    await set('cip:1.2.3.4', 'throttle', 40_000);
    await set('pfx:10.0.0.0/24', 'block', 20_000);
    await set('b', 'challenge', 30_000);
    await set('a', 'challenge', 30_000);
    await set('odd*[x]?\\', 'throttle', 50_000);
    await set('gone', 'block', 1000);
    await run({ subject: 'nopenalty', ops: [countOp(), distinctOp('m')] }, T0);
    await h.store.mergePopulation('penalty', [1], 0.5, 60_000, T0);
    const list = await h.store.listPenalties(T0 + 5000, 100);
    assert.deepEqual(
      list.map((p) => [p.subject, p.action, p.untilMs]),
      [
        ['pfx:10.0.0.0/24', 'block', T0 + 20_000],
        ['a', 'challenge', T0 + 30_000],
        ['b', 'challenge', T0 + 30_000],
        ['cip:1.2.3.4', 'throttle', T0 + 40_000],
        ['odd*[x]?\\', 'throttle', T0 + 50_000],
      ],
    );
    assert.deepEqual(list[0], { subject: 'pfx:10.0.0.0/24', action: 'block', untilMs: T0 + 20_000, detector: 'b', score: 1, sinceMs: T0, level: 0 });
    assert.deepEqual((await h.store.listPenalties(T0 + 5000, 2)).map((p) => p.subject), ['pfx:10.0.0.0/24', 'a']);
    assert.deepEqual(await h.store.listPenalties(T0 + 5000, 0), []);
    // On the caller's clock: at T0 + 30 s the challenges have expired too.
    assert.deepEqual((await h.store.listPenalties(T0 + 30_000, 100)).map((p) => p.subject), ['cip:1.2.3.4', 'odd*[x]?\\']);
    // An escalated penalty is listed with its level.
    await run(offend('esc', 'throttle', { escalation: ESC }), T0 + 30_000);
    await run(offend('esc', 'challenge', { escalation: ESC }), T0 + 30_001);
    const esc = (await h.store.listPenalties(T0 + 30_002, 100)).find((p) => p.subject === 'esc');
    assert.deepEqual([esc?.action, esc?.level, esc?.untilMs], ['block', 1, T0 + 50_001]);
  });

  it('inspect: penalty, strikes, credit and every other key with its value and TTL', async () => {
    const h = harness();
    const subject = 'cip:1.2.3.4';
    const escalation = ESC;
    await run(
      { subject, ops: [rateOp({ by: 3 }), countOp({ by: 2 }), distinctOp('a')], rules: [rule(1, 0, 'challenge', 'c', 60_000)], escalation },
      T0,
    );
    assert.equal(await h.store.confirmStepUp(subject, 300_000, T0 + 1), true);
    await run({ subject, ops: [distinctOp('b')], rules: [rule(0, 0, 'block', 'spray')], escalation }, T0 + 2);
    await run({ subject, ops: [distinctOp('c')] }, T0 + 3);
    // Neighbours that a careless prefix or glob would pick up.
    await run({ subject: 'cip:1.2.3.45', ops: [countOp()] }, T0);
    const s = await h.store.inspect(subject, T0 + 3);
    assert.deepEqual([s.subject, s.penalty, s.strikes, s.creditUntilMs], [
      subject,
      { action: 'block', untilMs: T0 + 60_002, detector: 'spray', score: 2, sinceMs: T0 + 2, level: 1 },
      { n: 2, lastMs: T0 + 2 },
      T0 + 300_001,
    ]);
    assert.deepEqual(
      s.state.map(({ key, value }) => ({ key, value })),
      [
        { key: `count:c:${W0}`, value: { value: 2 } },
        { key: `hll:d:${W0}`, value: { estimate: 3 } },
        { key: 'rate:r', value: { b: T0 / 10_000, c: 3, m: 0, v: 0, n: 0 } },
      ],
    );
    const ttl = Object.fromEntries(s.state.map(({ key, ttlMs }) => [key, ttlMs]));
    ttlAbout(ttl[`count:c:${W0}`]!, 120_000, 'count');
    ttlAbout(ttl[`hll:d:${W0}`]!, 120_000, 'hll');
    ttlAbout(ttl['rate:r']!, 3_600_000, 'rate');
    // Glob characters in the subject are matched literally.
    await run({ subject: 'x[1]*', ops: [countOp({ by: 4 })] }, T0 + 3);
    await run({ subject: 'x1ab', ops: [countOp()] }, T0 + 3);
    const g = await h.store.inspect('x[1]*', T0 + 3);
    assert.deepEqual(g.state.map(({ key, value }) => [key, value]), [[`count:c:${W0}`, { value: 4 }]]);
    assert.deepEqual(await h.store.inspect('nobody', T0 + 3), { subject: 'nobody', penalty: null, strikes: null, creditUntilMs: 0, state: [] });
    // Later: the penalty and the credit expire on the caller's clock; the strikes decay.
    const later = await h.store.inspect(subject, T0 + 600_002);
    assert.deepEqual([later.penalty, later.strikes, later.creditUntilMs], [null, { n: 1, lastMs: T0 + 2 }, 0]);
  });

  it('step-up and escalation leave only expected keys (strikes and credit only when asked for)', async () => {
    const h = harness();
    const ops: Op[] = [countOp()];
    await run({ subject: 's', ops, rules: [rule(0, 0, 'throttle', 't')], stepUp: STEP }, T0);
    assert.deepEqual(await h.keys(T0), [`vigil:{s}:count:c:${W0}`, 'vigil:{s}:penalty']);
  });
}
