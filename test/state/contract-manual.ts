/**
 * The manual rules' store contract (src/state/manual-rules.ts), run by contract.test.ts against the
 * in-process rules of the embedded store and the Redis ones on a real redis-server: the same calls on
 * the same clock give the same answers; on Redis every key carries a TTL as long as the longest rule.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { parseTarget } from '../../src/decision/manual-target.js';
import { ManualRulesFullError } from '../../src/state/manual-rules.js';
import type { ManualAction, ManualRule, ManualRuleStore } from '../../src/state/manual-rules.js';
import { T0 } from './fixtures.js';

export interface ManualHarness {
  /** A fresh, empty store whose limit is `maxRules` active rules. */
  fresh(maxRules?: number): Promise<ManualRuleStore>;
  /** Redis: every key with its PTTL (−1 = none); null for the in-process store. */
  ttls(): Promise<Record<string, number> | null>;
  close(): Promise<void>;
}

function rule(text: string, action: ManualAction, untilMs: number, extra: Partial<ManualRule> = {}): ManualRule {
  const t = parseTarget(text);
  assert.ok(t, text);
  return { ...t, action, untilMs, sinceMs: T0, reason: 'test', by: 'alice', ...extra };
}

export function manualRulesContract(name: string, setup: () => Promise<ManualHarness>): void {
  describe(`ManualRuleStore contract: ${name}`, () => {
    let h: ManualHarness;
    let store: ManualRuleStore;
    before(async () => {
      h = await setup();
    });
    after(async () => {
      await h.close();
    });
    beforeEach(async () => {
      store = await h.fresh();
    });
    afterEach(async () => {
      const ttls = await h.ttls();
      if (ttls) assert.deepEqual(Object.entries(ttls).filter(([, t]) => t < 0), [], 'keys without a TTL');
    });

    it('sets, lists (sorted by target) and removes rules; the version changes with each change', async () => {
      const v0 = await store.version();
      const id = `api-key:${'0f'.repeat(16)}`;
      assert.equal(await store.put(rule('203.0.113.7', 'block', T0 + 60_000), T0), null);
      const v1 = await store.version();
      assert.notEqual(v1, v0);
      assert.equal(await store.put(rule('10.0.0.0/8', 'allow', T0 + 30_000, { reason: 'office', by: 'bob' }), T0), null);
      assert.equal(await store.put(rule(id, 'block', T0 + 90_000), T0), null);
      const listed = await store.list(T0 + 1);
      assert.deepEqual(listed.map((r) => r.target), ['10.0.0.0/8', '203.0.113.7', id]);
      assert.deepEqual(listed[0], { target: '10.0.0.0/8', kind: 'cidr', action: 'allow', untilMs: T0 + 30_000, sinceMs: T0, reason: 'office', by: 'bob' });
      const v2 = await store.version();
      assert.deepEqual((await store.remove('203.0.113.7', T0 + 2))?.action, 'block');
      assert.notEqual(await store.version(), v2);
      const v3 = await store.version();
      assert.equal(await store.remove('203.0.113.7', T0 + 3), null, 'already removed');
      assert.equal(await store.version(), v3, 'removing nothing changes nothing');
      assert.deepEqual((await store.list(T0 + 3)).map((r) => r.target), ['10.0.0.0/8', id]);
    });

    it('one rule per target: a new one replaces the old and returns it', async () => {
      await store.put(rule('198.51.100.0/24', 'allow', T0 + 10_000, { by: 'bob' }), T0);
      const replaced = await store.put(rule('198.51.100.0/24', 'block', T0 + 20_000), T0 + 5);
      assert.deepEqual([replaced?.action, replaced?.by], ['allow', 'bob']);
      const listed = await store.list(T0 + 6);
      assert.deepEqual(listed.map((r) => [r.target, r.action, r.untilMs]), [['198.51.100.0/24', 'block', T0 + 20_000]]);
    });

    it('a rule counts until its untilMs and is gone from then on', async () => {
      await store.put(rule('192.0.2.1', 'block', T0 + 1000), T0);
      await store.put(rule('192.0.2.2', 'block', T0 + 5000), T0);
      assert.deepEqual((await store.list(T0 + 999)).map((r) => r.target), ['192.0.2.1', '192.0.2.2']);
      assert.deepEqual((await store.list(T0 + 1000)).map((r) => r.target), ['192.0.2.2']);
      assert.equal(await store.remove('192.0.2.1', T0 + 1000), null, 'an expired rule is not removed, it is gone');
      assert.equal(await store.put(rule('192.0.2.2', 'allow', T0 + 9000), T0 + 5000), null, 'an expired rule is not reported as replaced');
      assert.deepEqual((await store.list(T0 + 5000)).map((r) => [r.target, r.action]), [['192.0.2.2', 'allow']]);
    });

    it('at most maxRules active rules: one more on a new target is refused; replacing and expired ones are fine', async () => {
      store = await h.fresh(3);
      for (const [i, ip] of ['192.0.2.1', '192.0.2.2', '192.0.2.3'].entries()) await store.put(rule(ip, 'block', T0 + 1000 * (i + 1)), T0);
      await assert.rejects(store.put(rule('192.0.2.4', 'block', T0 + 9000), T0), ManualRulesFullError);
      assert.deepEqual((await store.list(T0)).map((r) => r.target), ['192.0.2.1', '192.0.2.2', '192.0.2.3'], 'the refused rule was not stored');
      assert.equal((await store.put(rule('192.0.2.3', 'allow', T0 + 9000), T0))?.action, 'block');
      // 192.0.2.1 expires at T0 + 1000: its place is free.
      assert.equal(await store.put(rule('192.0.2.4', 'block', T0 + 9000), T0 + 1000), null);
      assert.deepEqual((await store.list(T0 + 1000)).map((r) => r.target), ['192.0.2.2', '192.0.2.3', '192.0.2.4']);
    });
  });
}
