/**
 * The StateStore contract, defined once (contract-suite.ts) and run against the MemoryStore and a
 * RedisStore on a real redis-server; plus Redis-only checks (TTL on every key, script reload, Redis
 * going away and coming back) and a check that both stores agree number for number.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryStore } from '../../src/state/memory-store.js';
import { createRedisStore, type RedisStore } from '../../src/state/redis-store.js';
import { StoreUnavailableError } from '../../src/errors.js';
import type { Batch, BatchResult, Op, StateStore, StepUp } from '../../src/state/store.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { B, T0, contractSuite, countOp, distinctOp, rateOp } from './contract-suite.js';
import { manualRulesContract } from './contract-manual.js';
import { MemoryManualRules } from '../../src/state/manual-rules.js';
import { MANUAL_RULES_KEY, MANUAL_VERSION_KEY, RedisManualRules } from '../../src/state/redis-manual-rules.js';

contractSuite('MemoryStore', async () => {
  let store = new MemoryStore();
  return {
    get store() {
      return store;
    },
    reset: async () => {
      await store.close();
      store = new MemoryStore();
    },
    pttl: async (key, nowMs) => store.pttl(key, nowMs),
    keys: async (nowMs) => store.keys(nowMs).sort(),
    // An expiry that is not a finite time: +Infinity shows as a non-finite pttl, NaN (a NaN TTL) as a
    // key that keys() never lists although the store holds it.
    untimed: async () => {
      const all = store.keys(-Infinity);
      const bad = all.filter((k) => !Number.isFinite(store.pttl(k, 0)));
      if (all.length !== store.size) bad.push(`${store.size - all.length} key(s) with a NaN expiry`);
      return bad;
    },
    close: () => store.close(),
  };
});

let server: RedisServer;
let redisStore: RedisStore;

async function redisHarnessSetup(): Promise<void> {
  server = await startRedis();
  redisStore = createRedisStore(server.url);
  await redisStore.ready(5000);
}

/** Every key in the Redis database (SCAN). */
async function redisKeys(): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redisStore.redis.scan(cursor, 'COUNT', 100);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}

contractSuite('RedisStore', async () => {
  await redisHarnessSetup();
  return {
    get store() {
      return redisStore;
    },
    reset: async () => {
      await redisStore.redis.flushall();
    },
    pttl: async (key) => redisStore.redis.pttl(key),
    keys: async () => (await redisKeys()).sort(),
    untimed: async () => {
      const keys = await redisKeys();
      const ttls = await Promise.all(keys.map((k) => redisStore.redis.pttl(k)));
      return keys.filter((_, i) => ttls[i] === -1);
    },
    close: async () => {
      await redisStore.close();
      await server.stop();
    },
  };
});

/** Equal, with numbers compared to 1e-9 relative. */
function assertClose(actual: unknown, expected: unknown, path = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    const tol = 1e-9 * Math.max(1, Math.abs(expected));
    assert.ok(Math.abs(actual - expected) <= tol, `${path}: ${actual} vs ${expected}`);
  } else if (expected !== null && typeof expected === 'object') {
    assert.equal(typeof actual, 'object', path);
    assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected).sort(), path);
    for (const [k, v] of Object.entries(expected)) assertClose((actual as Record<string, unknown>)[k], v, `${path}.${k}`);
  } else {
    assert.equal(actual, expected, path);
  }
}

