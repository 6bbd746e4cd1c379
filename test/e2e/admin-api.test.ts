/**
 * The operator API under /admin/ end to end: a real vigil (gRPC + admin HTTP), envoy-sim driving
 * traffic that sets penalties, on the embedded memory store and on a real redis-server.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import type { SimResult } from '../../src/envoy-sim/index.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { compilePolicy } from '../../src/policy/load.js';
import { createPseudonymizer } from '../../src/request/keyed-hash.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import type { RedisStore } from '../../src/state/redis-store.js';
import type { SharedStore } from '../../src/state/store.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { startRedis } from '../helpers/redis-server.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';

const TOKEN = 'admin-token-for-tests-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const KEY_SECRET = 'test-secret-0123456789abcdef'; // the one startTestVigil uses
const pseudonymize = createPseudonymizer(Buffer.from(KEY_SECRET, 'utf8'));
const T0 = Date.parse('2026-11-02T10:00:00Z'); // a bucket boundary
const PENALTY_MS = 300_000;

/** A rate detector that fires after a dozen requests in a minute, on the identity (an anonymous caller's is `ip:<hmac>`). */
const POLICY = `format: 1
detectors:
  - { name: request-rate, type: rate-baseline, min_count: 10, threshold_z: 1, action: throttle, penalty: 5m }
`;

type Json = any;

let vigil: TestVigil | undefined;
let sim: EnvoySim | undefined;
afterEach(async () => {
  sim?.close();
  sim = undefined;
  await vigil?.shutdown();
  vigil = undefined;
});

async function setup(env: Record<string, string> = {}, store?: SharedStore, policy = POLICY) {
  const clock = new ManualClock(T0);
  vigil = await startTestVigil({ clock, policy: compilePolicy(policy, 'admin-api.yaml'), env, ...(store ? { store } : {}) });
  if (vigil.store.kind === 'redis') await (vigil.shared.inner as RedisStore).redis.flushall();
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
  return { clock, vigil, sim };
}

/** An anonymous request from `source` (an Envoy source.address: `ip:port` or `[ipv6]:port`). */
const send = (source: string): Promise<SimResult> =>
  sim!.exchange({ method: 'GET', path: '/api/items/1', authority: 'shop.example', sourceAddress: source, upstream: { status: 200 } });

/** Requests 100 ms apart until one is throttled; returns the clock time of that request. */
async function floodUntilThrottled(clock: ManualClock, source: string): Promise<number> {
  for (let i = 1; i <= 60; i++) {
    const r = await send(source);
    if (r.client.status === 429) return clock.nowMs();
    assert.equal(r.client.status, 200, `request ${i} from ${source}`);
    clock.advance(100);
  }
  assert.fail(`no request from ${source} was throttled`);
}

async function api(path: string, method = 'GET', headers: Record<string, string> = AUTH) {
  const r = await vigil!.admin(path, { method, headers });
  assert.equal(r.headers.get('content-type'), 'application/json', `${method} ${path}: JSON`);
  assert.equal(r.headers.get('cache-control'), 'no-store', `${method} ${path}: no-store`);
  return { status: r.status, json: JSON.parse(r.body) as Json, headers: r.headers };
}

const iso = (ms: number) => new Date(ms).toISOString();

