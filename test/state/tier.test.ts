/**
 * The in-process tier (tiered-store.ts): the StateStore contract over both shared backends, then what
 * only a tier has: one replica decides exactly as the embedded store whatever the sync timing,
 * replicas' changes merge, penalties cross replicas at the next sync, an unseen subject's shared state
 * arrives with the first sync, eviction keeps memory bounded without losing state, and a shared store
 * that is away means local decisions and a catch-up when it is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeRedisHll } from '../../src/state/redis-hll.js';
import { HyperLogLog } from '../../src/state/hyperloglog.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { createRedisStore, type RedisStore } from '../../src/state/redis-store.js';
import { suspicionKeepMs, type Batch, type BatchResult, type Escalation, type Op, type SharedStore } from '../../src/state/store.js';
import { TieredStore } from '../../src/state/tiered-store.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { contractSuite } from './contract-suite.js';
import { T0, countOp, distinctOp, rateOp, rule } from './fixtures.js';

const SYNC_MS = 20;

function tierOver(shared: SharedStore, maxSubjects?: number): TieredStore {
  return new TieredStore(shared, { syncMs: SYNC_MS, ...(maxSubjects ? { maxSubjects } : {}) });
}

// The contract over a memory backend: what the harness reads is the shared store after a flush.
contractSuite('TieredStore over MemoryStore', async () => {
  let shared = new MemoryStore();
  let tier = tierOver(shared);
  return {
    get store() {
      return tier;
    },
    reset: async () => {
      await tier.close();
      shared = new MemoryStore();
      tier = tierOver(shared);
    },
    pttl: async (key, nowMs) => {
      await tier.flush(nowMs);
      return shared.pttl(key, nowMs);
    },
    keys: async (nowMs) => {
      await tier.flush(nowMs);
      return shared.keys(nowMs).sort();
    },
    untimed: async () => {
      await tier.flush();
      return shared.keys(-Infinity).filter((k) => !Number.isFinite(shared.pttl(k, 0)));
    },
    close: () => tier.close(),
  };
});

let server: RedisServer;
const redisStores: RedisStore[] = [];
async function redisShared(): Promise<RedisStore> {
  const s = createRedisStore(server.url);
  await s.ready(5000);
  redisStores.push(s);
  return s;
}

describe('TieredStore over Redis', () => {
  before(async () => {
    server = await startRedis();
  });
  after(async () => {
    for (const s of redisStores) await s.close();
    await server.stop();
  });

  it('decodes Redis HyperLogLogs (sparse and dense) to the registers PFCOUNT counts', async () => {
    const redis = await redisShared();
    for (const n of [1, 50, 3000, 40_000]) {
      const key = `hll-${n}`;
      const members = Array.from({ length: n }, (_, i) => `m${i}`);
      for (let i = 0; i < members.length; i += 1000) await redis.redis.pfadd(key, ...members.slice(i, i + 1000));
      const raw = await redis.redis.getBuffer(key);
      assert.ok(raw);
      const h = HyperLogLog.fromRegisters(decodeRedisHll(raw));
      assert.equal(h.count(), await redis.redis.pfcount(key), `${n} members (${raw[4] === 0 ? 'dense' : 'sparse'})`);
      const mine = new HyperLogLog();
      for (const m of members) mine.add(m);
      assert.deepEqual(h.registers(), mine.registers(), `${n} members: the same registers as the memory store's own`);
    }
    assert.throws(() => decodeRedisHll(Buffer.from('nope')), /HYLL/);
  });

  for (const backend of ['memory', 'redis'] as const) {
    const sharedOf = async (): Promise<SharedStore> => (backend === 'memory' ? new MemoryStore() : await redisShared());
    const flushAll = async (): Promise<void> => {
      if (backend === 'redis') await (await redisShared()).redis.flushall();
    };

    describe(`tier behaviour (${backend} backend)`, () => {
      it('one replica decides exactly as the embedded store, whatever the sync timing', async () => {
        await flushAll();
        const shared = await sharedOf();
        const tier = tierOver(shared);
        const embedded = new MemoryStore();
        let seed = 7;
        const rand = (): number => {
          seed = (seed * 1103515245 + 12345) % 2147483648;
          return seed / 2147483648;
        };
        const esc = { windowMs: 120_000, factor: 2, maxAction: 'block' as const, maxMs: 600_000 };
        let now = T0;
        let penalized = 0;
        let escalated = 0;
        for (let i = 0; i < 1500; i++) {
          now += Math.floor(rand() * 400);
          const subject = `s${Math.floor(rand() * 4)}`;
          const ops: Op[] = [
            rateOp({ minCount: 5, priorMean: 2, priorVariance: 1, priorWeight: 3, clampZ: 3 }),
            countOp({ sliding: rand() < 0.5 }),
            distinctOp(`m${Math.floor(rand() * 300)}`, { learn: true }),
          ];
          const batch: Batch = { subject, ops, rules: [rule(0, 2.5, 'throttle', 'rate', 5000), rule(2, 60, 'challenge', 'distinct', 8000)], escalation: esc };
          const [a] = await embedded.run([batch], now);
          const [b] = await tier.run([batch], now);
          assert.deepEqual(b, a, `call ${i} (${subject} at +${now - T0} ms)`);
          if (a?.penalty) penalized++;
          if ((a?.penalty?.level ?? 0) > 0) escalated++;
          // Syncs land between calls at random: the answers must not move.
          if (rand() < 0.1) await tier.flush(now);
        }
        assert.ok(penalized > 20, `the sequence exercised penalties (${penalized} penalized answers)`);
        assert.ok(escalated > 0, 'and escalation');
        await tier.close();
      });

      it('changes made while a sync is in flight count once, on keys the sync carried and on new ones', async () => {
        await flushAll();
        const tier = tierOver(await sharedOf());
        const embedded = new MemoryStore();
        const both = async (batches: Batch[][], at: number) => {
          // Started together: the first one's early sync is still in flight while the others are recorded.
          const got = await Promise.all(batches.map((b) => tier.run(b, at)));
          const want: BatchResult[][] = [];
          for (const b of batches) want.push(await embedded.run(b, at));
          assert.deepEqual(got, want, `at +${at - T0}`);
        };
        const old = (by = 1): Batch => ({ subject: 'f', ops: [countOp({ by }), rateOp()] });
        const fresh = (by = 1): Batch => ({ subject: 'f', ops: [countOp({ name: 'fresh', by }), rateOp({ name: 'fresh-rate' })] });
        const settle = () => new Promise((r) => setImmediate(r));
        await both([[old()], [old(), fresh()], [fresh()]], T0);
        // The in-flight sync has landed (and no other is due yet): read what the tier holds now.
        await settle();
        await both([[old(0), fresh(0)]], T0);
        await both([[old(), fresh(2)], [fresh(3)]], T0 + 30);
        await settle();
        await both([[old(0), fresh(0)]], T0 + 30);
        await tier.flush(T0 + 31);
        await both([[old(0), fresh(0)]], T0 + 32);
        await tier.close();
      });

      it('two replicas: counts add, distinct members merge, and each sees the sum after its next sync', async () => {
        await flushAll();
        const shared = await sharedOf();
        const a = tierOver(shared);
        const b = tierOver(shared);
        const op = rateOp();
        const run = async (t: TieredStore, n: number, at: number, tag: string) => {
          let last: BatchResult | undefined;
          for (let i = 0; i < n; i++) [last] = await t.run([{ subject: 'x', ops: [op, countOp(), distinctOp(`${tag}${i}`)] }], at + i);
          return last!;
        };
        await run(a, 30, T0, 'a');
        await run(b, 20, T0, 'b');
        await a.flush(T0 + 100);
        await b.flush(T0 + 100);
        // A's next request is decided from A's own view: its 30, and what of B's had reached Redis when A
        // last synced (B's first sync, started by its first request); the rest arrives with the sync
        // this request starts …
        const [stale] = await a.run([{ subject: 'x', ops: [op, countOp(), distinctOp('a-next')] }], T0 + 102);
        const seen = stale!.results[1]!.score;
        assert.ok(seen >= 31 && seen < 51, `A's own view: ${seen}`);
        await a.flush(T0 + 103);
        // … and every request after that sees the sum.
        const [r] = await a.run([{ subject: 'x', ops: [op, countOp(), distinctOp('a-last')] }], T0 + 104);
        assert.equal(r!.results[0]!.kind === 'rate' && r!.results[0]!.current, 52);
        assert.equal(r!.results[1]!.score, 52);
        assert.equal(r!.results[2]!.score, 52, '30 + 20 members, plus two');
        await a.close();
        await b.close();
      });

      it('a penalty set on one replica applies on the other at its next sync; a new replica sees it after its first', async () => {
        await flushAll();
        const shared = await sharedOf();
        const a = tierOver(shared);
        const b = tierOver(shared);
        const batch: Batch = { subject: 'flood', ops: [countOp()], rules: [rule(0, 5, 'throttle', 'rate', 60_000)] };
        for (let i = 0; i < 6; i++) await a.run([batch], T0 + i);
        const [onB] = await b.run([{ subject: 'flood', ops: [] }], T0 + 10);
        assert.equal(onB!.penalty, null, 'not synced yet: B decides from its own view');
        await a.flush(T0 + 20);
        // B's next sync brings the penalty, whether or not B had a request of that subject since.
        await b.flush(T0 + 22);
        const [after] = await b.run([{ subject: 'flood', ops: [] }], T0 + 23);
        assert.equal(after!.penalty?.action, 'throttle');
        assert.equal(after!.penalty?.detector, 'rate');
        const d = tierOver(shared);
        await d.flush(T0 + 24);
        const [onD] = await d.run([{ subject: 'flood', ops: [] }], T0 + 25);
        assert.equal(onD!.penalty?.action, 'throttle', 'a replica that never saw the subject learns the penalty at its first sync');


        const c = tierOver(shared);
        const [first] = await c.run([{ subject: 'flood', ops: [] }], T0 + 30);
        assert.equal(first!.penalty, null, 'an unseen subject is decided from the tier alone');
        await c.flush(T0 + 31);
        const [second] = await c.run([{ subject: 'flood', ops: [] }], T0 + 32);
        assert.equal(second!.penalty?.action, 'throttle');

        // A lift on one replica reaches the others the same way.
        await b.liftPenalty('flood', T0 + 40);
        await d.flush(T0 + 41);
        const [lifted] = await d.run([{ subject: 'flood', ops: [] }], T0 + 42);
        assert.equal(lifted!.penalty, null);
        await d.close();
        for (const t of [a, b, c]) await t.close();
      });

      it('a mark (tag) crosses replicas like a penalty: at the next sync, weaker than any penalty in a merge, lifted everywhere', async () => {
        await flushAll();
        const shared = await sharedOf();
        const a = tierOver(shared);
        const b = tierOver(shared);
        const mark: Batch = { subject: 'scan', ops: [countOp({ name: 'scraping' })], rules: [rule(0, 0, 'tag', 'scraping', 300_000)] };
        const [set] = await a.run([mark], T0);
        assert.deepEqual([set!.penalty?.action, set!.penalty?.level], ['tag', 0]);
        await a.flush(T0 + 1);
        await b.flush(T0 + 2);
        const [onB] = await b.run([{ subject: 'scan', ops: [] }], T0 + 3);
        assert.deepEqual([onB!.penalty?.action, onB!.penalty?.detector, onB!.penalty?.untilMs], ['tag', 'scraping', T0 + 300_000]);
        assert.deepEqual((await shared.listPenalties(T0 + 3, 10)).map((p) => [p.subject, p.action]), [['scan', 'tag']]);

        // Before any sync, A marks a subject and B throttles it: the throttle wins on both, whichever
        // replica syncs first.
        const [m] = await a.run([{ ...mark, subject: 'both' }], T0 + 10);
        const [t] = await b.run([{ subject: 'both', ops: [countOp()], rules: [rule(0, 0, 'throttle', 'rate', 60_000)] }], T0 + 11);
        assert.deepEqual([m!.penalty?.action, t!.penalty?.action], ['tag', 'throttle']);
        await b.flush(T0 + 12);
        await a.flush(T0 + 13);
        await b.flush(T0 + 14);
        for (const [tier, at] of [[a, T0 + 15], [b, T0 + 16]] as const) {
          const [r] = await tier.run([{ subject: 'both', ops: [] }], at);
          assert.deepEqual([r!.penalty?.action, r!.penalty?.detector], ['throttle', 'rate']);
        }

        // A lift on one replica lifts the mark on the other too.
        assert.equal((await b.liftPenalty('scan', T0 + 20))?.action, 'tag');
        await a.flush(T0 + 21);
        const [lifted] = await a.run([{ subject: 'scan', ops: [] }], T0 + 22);
        assert.equal(lifted!.penalty, null);
        await a.close();
        await b.close();
      });

      it('suspicion crosses replicas with the strikes and outlives the escalation count in every tier', async () => {
        await flushAll();
        const shared = await sharedOf();
        const a = tierOver(shared);
        const b = tierOver(shared);
        const H = 3_600_000;
        const escalation: Escalation = { windowMs: 600_000, factor: 2, maxAction: 'block', maxMs: 100_000, suspicion: { sensitivity: 3, halfLifeMs: H, keepMs: suspicionKeepMs(3, H) } };
        const probe = (n: number, name: string): Batch => ({ subject: 'burst', ops: [countOp({ name, by: n })], rules: [rule(0, 10, 'throttle', 't', 10_000)], escalation });
        const [offence] = await a.run([probe(11, 'a')], T0);
        assert.equal(offence!.penalty?.action, 'throttle');
        await a.flush(T0 + 10);
        // B has never seen the subject: its first batch is decided from the tier alone, its sync brings the strikes.
        const [unseen] = await b.run([probe(0, 'b')], T0 + 2 * H);
        assert.equal(unseen!.suspicion, 1);
        await b.flush(T0 + 2 * H + 1);
        const [seen] = await b.run([probe(7, 'c')], T0 + 2 * H + 2);
        assert.deepEqual([seen!.suspicion, seen!.fired], [1.5, [0]], 's = 1 + 2·2^(−2) after 2 h: 7 > 10 / 1.5');
        // A, without a sync since its own offence, an hour later still has it (strikes kept for keepMs, not 10 min).
        const [onA] = await a.run([probe(0, 'd')], T0 + 3 * H);
        assert.equal(onA!.suspicion, 1.25);
        for (const t of [a, b]) await t.close();
      });

      it('sends at most maxPerSync subjects in one sync, the rest in the next ones', async () => {
        await flushAll();
        const shared = await sharedOf();
        const sizes: number[] = [];
        const tier = new TieredStore(shared, { syncMs: SYNC_MS, maxPerSync: 10, onSync: (r) => sizes.push(r.subjects) });
        const cold = new MemoryStore();
        for (let i = 0; i < 35; i++) {
          const b: Batch = { subject: `p${i}`, ops: [countOp()] };
          await tier.run([b], T0);
          await cold.run([b], T0);
        }
        for (let i = 0; i < 6 && tier.dirty > 0; i++) await tier.flush(T0 + 1);
        assert.equal(tier.dirty, 0);
        assert.ok(sizes.every((n) => n <= 10), `subjects per sync: ${sizes.join(',')}`);
        const fresh = tierOver(shared);
        for (let i = 0; i < 35; i++) await fresh.run([{ subject: `p${i}`, ops: [countOp({ by: 0 })] }], T0 + 2);
        await fresh.flush(T0 + 3);
        for (let i = 0; i < 35; i++) {
          const [r] = await fresh.run([{ subject: `p${i}`, ops: [countOp({ by: 0 })] }], T0 + 4);
          assert.equal(r!.results[0]!.score, 1, `p${i} reached the shared store`);
        }
        await tier.close();
        await fresh.close();
      });

      it('evicts least recently used synced subjects beyond maxSubjects, and reloads them from the shared store', async () => {
        await flushAll();
        const shared = await sharedOf();
        const tier = tierOver(shared, 100);
        for (let i = 0; i < 300; i++) await tier.run([{ subject: `u${i}`, ops: [countOp({ by: 3 })] }], T0 + i);
        await tier.flush(T0 + 400);
        await tier.flush(T0 + 401);
        assert.ok(tier.subjects <= 100, `${tier.subjects} subjects held`);
        const [r] = await tier.run([{ subject: 'u0', ops: [countOp({ by: 0 })] }], T0 + 402);
        assert.equal(r!.results[0]!.score, 0, 'evicted: decided from the tier alone at first');
        await tier.flush(T0 + 403);
        const [r2] = await tier.run([{ subject: 'u0', ops: [countOp({ by: 0 })] }], T0 + 404);
        assert.equal(r2!.results[0]!.score, 3, 'its count is back from the shared store');
        await tier.close();
      });
    });
  }

  it('every key the syncs wrote carries a TTL', async () => {
    const redis = await redisShared();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.redis.scan(cursor, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    assert.ok(keys.length > 0, 'the tests above left keys behind');
    const untimed: string[] = [];
    for (const k of keys) if ((await redis.redis.pttl(k)) === -1) untimed.push(k);
    assert.deepEqual(untimed, []);
  });

  it('Redis away: the tier keeps deciding, says degraded, keeps its changes and catches up when Redis is back', async () => {
    const redis = await redisShared();
    await redis.redis.flushall();
    const reports: string[] = [];
    const tier = new TieredStore(redis, {
      syncMs: SYNC_MS, canSend: () => redis.status === 'ready', deadlineMs: 500,
      onSync: (r) => reports.push(`${r.ok ? 'ok' : r.failure} ${r.subjects} dropped ${r.dropped} ${String((r.error as Error)?.message ?? '')} ${redis.status}`),
    });
    const batch: Batch = { subject: 'k', ops: [countOp()], rules: [rule(0, 40, 'throttle', 'rate', 600_000)] };
    await tier.run([batch], T0);
    await tier.flush(T0 + 1);
    assert.equal(tier.degraded, null);
    await server.stop();
    await new Promise((r) => setTimeout(r, 100));
    let last: BatchResult | undefined;
    for (let i = 0; i < 50; i++) [last] = await tier.run([batch], T0 + 10 + i);
    assert.equal(last!.results[0]!.score, 51, 'counted locally');
    assert.equal(last!.penalty?.action, 'throttle', 'and a flood is still throttled');
    await tier.flush(T0 + 100);
    assert.equal(tier.degraded, 'store-sync');
    assert.ok(tier.dirty >= 1);
    await server.start();
    await redis.ready(10_000);
    await tier.flush(T0 + 6000);
    assert.equal(tier.degraded, null);
    assert.equal(tier.dirty, 0);
    // Redis came back empty (no persistence): the one change synced before it stopped went with it;
    // the 50 made while it was away were kept and sent.
    assert.equal(await redis.redis.get(`vigil:{k}:count:c:${Math.floor(T0 / 60_000)}`), '50', `the changes made while Redis was away reached it: ${reports.join('; ')}`);
    assert.equal(await redis.redis.hget('vigil:{k}:penalty', 'action'), 'throttle');
    await tier.close();
  });
});