describe('RedisStore only', () => {
  before(async () => {
    await redisHarnessSetup();
  });
  after(async () => {
    await redisStore.close();
    await server.stop();
  });

  it('gives every key it writes a TTL', async () => {
    await redisStore.redis.flushall();
    const ops: Op[] = [
      rateOp({ ttlMs: 600_000 }),
      countOp(),
      distinctOp('m1'),
      rateOp({ name: 'q', ttlMs: 600_000, scoreMode: 'ratio', maxEmpty: 1, skipLongGaps: true, by: 0 }),
      countOp({ name: 's', sliding: true }),
      countOp({ name: 'read', by: 0 }),
      countOp({ name: 'sread', by: 0, sliding: true }),
      distinctOp('m2', { name: 'l', learn: true }),
      distinctOp('', { name: 'none', learn: true }),
    ];
    const rules = [
      { op: 1, above: 0, action: 'block' as const, durationMs: 5000, detector: 'd' },
      { op: 1, per: 4, above: 0, action: 'throttle' as const, durationMs: 5000, detector: 'r' },
    ];
    const escalation = { windowMs: 60_000, factor: 2, maxAction: 'block' as const, maxMs: 60_000 };
    // Two windows of every count and distinct key (the second window's ops read the first's keys).
    await redisStore.run([{ subject: 'ttl', ops, rules, escalation }], T0);
    await redisStore.run([{ subject: 'ttl', ops }], T0 + 3 * B);
    await redisStore.run([{ subject: 'ttl', ops: [...ops, distinctOp('m3', { name: 'l', learn: true })] }], T0 + 60_000);
    await redisStore.mergePopulation('p', [1, 2], 0.1, 600_000, T0);
    // Step-up: a challenge (with strikes), cleared in a batch (credit), then a block set under the
    // credit; another challenge confirmed (credit); a lift (deletes); the admin reads (write nothing).
    const challenge = [{ op: 0, above: 0, action: 'challenge' as const, durationMs: 5000, detector: 'c' }];
    const block = [{ op: 0, above: 0, action: 'block' as const, durationMs: 5000, detector: 'b' }];
    await redisStore.run([{ subject: 'step', ops: [countOp()], rules: challenge, escalation }], T0);
    const stepUp = { relax: 2, creditMs: 60_000, clear: { authTimeMs: T0, skewMs: 0 } };
    const [cleared] = await redisStore.run([{ subject: 'step', ops: [countOp()], rules: block, escalation, stepUp }], T0 + 1);
    assert.deepEqual([cleared?.cleared, cleared?.penalty?.action, cleared?.penalty?.level], [true, 'block', 1]);
    await redisStore.run([{ subject: 'confirm', ops: [countOp()], rules: challenge }], T0);
    assert.equal(await redisStore.confirmStepUp('confirm', 60_000, T0 + 1), true);
    await redisStore.run([{ subject: 'lift', ops: [], rules: [], escalation }], T0);
    await redisStore.run([{ subject: 'lift', ops: [countOp()], rules: challenge, escalation }], T0);
    assert.ok(await redisStore.liftPenalty('lift', T0 + 1));
    assert.equal((await redisStore.listPenalties(T0 + 1, 10)).length, 2);
    assert.equal((await redisStore.inspect('step', T0 + 1)).state.length, 1);
    const keys = await redisKeys();
    const w = Math.floor(T0 / 60_000);
    const expected = ['vigil:{ttl}:rate:r', 'vigil:{ttl}:rate:q', 'vigil:{ttl}:penalty', 'vigil:{ttl}:strikes', 'vigil:{pop}:p'];
    expected.push('vigil:{step}:penalty', 'vigil:{step}:strikes', 'vigil:{step}:credit', 'vigil:{confirm}:credit');
    // The lift also reset the lifted detector's state: `lift`'s count c belonged to detector c.
    for (const subject of ['step', 'confirm']) expected.push(`vigil:{${subject}}:count:c:${w}`);
    // The lift is also an event every replica's tier reads (tiered-store.ts).
    expected.push('vigil:{events}:penalties');
    for (const prefix of ['count:c', 'count:s', 'hll:d', 'hll:l']) expected.push(`vigil:{ttl}:${prefix}:${w}`, `vigil:{ttl}:${prefix}:${w + 1}`);
    // Nothing for the read-only counts and the '' member.
    assert.deepEqual(keys.sort(), expected.sort());
    for (const k of keys) assert.ok((await redisStore.redis.pttl(k)) > 0, `${k} has no TTL`);
  });

  it('reloads its function library after FUNCTION FLUSH', async () => {
    await redisStore.redis.flushall();
    const batch: Batch = { subject: 'flush', ops: [countOp()] };
    await redisStore.run([batch], T0);
    await redisStore.mergePopulation('p', [1], 0.5, 60_000, T0);
    await redisStore.redis.call('FUNCTION', 'FLUSH');
    const rs = await redisStore.run([batch, batch, { subject: 'other', ops: [countOp()] }], T0);
    assert.deepEqual(rs.map((r) => r.results[0]?.score), [2, 3, 1]);
    await redisStore.redis.call('FUNCTION', 'FLUSH');
    const pop = await redisStore.mergePopulation('p', [3], 0.5, 60_000, T0);
    assert.equal(pop.mean, 2);
  });

  it('fails fast while Redis is down and recovers by itself when it is back', async () => {
    await server.stop();
    const started = performance.now();
    await assert.rejects(redisStore.run([{ subject: 'down', ops: [countOp()] }], T0), StoreUnavailableError);
    await assert.rejects(redisStore.ping(), StoreUnavailableError);
    assert.ok(performance.now() - started < 1000, 'calls should fail at once, not queue');
    await server.start();
    await redisStore.ready(10_000);
    const [r] = await redisStore.run([{ subject: 'down', ops: [countOp()] }], T0);
    assert.equal(r?.results[0]?.score, 1);
  });

  it('agrees with the MemoryStore number for number', async () => {
    await redisStore.redis.flushall();
    const memory = new MemoryStore();
    let seed = 42;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const rate = rateOp({ alpha: 0.3, priorMean: 3, priorVariance: 5, priorWeight: 2, varianceFloor: 1, minCount: 2, clampZ: 3 });
    let now = T0;
    const seen = { fired: new Set<number>(), late: 0, closed: 0, replaced: 0 };
    for (let step = 0; step < 300; step++) {
      // First half: mostly forward with late events, penalties that outlast the run. Redis expires
      // keys on wall time and the memory store on nowMs, so a clock stepping back across a penalty's
      // expiry would see Redis's (still held) key again; the second half therefore moves forward
      // only, with short penalties that do expire.
      const lateAllowed = step < 150;
      const dt = Math.floor(rand() * 4000) - (lateAllowed ? 500 : 0);
      if (dt < 0) seen.late++;
      now += dt;
      const hold = (ms: number): number => (lateAllowed ? 100_000_000 : ms);
      const batches: Batch[] = [];
      for (const subject of ['a', 'b', 'c']) {
        if (rand() < 0.4) continue;
        batches.push({
          subject,
          ops: [
            { ...rate, by: 1 + Math.floor(rand() * 3) },
            countOp({ windowMs: 30_000 }),
            distinctOp(`m${Math.floor(rand() * 50)}`, { windowMs: 60_000 }),
          ],
          rules: [
            { op: 0, above: 2, action: 'throttle', durationMs: hold(20_000), detector: 'rate' },
            { op: 1, above: 15, action: 'challenge', durationMs: hold(10_000), detector: 'count' },
            { op: 2, above: 12, action: 'block', durationMs: hold(5_000), detector: 'distinct' },
          ],
        });
      }
      const [fromMemory, fromRedis] = await Promise.all([memory.run(batches, now), redisStore.run(batches, now)]);
      assertClose(fromRedis, fromMemory, `step ${step}`);
      for (const r of fromMemory) {
        r.fired.forEach((i) => seen.fired.add(i));
        if (r.penalty?.sinceMs === now) seen.replaced++;
        const op = r.results[0];
        if (op?.kind === 'rate' && op.closed >= 0) seen.closed++;
      }
      if (step % 50 === 0) {
        const samples = [rand() * 10, rand() * 10];
        assertClose(await redisStore.mergePopulation("x", samples, 0.2, 1e9, now), await memory.mergePopulation("x", samples, 0.2, 1e9, now));
      }
    }
    assert.deepEqual([...seen.fired].sort(), [0, 1, 2], 'the workload should fire every rule');
    assert.ok(seen.late > 10 && seen.closed > 10 && seen.replaced >= 5, JSON.stringify({ ...seen, fired: [...seen.fired] }));
    // HyperLogLog estimates from sparse to dense (Redis converts around 1-3k members).
    for (let chunk = 0; chunk < 8; chunk++) {
      const batches: Batch[] = [];
      for (let i = 0; i < 1000; i++) batches.push({ subject: 'h', ops: [distinctOp(`user-${chunk}-${i}@example.com`)] });
      const [fromMemory, fromRedis]: [BatchResult[], BatchResult[]] = await Promise.all([memory.run(batches, T0), redisStore.run(batches, T0)]);
      assert.deepEqual(
        fromRedis.map((r) => r.results[0]?.score),
        fromMemory.map((r) => r.results[0]?.score),
        `HLL chunk ${chunk}`,
      );
    }
    await memory.close();
  });

  it('agrees with the MemoryStore on the op options, number for number', async () => {
    await redisStore.redis.flushall();
    const memory = new MemoryStore();
    let seed = 7;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    let now = T0;
    const seen = { fired: new Set<number>(), learned: 0, unchanged: 0, empty: 0, pauses: 0 };
    for (let step = 0; step < 400; step++) {
      // Forward only (see above), with now and then a pause of many buckets (maxEmpty, skipLongGaps).
      const pause = rand() < 0.04;
      if (pause) seen.pauses++;
      now += pause ? Math.floor(rand() * 20 * B) : Math.floor(rand() * 3000);
      const batches: Batch[] = [];
      for (const subject of ['a', 'b', 'c']) {
        if (rand() < 0.4) continue;
        const member = rand() < 0.1 ? '' : `m${Math.floor(rand() * 30)}`;
        if (member === '') seen.empty++;
        batches.push({
          subject,
          ops: [
            rateOp({
              name: 'q', alpha: 0.3, priorMean: 2, priorVariance: 3, priorWeight: 2, varianceFloor: 1, minCount: 2,
              clampZ: 3, ttlMs: 1e9, scoreMode: 'ratio', maxEmpty: 4, skipLongGaps: subject !== 'a', by: Math.floor(rand() * 3),
            }),
            countOp({ name: 'all', windowMs: 20_000, sliding: true }),
            countOp({ name: 'fail', windowMs: 20_000, sliding: rand() < 0.8, by: rand() < 0.5 ? 1 : 0 }),
            distinctOp(member, { name: 'l', windowMs: 60_000, learn: subject !== 'c' }),
          ],
          rules: [
            { op: 0, above: 2.5, action: 'throttle', durationMs: 3000, detector: 'ratio-mode' },
            { op: 2, per: 1, above: 0.6, perAtLeast: 3, action: 'challenge', durationMs: 2000, detector: 'fail-ratio' },
            { op: 3, above: 8, action: 'block', durationMs: 1000, detector: 'spray' },
          ],
        });
      }
      const [fromMemory, fromRedis] = await Promise.all([memory.run(batches, now), redisStore.run(batches, now)]);
      assertClose(fromRedis, fromMemory, `step ${step}`);
      for (const r of fromMemory) {
        r.fired.forEach((i) => seen.fired.add(i));
        const d = r.results[3];
        if (d?.kind === 'distinct' && d.closed > 0) seen.learned++;
        if (d?.kind === 'distinct' && !d.changed) seen.unchanged++;
      }
    }
    assert.deepEqual([...seen.fired].sort(), [0, 1, 2], 'the workload should fire every rule');
    assert.ok(seen.learned >= 5 && seen.unchanged > 50 && seen.empty > 10 && seen.pauses >= 5, JSON.stringify({ ...seen, fired: [...seen.fired] }));
    await memory.close();
  });
  it('agrees with the MemoryStore on escalation, step-up and the admin calls, number for number', async () => {
    await redisStore.redis.flushall();
    const memory = new MemoryStore();
    let seed = 2024;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const stores: StateStore[] = [memory, redisStore];
    const both = async <T>(call: (s: StateStore) => Promise<T>, what: string): Promise<T> => {
      const [fromMemory, fromRedis] = await Promise.all(stores.map(call));
      assertClose(fromRedis, fromMemory, what);
      return fromMemory as T;
    };
    const seen = { levels: new Set<number>(), cleared: 0, credited: 0, confirmed: 0, lifted: 0, listed: 0, suppressed: 0, marked: 0, replaced: 0 };
    let now = T0;
    for (let step = 0; step < 400; step++) {
      // Forward only (see above); penalties of seconds, so they expire and are set again.
      now += Math.floor(rand() * 2500);
      const batches: Batch[] = [];
      for (const subject of ['a', 'b', 'c', 'cip:10.0.0.1']) {
        if (rand() < 0.4) continue;
        const stepUp: StepUp | undefined =
          subject === 'c' ? undefined : { relax: 1.5, creditMs: 6000.5, ...(rand() < 0.3 ? { clear: { authTimeMs: now - Math.floor(rand() * 6000), skewMs: 1000 } } : {}) };
        batches.push({
          subject,
          ops: [countOp({ name: 'all', windowMs: 20_000, by: 1 + Math.floor(rand() * 3) }), countOp({ name: 'fail', windowMs: 20_000, by: rand() < 0.5 ? 1 : 0 })],
          rules: [
            { op: 0, above: 8, action: 'throttle', durationMs: 2000, detector: 'volume' },
            { op: 1, per: 0, above: 0.3, perAtLeast: 4, action: 'challenge', durationMs: 2500.5, detector: 'fail-ratio' },
            { op: 0, above: 30, action: 'block', durationMs: 1500, detector: 'flood' },
            { op: 0, above: 4, action: 'tag', durationMs: 3000, detector: 'mark' },
          ],
          ...(subject === 'b' ? {} : { escalation: { windowMs: 15_000, factor: 1.7, maxAction: subject === 'a' ? 'challenge' : 'block', maxMs: 9000.25 } as const }),
          ...(stepUp ? { stepUp } : {}),
        });
      }
      const results = await both((s) => s.run(batches, now), `step ${step}`);
      for (const r of results) {
        if (r.penalty) seen.levels.add(r.penalty.level);
        if (r.penalty?.action === 'tag' && r.penalty.sinceMs === now) seen.marked++;
        if (r.penalty && r.penalty.action !== 'tag' && r.penalty.sinceMs === now && r.fired.includes(3)) seen.replaced++;
        if (r.cleared) seen.cleared++;
        if (r.creditUntilMs > 0) seen.credited++;
        if (r.creditUntilMs > 0 && r.fired.includes(1) && r.penalty?.detector !== 'fail-ratio') seen.suppressed++;
      }
      const who = ['a', 'b', 'c', 'cip:10.0.0.1'][Math.floor(rand() * 4)]!;
      const pick = rand();
      if (pick < 0.15) {
        if (await both((s) => s.confirmStepUp(who, 5000, now), `confirm ${step}`)) seen.confirmed++;
      } else if (pick < 0.2) {
        if (await both((s) => s.liftPenalty(who, now), `lift ${step}`)) seen.lifted++;
      }
      if (step % 5 === 0) {
        seen.listed += (await both((s) => s.listPenalties(now, 3), `list ${step}`)).length;
        // inspect's state holds keys Redis keeps longer (wall-clock TTL) than the clock: compared apart.
        await both(async (s) => {
          const { subject, penalty, strikes, creditUntilMs } = await s.inspect(who, now);
          return { subject, penalty, strikes, creditUntilMs };
        }, `inspect ${step}`);
      }
    }
    assert.ok(
      seen.levels.size >= 3 && seen.cleared >= 3 && seen.credited > 20 && seen.confirmed >= 3 && seen.lifted >= 3 && seen.listed > 20 && seen.suppressed >= 1 &&
        seen.marked >= 5 && seen.replaced >= 5,
      JSON.stringify({ ...seen, levels: [...seen.levels] }),
    );
    await memory.close();
  });
});