test('without VIGIL_ADMIN_TOKEN every /admin/ path is 404 "disabled"; the other endpoints are unchanged', async () => {
  await setup();
  const paths = ['/admin', '/admin/', '/admin/penalties', '/admin/penalties?limit=5', '/admin/penalties/cip%3A1.2.3.4', '/admin/subjects/ip%3Aabc', '/admin/subjects?ip=1.2.3.4', '/admin/nope'];
  for (const path of paths) {
    for (const method of ['GET', 'DELETE', 'POST']) {
      for (const headers of [{}, AUTH]) {
        const r = await api(path, method, headers);
        assert.equal(r.status, 404, `${method} ${path}`);
        assert.deepEqual(r.json, { error: 'admin API disabled: set VIGIL_ADMIN_TOKEN' });
      }
    }
  }
  assert.equal((await vigil!.admin('/healthz')).body, 'ok\n');
  assert.equal((await vigil!.admin('/readyz')).status, 200);
  assert.equal((await vigil!.admin('/debug/policy')).status, 200);
  const metrics = await vigil!.admin('/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /vigil_admin_requests_total\{route="penalties",status="404"\}/);
  assert.equal((await vigil!.admin('/metrics', { method: 'DELETE' })).status, 405, 'only /admin/ takes DELETE');
  assert.equal((await vigil!.admin('/nope')).status, 404);
});

test('auth: no token, a wrong one or a malformed header is 401 with a Bearer challenge and nothing else; the right one passes', async () => {
  await setup({ VIGIL_ADMIN_TOKEN: TOKEN });
  const refused: Array<Record<string, string>> = [
    {},
    { authorization: 'Bearer wrong-token-0123456789abcdef' },
    { authorization: `Bearer ${TOKEN}x` },
    { authorization: `Bearer ${TOKEN.slice(0, -1)}` },
    { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` },
    { authorization: TOKEN },
    { authorization: 'Bearer' },
    { authorization: `Bearer ${TOKEN} extra` },
  ];
  // Unknown paths and wrong methods are refused the same way: nothing is revealed before auth.
  for (const [method, path] of [['GET', '/admin/penalties'], ['DELETE', '/admin/penalties/cip%3A1.2.3.4'], ['GET', '/admin/secret-route'], ['PUT', '/admin/penalties']] as const) {
    for (const headers of refused) {
      const r = await api(path, method, headers);
      assert.equal(r.status, 401, `${method} ${path} with ${JSON.stringify(headers)}`);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="vigil-admin"');
      assert.deepEqual(r.json, { error: 'unauthorized' });
    }
  }
  const ok = await api('/admin/penalties');
  assert.equal(ok.status, 200);
  assert.deepEqual(ok.json, { penalties: [] });
  assert.equal((await api('/admin/penalties', 'GET', { authorization: `bearer  ${TOKEN}` })).status, 200, 'the scheme is case-insensitive');
  assert.equal(await vigil!.metric('vigil_admin_requests_total', { status: '401' }), 32);
  assert.equal(await vigil!.metric('vigil_admin_requests_total', { route: 'penalties', status: '200' }), 2);
  assert.ok(!JSON.stringify(vigil!.logs.lines).includes(TOKEN.slice(0, 16)), 'the token is never logged');
  // Unauthenticated endpoints stay so.
  assert.equal((await vigil!.admin('/healthz')).status, 200);
  assert.equal((await vigil!.admin('/metrics')).status, 200);
});

test('routing: unknown paths 404 JSON, wrong methods 405 with allow, bad limit / subject / ip 400', async () => {
  await setup({ VIGIL_ADMIN_TOKEN: TOKEN });
  for (const path of ['/admin', '/admin/', '/admin/penalties/', '/admin/subjects/', '/admin/metrics', '/admin/penaltiesx']) {
    const r = await api(path);
    assert.equal(r.status, 404, path);
    assert.match(r.json.error, /not found/);
  }
  const cases: Array<[string, string, string]> = [
    ['POST', '/admin/penalties', 'GET, HEAD'],
    ['DELETE', '/admin/penalties', 'GET, HEAD'],
    ['GET', '/admin/penalties/cip%3A1.2.3.4', 'DELETE'],
    ['POST', '/admin/penalties/cip%3A1.2.3.4', 'DELETE'],
    ['DELETE', '/admin/subjects/cip%3A1.2.3.4', 'GET, HEAD'],
    ['PUT', '/admin/subjects?ip=1.2.3.4', 'GET, HEAD'],
  ];
  for (const [method, path, allow] of cases) {
    const r = await api(path, method);
    assert.equal(r.status, 405, `${method} ${path}`);
    assert.equal(r.headers.get('allow'), allow, `${method} ${path}`);
    assert.ok(typeof r.json.error === 'string');
  }
  for (const limit of ['0', '1001', '-1', 'ten', '1.5']) {
    const r = await api(`/admin/penalties?limit=${limit}`);
    assert.equal(r.status, 400, `limit=${limit}`);
    assert.match(r.json.error, /limit/);
  }
  for (const subject of ['vigil%3A%7Bx%7D', 'ip%3A*', 'a%20b', '%E0%A4%A', 'x'.repeat(300)]) {
    assert.equal((await api(`/admin/subjects/${subject}`)).status, 400, `subject ${subject}`);
    assert.equal((await api(`/admin/penalties/${subject}`, 'DELETE')).status, 400, `lift ${subject}`);
  }
  for (const ip of ['', '1.2.3', '1.2.3.4.5', 'example.com', '203.0.113.7:80', '[::1]', '10.0.0.0/8']) {
    const r = await api(`/admin/subjects?ip=${encodeURIComponent(ip)}`);
    assert.equal(r.status, 400, `ip=${ip}`);
    assert.match(r.json.error, /ip/);
  }
  assert.equal((await api('/admin/subjects')).status, 400, 'neither a subject nor ?ip=');
  assert.equal(await vigil!.metric('vigil_admin_requests_total', { route: 'lookup', status: '400' }), 8);
  assert.equal(await vigil!.metric('vigil_admin_requests_total', { route: 'other', status: '404' }), 6);
  // A body is ignored, and a big one does not break the server.
  const big = await fetch(`http://127.0.0.1:${vigil!.adminPort}/admin/penalties/cip%3A1.2.3.4`, { method: 'DELETE', headers: AUTH, body: Buffer.alloc(1 << 20) });
  assert.equal(big.status, 404);
  await big.text();
  assert.equal((await api('/admin/penalties')).status, 200);
});

test('a store that answers StoreUnavailableError gives 503 JSON and a warning; any other failure 500 JSON', async () => {
  let failure: Error | null = null;
  const inner = new MemoryStore();
  const ADMIN_CALLS = new Set<PropertyKey>(['listPenalties', 'liftPenalty', 'inspect']);
  const flaky = new Proxy(inner, {
    get(target, prop) {
      if (failure && ADMIN_CALLS.has(prop)) return () => Promise.reject(failure);
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as SharedStore;
  await setup({ VIGIL_ADMIN_TOKEN: TOKEN }, flaky);
  assert.equal((await api('/admin/penalties')).status, 200);
  failure = new StoreUnavailableError('timeout', 'state store list: timed out');
  const r = await api('/admin/penalties');
  assert.equal(r.status, 503);
  assert.match(r.json.error, /store unavailable/);
  assert.equal((await api('/admin/subjects?ip=1.2.3.4')).status, 503);
  const warnings = vigil!.logs.find('admin API: state store unavailable');
  assert.equal(warnings.length, 2);
  assert.equal(warnings[0]!.level, 'warn');
  failure = new Error('a bug');
  const bug = await api('/admin/subjects/cip%3A1.2.3.4');
  assert.equal(bug.status, 500);
  assert.deepEqual(bug.json, { error: 'internal error' });
  assert.equal(await vigil!.metric('vigil_admin_requests_total', { status: '503' }), 2);
});

for (const kind of ['memory', 'redis'] as const) {
  describe(`admin API on the ${kind} store`, () => {
    let redis: RedisServer | undefined;
    const env = (): Record<string, string> => ({
      VIGIL_ADMIN_TOKEN: TOKEN,
      ...(redis ? { REDIS_URL: redis.url, VIGIL_STORE_TIMEOUT_MS: '200', VIGIL_BREAKER_RESET_MS: '300' } : {}),
    });
    before(async () => {
      if (kind === 'redis') redis = await startRedis();
    });
    after(async () => {
      await redis?.stop();
    });

    test('lists penalties set by real traffic and by a store batch, soonest expiry first, with ISO times; limit caps it', async () => {
      const { clock, vigil } = await setup(env());
      assert.equal(vigil.store.kind, kind);
      const firedAt = await floodUntilThrottled(clock, '203.0.113.7:40000');
      // A block on a client IP, set directly by a store batch, expiring before the throttle.
      await vigil.store.run(
        [{ subject: 'cip:198.51.100.4', ops: [{ kind: 'count', name: 'admin-test', windowMs: 60_000 }], rules: [{ op: 0, above: 0, action: 'block', durationMs: 60_000, detector: 'manual-test' }] }],
        clock.nowMs(),
      );
      clock.advance(10_000);
      const r = await api('/admin/penalties');
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.penalties, [
        {
          subject: 'cip:198.51.100.4',
          action: 'block',
          detector: 'manual-test',
          score: 1,
          level: 0,
          since: iso(firedAt),
          until: iso(firedAt + 60_000),
          expiresInS: 50,
        },
        {
          subject: pseudonymize('ip', '203.0.113.7'),
          action: 'throttle',
          detector: 'request-rate',
          score: r.json.penalties[1]?.score,
          level: 0,
          since: iso(firedAt),
          until: iso(firedAt + PENALTY_MS),
          expiresInS: 290,
        },
      ]);
      assert.ok(r.json.penalties[1].score > 1, 'the z-score that fired');
      assert.match(r.json.penalties[1].subject, /^ip:[0-9a-f]{32}$/, 'a pseudonym, never the raw IP');
      const one = await api('/admin/penalties?limit=1');
      assert.deepEqual(one.json.penalties.map((p: Json) => p.subject), ['cip:198.51.100.4']);
      // An expired penalty is not listed.
      clock.advance(60_000);
      assert.deepEqual((await api('/admin/penalties')).json.penalties.map((p: Json) => p.detector), ['request-rate']);
      assert.equal(await vigil.metric('vigil_admin_requests_total', { route: 'penalties', status: '200' }), 3);
    });

    test('lifting a penalty: logged with the caller’s address and counted, gone afterwards, a second lift 404, and the identity passes again', async () => {
      const { clock, vigil } = await setup(env());
      const firedAt = await floodUntilThrottled(clock, '203.0.113.7:40000');
      await floodUntilThrottled(clock, '203.0.113.8:40000'); // the control: never lifted
      const subject = pseudonymize('ip', '203.0.113.7');
      clock.advance(1000);

      const r = await api(`/admin/penalties/${encodeURIComponent(subject)}`, 'DELETE');
      assert.equal(r.status, 200);
      assert.deepEqual(Object.keys(r.json), ['lifted', 'reset']);
      assert.ok(r.json.reset.includes('rate:request-rate'), `the detector's counters were reset: ${JSON.stringify(r.json.reset)}`);
      assert.equal(r.json.lifted.subject, subject);
      assert.equal(r.json.lifted.action, 'throttle');
      assert.equal(r.json.lifted.detector, 'request-rate');
      assert.equal(r.json.lifted.level, 0);
      assert.equal(r.json.lifted.until, iso(firedAt + PENALTY_MS));
      assert.equal(typeof r.json.lifted.score, 'number');

      const logged = vigil.logs.find('penalty lifted') as Json[];
      assert.equal(logged.length, 1);
      assert.equal(logged[0].level, 'info');
      assert.deepEqual(
        {
          subject: logged[0].subject,
          action: logged[0].action,
          detector: logged[0].detector,
          escalationLevel: logged[0].escalationLevel,
          until: logged[0].until,
          remoteAddress: logged[0].remoteAddress,
          reset: logged[0].reset,
        },
        { subject, action: 'throttle', detector: 'request-rate', escalationLevel: 0, until: iso(firedAt + PENALTY_MS), remoteAddress: '127.0.0.1', reset: r.json.reset },
      );
      assert.equal(await vigil.metric('vigil_penalties_lifted_total', { detector: 'request-rate', action: 'throttle' }), 1);
      assert.equal(await vigil.metric('vigil_admin_requests_total', { route: 'lift', status: '200' }), 1);

      const listed = (await api('/admin/penalties')).json.penalties.map((p: Json) => p.subject);
      assert.deepEqual(listed, [pseudonymize('ip', '203.0.113.8')], 'only the control is left');
      assert.equal((await api(`/admin/subjects/${encodeURIComponent(subject)}`)).json.penalty, null);

      const again = await api(`/admin/penalties/${encodeURIComponent(subject)}`, 'DELETE');
      assert.equal(again.status, 404);
      assert.match(again.json.error, /no active penalty/);
      assert.equal(vigil.logs.find('penalty lifted').length, 1, 'a lift that found nothing is not logged as one');
      assert.equal(await vigil.metric('vigil_admin_requests_total', { route: 'lift', status: '404' }), 1);

      // Through gRPC, in the same rate bucket as the burst: the lift lasts (the burst was reset with it,
      // so the next requests do not set a new penalty); the control is still throttled.
      for (let i = 0; i < 5; i++) assert.equal((await send('203.0.113.7:40001')).client.status, 200, `request ${i + 1} after the lift is allowed`);
      assert.equal((await send('203.0.113.8:40001')).client.status, 429, 'the penalty of the control still holds');
    });

    test('a tag detector\'s mark: set from responses, tags the next requests, listed, inspected, lifted', async () => {
      // More than 3 distinct 404 paths in 10 minutes marks the caller for 5 minutes.
      const policy = `format: 1
detectors:
  - { name: scraping, type: scraping, max_not_found: 3, action: tag, penalty: 5m }
`;
      const { clock, vigil } = await setup(env(), undefined, policy);
      const source = '203.0.113.9:40000';
      const get = (path: string, status: number): Promise<SimResult> =>
        sim!.exchange({ method: 'GET', path, authority: 'shop.example', sourceAddress: source, upstream: { status } });
      const tagOf = (r: SimResult) => r.upstreamRequest?.headers.filter(([k]) => k === 'x-vigil-action' || k === 'x-vigil-detectors');
      for (let i = 1; i <= 4; i++) {
        const r = await get(`/backup/${i}.zip`, 404);
        assert.deepEqual(tagOf(r), [], `404 number ${i} went upstream untagged (its own response is what counts)`);
        clock.advance(1000);
      }
      const markedAt = clock.nowMs() - 1000;
      // The next request (a 200 page) is tagged by the mark the 4th 404's response set.
      const next = await get('/products/1', 200);
      assert.deepEqual(tagOf(next), [['x-vigil-action', 'tag'], ['x-vigil-detectors', 'scraping']]);
      assert.equal(await vigil.metric('vigil_penalties_set_total', { detector: 'scraping', action: 'tag' }), 1);

      const subject = pseudonymize('ip', '203.0.113.9');
      const listed = (await api('/admin/penalties')).json.penalties;
      assert.deepEqual(listed.map((p: Json) => [p.subject, p.action, p.detector, p.level, p.since, p.until]), [
        [subject, 'tag', 'scraping', 0, iso(markedAt), iso(markedAt + PENALTY_MS)],
      ]);
      const look = (await api(`/admin/subjects/${encodeURIComponent(subject)}`)).json;
      assert.deepEqual([look.penalty?.action, look.strikes], ['tag', null]);

      const lift = await api(`/admin/penalties/${encodeURIComponent(subject)}`, 'DELETE');
      assert.equal(lift.status, 200);
      assert.equal(lift.json.lifted.action, 'tag');
      const w = Math.floor(markedAt / 600_000);
      assert.deepEqual(lift.json.reset, [`hll:scraping:404:${w}`, `hll:scraping:endpoints:${w}`], "the detector's sets were reset with it");
      assert.deepEqual(tagOf(await get('/products/2', 200)), [], 'after the lift the caller is untagged');
      assert.deepEqual((await api('/admin/penalties')).json.penalties, []);
    });

    test('subject look-up by pseudonym and by ?ip= (canonicalised as vigil does) finds the identity, client-ip and prefix subjects', async () => {
      const { clock, vigil } = await setup(env());
      const firedAt = await floodUntilThrottled(clock, '[2001:DB8::7]:40000');
      await vigil.store.run(
        [{ subject: 'pfx:2001:db8::/48', ops: [{ kind: 'count', name: 'admin-test', windowMs: 60_000 }], rules: [{ op: 0, above: 0, action: 'challenge', durationMs: 120_000, detector: 'manual-test' }] }],
        clock.nowMs(),
      );
      clock.advance(2000);
      const identity = pseudonymize('ip', '2001:db8::7');

      const one = await api(`/admin/subjects/${encodeURIComponent(identity)}`);
      assert.equal(one.status, 200);
      assert.equal(one.json.subject, identity);
      assert.equal(one.json.penalty.action, 'throttle');
      assert.equal(one.json.penalty.detector, 'request-rate');
      assert.equal(one.json.penalty.sinceMs, firedAt);
      assert.equal(one.json.penalty.since, iso(firedAt));
      assert.equal(one.json.penalty.untilMs, firedAt + PENALTY_MS);
      assert.equal(one.json.penalty.until, iso(firedAt + PENALTY_MS));
      assert.equal(one.json.penalty.expiresInS, 298);
      assert.equal(one.json.creditUntilMs, 0);
      assert.equal(one.json.creditUntil, null);
      assert.ok(Array.isArray(one.json.state) && one.json.state.some((s: Json) => s.key.startsWith('rate:')), `the rate state is shown: ${JSON.stringify(one.json.state)}`);

      for (const ip of ['2001:db8:0:0:0:0:0:7', '2001:DB8::7', '2001:db8::7%eth0']) {
        const r = await api(`/admin/subjects?ip=${encodeURIComponent(ip)}`);
        assert.equal(r.status, 200, ip);
        assert.equal(r.json.ip, '2001:db8::7');
        assert.deepEqual(r.json.subjects.map((s: Json) => s.subject), [identity, 'cip:2001:db8::7', 'pfx:2001:db8::/48']);
        assert.equal(r.json.subjects[0].penalty.action, 'throttle', 'the identity pseudonym matches what vigil stored');
        assert.equal(r.json.subjects[1].penalty, null);
        assert.equal(r.json.subjects[2].penalty.action, 'challenge');
        assert.equal(r.json.subjects[2].penalty.until, iso(firedAt + 120_000));
      }

      // An IPv4-mapped IPv6 address is the IPv4 client, as client-ip.ts has it.
      await floodUntilThrottled(clock, '203.0.113.7:40000');
      const mapped = await api(`/admin/subjects?ip=${encodeURIComponent('::ffff:203.0.113.7')}`);
      assert.equal(mapped.json.ip, '203.0.113.7');
      assert.deepEqual(mapped.json.subjects.map((s: Json) => s.subject), [pseudonymize('ip', '203.0.113.7'), 'cip:203.0.113.7', 'pfx:203.0.113.0/24']);
      assert.equal(mapped.json.subjects[0].penalty.action, 'throttle');

      // A subject never seen: empty, not an error. The ip-prefix subject works unencoded too.
      const none = await api('/admin/subjects/cip%3A192.0.2.1');
      assert.deepEqual({ penalty: none.json.penalty, strikes: none.json.strikes, state: none.json.state }, { penalty: null, strikes: null, state: [] });
      assert.equal((await api('/admin/subjects/pfx:2001:db8::/48')).json.penalty.action, 'challenge');
      assert.equal((await api('/admin/subjects?ip=not-an-ip')).status, 400);
      assert.equal(await vigil.metric('vigil_admin_requests_total', { route: 'lookup', status: '200' }), 4);
    });

    if (kind === 'redis') {
      test('Redis stopped: every store-backed route answers 503 JSON with a warning; back once Redis is', async () => {
        const { clock, vigil } = await setup(env());
        await floodUntilThrottled(clock, '203.0.113.7:40000');
        assert.equal((await api('/admin/penalties')).status, 200);
        await redis!.stop();
        try {
          for (const [method, path] of [
            ['GET', '/admin/penalties'],
            ['DELETE', `/admin/penalties/${encodeURIComponent(pseudonymize('ip', '203.0.113.7'))}`],
            ['GET', '/admin/subjects/cip%3A203.0.113.7'],
            ['GET', '/admin/subjects?ip=203.0.113.7'],
          ] as const) {
            const r = await api(path, method);
            assert.equal(r.status, 503, `${method} ${path}`);
            assert.match(r.json.error, /^state store unavailable/);
          }
          assert.ok(vigil.logs.find('admin API: state store unavailable').length >= 4);
          assert.equal(vigil.logs.find('penalty lifted').length, 0);
          assert.equal((await vigil.admin('/healthz')).status, 200, 'the rest of the admin server is unaffected');
        } finally {
          await redis!.start();
        }
        const end = Date.now() + 10_000;
        let status = 0;
        while (Date.now() < end && status !== 200) {
          status = (await api('/admin/penalties')).status;
          if (status !== 200) await new Promise((r) => setTimeout(r, 100));
        }
        assert.equal(status, 200, 'the API answers again once Redis is back (empty: the restarted Redis holds nothing)');
      });
    }
  });
}