manualRulesContract('in process (embedded store)', async () => ({
  fresh: async (maxRules) => new MemoryManualRules(maxRules),
  ttls: async () => null,
  close: async () => undefined,
}));

{
  let manualServer: RedisServer;
  let manualRedis: RedisStore;
  manualRulesContract('Redis', async () => {
    manualServer = await startRedis();
    manualRedis = createRedisStore(manualServer.url);
    await manualRedis.ready(5000);
    return {
      async fresh(maxRules) {
        await manualRedis.redis.flushall();
        return new RedisManualRules(manualRedis.redis, maxRules);
      },
      async ttls() {
        const out: Record<string, number> = {};
        for (const key of await manualRedis.redis.keys('*')) out[key] = await manualRedis.redis.pttl(key);
        return out;
      },
      async close() {
        await manualRedis.close();
        await manualServer.stop();
      },
    };
  });

  describe('RedisManualRules: keys', () => {
    let server: RedisServer;
    let store: RedisStore;
    before(async () => {
      server = await startRedis();
      store = createRedisStore(server.url);
      await store.ready(5000);
    });
    after(async () => {
      await store.close();
      await server.stop();
    });

    it('the rules hash lives as long as its longest rule, the version key at least a minute; malformed entries are ignored', async () => {
      const rules = new RedisManualRules(store.redis);
      const base = { kind: 'ip' as const, action: 'block' as const, sinceMs: T0, reason: '', by: 'alice' };
      await rules.put({ ...base, target: '192.0.2.1', untilMs: T0 + 3_600_000 }, T0);
      await rules.put({ ...base, target: '192.0.2.2', untilMs: T0 + 10_000 }, T0);
      const rulesTtl = await store.redis.pttl(MANUAL_RULES_KEY);
      assert.ok(rulesTtl > 3_590_000 && rulesTtl <= 3_600_000, `rules PTTL ${rulesTtl}`);
      assert.ok((await store.redis.pttl(MANUAL_VERSION_KEY)) > 3_590_000);
      await rules.remove('192.0.2.1', T0);
      await rules.remove('192.0.2.2', T0);
      assert.equal(await store.redis.exists(MANUAL_RULES_KEY), 0, 'an empty hash is gone');
      const versionTtl = await store.redis.pttl(MANUAL_VERSION_KEY);
      assert.ok(versionTtl > 50_000 && versionTtl <= 60_000, `version PTTL ${versionTtl}`);
      // Something else wrote the hash: vigil reads past it.
      await store.redis.hset(MANUAL_RULES_KEY, 'junk', 'not json', '192.0.2.9', JSON.stringify({ target: '192.0.2.9', action: 'explode' }));
      await store.redis.pexpire(MANUAL_RULES_KEY, 60_000);
      await rules.put({ ...base, target: '192.0.2.3', untilMs: T0 + 10_000 }, T0);
      assert.deepEqual((await rules.list(T0)).map((r) => r.target), ['192.0.2.3']);
      assert.deepEqual(await store.redis.hkeys(MANUAL_RULES_KEY), ['192.0.2.3'], 'setting a rule deletes the unreadable ones');
    });
  });
}
