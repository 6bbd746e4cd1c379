/**
 * The response ladder end to end (docs/mitigation.md): envoy-sim plays Envoy over the real gRPC wire
 * into a vigil on a manual clock, once on the embedded store and once on a real redis-server.
 * Escalation and decay, precedence, canary enforcement, soft limits, the MFA step-up loop for API
 * clients (verified claims) and browsers (upstream confirmation), and their failed variants.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ManualClock } from '../../src/clock.js';
import { inCanary } from '../../src/decision/canary.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import type { SimResult } from '../../src/envoy-sim/index.js';
import { compilePolicy } from '../../src/policy/load.js';
import { createRedisStore } from '../../src/state/redis-store.js';
import type { SharedStore } from '../../src/state/store.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { startRedis } from '../helpers/redis-server.js';
import type { TestVigil } from '../helpers/vigil.js';
import { predictableRate, STEP_UP } from '../helpers/policy-files.js';
import { startTestVigil } from '../helpers/vigil.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';

const T0 = Date.parse('2026-11-02T10:00:00Z'); // a minute boundary
const MIN = 60_000;

/** The policies' shared pieces: a rate detector firing at the 21st request of a minute, step-up. */
const rate = (name: string, action: string, extra = '') => predictableRate(name, action, { extra });

const BROWSER = `responses:
  challenge:
    acr_values: "urn:example:mfa"
    max_age: 5m
    browser: { mode: redirect, url: /step-up, status: 303, return_param: next }
`;

type Send = (over?: { headers?: Array<[string, string]>; path?: string; method?: string; ip?: string; upstreamHeaders?: Array<[string, string]> }) => Promise<SimResult>;

interface Harness {
  vigil: TestVigil;
  clock: ManualClock;
  send: (identity: Array<[string, string]>) => Send;
  burst: (send: Send, n: number) => Promise<SimResult[]>;
}

const jwt = (claims: Record<string, unknown>): Array<[string, string]> => [['x-jwt-payload', Buffer.from(JSON.stringify(claims)).toString('base64url')]];
const header = (r: SimResult, name: string) => r.client.headers.find(([k]) => k === name)?.[1];
const upstreamHeader = (r: SimResult, name: string) => r.upstreamRequest?.headers.find(([k]) => k === name)?.[1];

for (const kind of ['memory', 'redis'] as const) {
  describe(`mitigation (${kind} store)`, () => {
    let redis: RedisServer | undefined;
    let vigil: TestVigil | undefined;
    let sim: EnvoySim | undefined;
    before(async () => {
      if (kind === 'redis') redis = await startRedis();
    });
    after(async () => {
      await redis?.stop();
    });
    afterEach(async () => {
      sim?.close();
      sim = undefined;
      await vigil?.shutdown();
      vigil = undefined;
      if (redis) {
        const r = new Redis(redis.url);
        await r.flushall();
        r.disconnect();
      }
    });

    async function start(policyText: string, env: Record<string, string> = {}): Promise<Harness> {
      const clock = new ManualClock(T0);
      const store: SharedStore | undefined = redis ? createRedisStore(redis.url) : undefined;
      vigil = await startTestVigil({ clock, env, policy: compilePolicy(policyText, 'mitigation.yaml'), ...(store ? { store } : {}) });
      const v = vigil;
      sim = new EnvoySim(v.target, { request_attributes: ['source.address'], message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
      const s = sim;
      const send = (identity: Array<[string, string]>): Send => async (over = {}) => {
        const r = await s.exchange({
          method: over.method ?? 'GET',
          path: over.path ?? '/api/items',
          authority: 'shop.example',
          headers: [...identity, ...(over.headers ?? [['accept', 'application/json']])],
          sourceAddress: `${over.ip ?? '203.0.113.7'}:40000`,
          upstream: { status: 200, headers: over.upstreamHeaders ?? [['content-type', 'application/json']], body: Buffer.from('{}') },
        });
        await v.settled(PATIENT_MESSAGE_TIMEOUT_MS);
        return r;
      };
      const burst = async (one: Send, n: number) => {
        const out: SimResult[] = [];
        for (let i = 0; i < n; i++) {
          out.push(await one());
          clock.advance(10);
        }
        return out;
      };
      return { vigil: v, clock, send, burst };
    }

    test('escalation: a repeat offence within the window steps up and lasts longer; good behaviour decays it', async () => {
      const { vigil, clock, send, burst } = await start(`format: 1
escalation: { window: 10m, factor: 2, max_action: challenge, max_penalty: 1h }
detectors:
${rate('flood', 'throttle')}`);
      const key = send([['x-api-key', 'key-of-a-flooder']]);
      const first = await burst(key, 21);
      assert.equal(first[19]!.client.status, 200);
      assert.equal(first[20]!.client.status, 429, 'the 21st request of the minute is throttled');
      assert.equal(header(first[20]!, 'retry-after'), '60', 'level 0: the rule’s own 1m');

      // The throttle runs out; a second offence in a later minute (within the 10m window) is one step up.
      clock.set(T0 + 2 * MIN);
      const second = await burst(key, 60);
      const challenged = second.findIndex((r) => r.client.status !== 200);
      assert.ok(challenged > 0, 'allowed again once the penalty expired');
      assert.equal(second[challenged]!.client.status, 401, 'throttle escalated to challenge');
      assert.match(header(second[challenged]!, 'www-authenticate')!, /error="insufficient_user_authentication"/);
      const penalties = vigil.logs.find('penalty set') as Array<{ escalationLevel: number; action: string; untilMs: number }>;
      assert.deepEqual(penalties.map((p) => [p.action, p.escalationLevel]), [['throttle', 0], ['challenge', 1]]);
      const set2 = penalties[1]!;
      const sinceMs = T0 + 2 * MIN + challenged * 10;
      assert.equal(set2.untilMs - sinceMs, 2 * MIN, 'level 1 lasts factor × 1m');
      const decision = (vigil.logs.find('decision') as any[]).at(-1);
      assert.equal(decision.reasons[0].level, 1, 'the decision log explains the escalation');

      // Capped at max_action: a third offence stays a challenge, four minutes long.
      clock.set(T0 + 5 * MIN);
      const third = await burst(key, 60);
      assert.equal(third.find((r) => r.client.status !== 200)?.client.status, 401);
      const p3 = (vigil.logs.find('penalty set') as Array<{ escalationLevel: number; action: string }>).at(-1)!;
      assert.deepEqual([p3.action, p3.escalationLevel], ['challenge', 2]);

      // Three windows without an offence: every strike has decayed; the next offence is level 0 again.
      clock.set(T0 + 45 * MIN);
      const fresh = await burst(key, 200);
      const hit = fresh.find((r) => r.client.status !== 200)!;
      assert.equal(hit.client.status, 429);
      assert.equal(header(hit, 'retry-after'), '60');
      assert.equal((vigil.logs.find('penalty set') as Array<{ escalationLevel: number }>).at(-1)!.escalationLevel, 0);
    });

    test('precedence: when detectors disagree the strongest enforced action wins, and every reason is logged', async () => {
      const { vigil, send, burst } = await start(`format: 1
detectors:
${rate('flood', 'throttle')}
${rate('flood-watch', 'block', '    shadow: true\n')}
${rate('flood-tag', 'tag')}`);
      const r = await burst(send([['x-api-key', 'k1']]), 21);
      const last = r[20]!;
      assert.equal(last.client.status, 429, 'throttle beats tag; the shadowed block is not enforced');
      const d = (vigil.logs.find('decision') as any[]).at(-1);
      assert.equal(d.action, 'block', 'the log counts the stronger shadowed action…');
      assert.equal(d.shadow, true);
      assert.deepEqual(d.reasons.map((x: any) => [x.detector, x.action, x.shadow]).sort(), [
        ['flood', 'throttle', false],
        ['flood-tag', 'tag', false],
        ['flood-watch', 'block', true],
      ]);
      assert.equal(await vigil.metric('vigil_decisions_total', { action: 'block', detector: 'flood-watch', shadow: 'true' }), 1);
    });

    test('canary: enforce_percent enforces on a stable share of identities and shadows the rest', async () => {
      const { vigil, send, burst } = await start(`format: 1
detectors:
${rate('flood', 'throttle', '    enforce_percent: 30\n')}`);
      let enforced = 0;
      for (let i = 0; i < 12; i++) {
        const r = await burst(send([['x-api-key', `canary-key-${i}`]]), 21);
        const last = r[20]!;
        const id = (vigil.logs.find('decision') as any[]).at(-1).identity.id as string;
        if (inCanary('flood', id, 30)) {
          enforced++;
          assert.equal(last.client.status, 429, `identity ${i} is in the 30 %`);
        } else {
          assert.equal(last.client.status, 200, `identity ${i} is shadowed`);
          assert.equal(upstreamHeader(last, 'x-vigil-shadow-action'), 'throttle');
        }
        // Stable: the same identity, again, lands on the same side.
        const again = await send([['x-api-key', `canary-key-${i}`]])();
        assert.equal(again.client.status, last.client.status);
      }
      assert.ok(enforced > 0 && enforced < 12, `both sides seen (${enforced} enforced of 12)`);
      const d = (vigil.logs.find('decision') as any[]).at(-1);
      assert.ok(['enforced', 'shadowed'].includes(d.reasons[0].canary), 'the log says which side');
    });

    test('soft limits: RateLimit fields on allowed responses once 80 % of the limit is used', async () => {
      const { burst, send } = await start(`format: 1
detectors:
${rate('flood', 'throttle')}`);
      const r = await burst(send([['x-api-key', 'polite-client']]), 20);
      // The limit in the first minute is mean + 3 sd = 20: requests 16..20 have used ≥ 80 %.
      assert.equal(header(r[14]!, 'ratelimit'), undefined, 'request 15: far from the limit');
      assert.equal(header(r[15]!, 'ratelimit-policy'), '"flood";q=20;w=60');
      assert.match(header(r[15]!, 'ratelimit')!, /^"flood";r=4;t=\d+$/);
      assert.match(header(r[19]!, 'ratelimit')!, /^"flood";r=0;t=\d+$/);
      assert.ok(r.every((x) => x.client.status === 200), 'all allowed: soft limits only inform');
    });

    test('soft limits are not added in shadow mode', async () => {
      const { burst, send } = await start(`format: 1
detectors:
${rate('flood', 'throttle')}`, { VIGIL_SHADOW_MODE: 'true' });
      const r = await burst(send([['x-api-key', 'shadowed-client']]), 20);
      assert.ok(r.every((x) => header(x, 'ratelimit') === undefined && header(x, 'ratelimit-policy') === undefined));
    });

    test('step-up (API): challenged → fails with a forged header, a token without acr, an old MFA, another identity → passes MFA → credit → credit expires', async () => {
      const { vigil, clock, send, burst } = await start(`format: 1
${STEP_UP}detectors:
${rate('flood', 'challenge')}`);
      const alicePwd = (t: number) => jwt({ sub: 'alice', acr: 'urn:example:pwd', auth_time: Math.floor(t / 1000) });
      const aliceMfa = (t: number) => jwt({ sub: 'alice', acr: 'urn:example:mfa', auth_time: Math.floor(t / 1000) });
      const alice = send(alicePwd(T0 - MIN));
      const r = await burst(alice, 21);
      assert.equal(r[20]!.client.status, 401);
      assert.equal(header(r[20]!, 'www-authenticate'), 'Bearer error="insufficient_user_authentication", error_description="A stronger authentication is required"');
      clock.advance(1000);

      // A forged confirmation from the client: the confirmation is only read from the upstream's response.
      const forged = await alice({ headers: [['accept', 'application/json'], ['x-step-up-confirmed', 'ok']] });
      assert.equal(forged.client.status, 401);
      // A fresh token without the required acr.
      assert.equal((await send(alicePwd(clock.nowMs()))()).client.status, 401);
      // An MFA that happened before the challenge (beyond the 30 s skew) does not answer it.
      assert.equal((await send(aliceMfa(T0 - 5 * MIN))()).client.status, 401);
      // Bob's fresh MFA token: Bob is allowed, and Alice is still challenged.
      const bob = await send(jwt({ sub: 'bob', acr: 'urn:example:mfa', auth_time: Math.floor(clock.nowMs() / 1000) }))();
      assert.equal(bob.client.status, 200);
      assert.equal((await alice()).client.status, 401);
      assert.equal(await vigil.metric('vigil_step_ups_total'), 0);

      // Alice completes MFA: her verified claims now carry the acr, after the challenge.
      clock.advance(20_000);
      const mfaAt = clock.nowMs();
      const cleared = await send(aliceMfa(mfaAt))();
      assert.equal(cleared.client.status, 200, 'the challenge is satisfied');
      assert.equal(await vigil.metric('vigil_step_ups_total', { via: 'claims', result: 'cleared' }), 1);
      const line = vigil.logs.find('step-up cleared')[0] as any;
      assert.equal(line.via, 'claims');
      assert.equal(line.creditUntilMs, mfaAt + 10 * MIN);

      // Credit: thresholds × 3 and no new challenge. A minute later she makes 40 requests (twice the
      // normal limit of 20): all allowed.
      clock.set(T0 + 2 * MIN);
      const busy = await burst(send(aliceMfa(mfaAt)), 40);
      assert.ok(busy.every((x) => x.client.status === 200), 'not re-challenged a minute later');

      // Credit runs out (10 minutes): the same behaviour is challenged again, and her old MFA no longer answers it.
      clock.set(T0 + 12 * MIN);
      const again = await burst(send(aliceMfa(mfaAt)), 60);
      assert.equal(again.find((x) => x.client.status !== 200)?.client.status, 401);
    });

    test('step-up (browser): redirect, the step-up page stays reachable, the upstream confirms, the header is stripped', async () => {
      const { vigil, send, burst, clock } = await start(`format: 1
${BROWSER}${STEP_UP}endpoints:
  - name: step-up
    match: { path: "/step-up/**" }
    step_up: true
detectors:
${rate('flood', 'challenge')}`);
      const html: Array<[string, string]> = [['accept', 'text/html,application/xhtml+xml']];
      const browser = send([['cookie', 'session=s3cr3t-session-value']]);
      const r = await burst(() => browser({ headers: html, path: '/account/orders?page=2' }), 21);
      const redirected = r[20]!;
      assert.equal(redirected.client.status, 303);
      assert.equal(header(redirected, 'location'), '/step-up?next=%2Faccount%2Forders%3Fpage%3D2');
      // The same identity as an API call (no text/html): the RFC 9470 401.
      const api = await browser();
      assert.equal(api.client.status, 401);
      assert.match(header(api, 'www-authenticate')!, /acr_values="urn:example:mfa", max_age="300"/);

      // The client cannot confirm its own step-up…
      assert.equal((await browser({ headers: [...html, ['x-step-up-confirmed', 'ok']] })).client.status, 303);
      // …the step-up page is reachable while challenged…
      const page = await browser({ headers: html, path: '/step-up/start' });
      assert.equal(page.client.status, 200);
      // …an upstream answer with the wrong value confirms nothing…
      const wrong = await browser({ method: 'POST', path: '/step-up/verify', upstreamHeaders: [['x-step-up-confirmed', 'no']] });
      assert.equal(header(wrong, 'x-step-up-confirmed'), undefined, 'stripped from the client’s response');
      assert.equal((await browser({ headers: html })).client.status, 303);
      // …and the upstream's confirmation clears it.
      clock.advance(1000);
      const verified = await browser({ method: 'POST', path: '/step-up/verify', upstreamHeaders: [['x-step-up-confirmed', 'ok']] });
      assert.equal(verified.client.status, 200);
      assert.equal(header(verified, 'x-step-up-confirmed'), undefined, 'the confirmation is for vigil, not the client');
      assert.equal(await vigil.metric('vigil_step_ups_total', { via: 'upstream', result: 'cleared' }), 1);
      assert.equal((await browser({ headers: html, path: '/account/orders' })).client.status, 200, 'back in');
    });

    test('x-vigil-reason reaches the upstream when the policy asks for it', async () => {
      const { burst, send } = await start(`format: 1
responses:
  reason_header: { upstream: true }
detectors:
${rate('flood-tag', 'tag')}`);
      const r = await burst(send([['x-api-key', 'k-tag']]), 21);
      assert.equal(upstreamHeader(r[19]!, 'x-vigil-reason'), undefined);
      assert.match(upstreamHeader(r[20]!, 'x-vigil-reason')!, /^flood-tag; signal=rate-z; value=21; baseline=5; threshold=3; score=3\.2; window=60s; action=tag$/);
      assert.equal(header(r[20]!, 'x-vigil-reason'), undefined, 'not toward the client');
    });

    if (kind === 'redis') {
      test('every penalty, strike and credit key expires in Redis, and expired penalties stop applying', async () => {
        const { vigil: v, clock, send, burst } = await start(`format: 1
escalation: { window: 10m, factor: 2, max_action: challenge, max_penalty: 1h }
${STEP_UP}detectors:
${rate('flood', 'challenge')}`);
        await burst(send(jwt({ sub: 'carol', acr: 'urn:example:pwd', auth_time: Math.floor(T0 / 1000) })), 21);
        clock.advance(5000);
        await send(jwt({ sub: 'carol', acr: 'urn:example:mfa', auth_time: Math.floor(clock.nowMs() / 1000) }))();
        // The in-process tier reaches Redis at its next sync: have it now.
        await v.tier?.flush();
        const r = new Redis(redis!.url);
        try {
          const keys = await r.keys('vigil:*');
          assert.ok(keys.some((k) => k.endsWith(':strikes')), 'a strikes key was written');
          assert.ok(keys.some((k) => k.endsWith(':credit')), 'a credit key was written');
          for (const k of keys) assert.ok((await r.pttl(k)) > 0, `${k} has a TTL`);
        } finally {
          r.disconnect();
        }
      });

      test('store down: still decided (from this replica\'s view), and the upstream is told it was degraded', async () => {
        const { send } = await start(`format: 1
detectors:
${rate('flood', 'throttle')}`);
        await redis!.stop();
        try {
          const flood = send([['x-api-key', 'k-degraded']]);
          const r = await flood();
          assert.equal(r.client.status, 200);
          assert.equal(upstreamHeader(r, 'x-vigil-degraded'), 'store-sync');
          // The predictable rate detector throttles at the 21st request of the minute, Redis or not.
          let first = 0;
          for (let i = 2; i <= 25 && first === 0; i++) if ((await flood()).client.status === 429) first = i;
          assert.equal(first, 21);
        } finally {
          await redis!.start();
        }
      });
    }
  });
}

test('exemplars: with VIGIL_METRICS_EXEMPLARS, /metrics speaks OpenMetrics and a throttle carries its identity and policy', async () => {
  const clock = new ManualClock(T0);
  const vigil = await startTestVigil({ clock, env: { VIGIL_METRICS_EXEMPLARS: 'true' }, policy: compilePolicy(`format: 1\ndetectors:\n${rate('flood', 'throttle')}`, 'x.yaml') });
  const sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
  try {
    for (let i = 0; i < 21; i++) {
      await sim.exchange({ method: 'GET', path: '/api/items', headers: [['x-api-key', 'exemplar-key']], sourceAddress: '203.0.113.7:4000' });
      clock.advance(10);
    }
    const res = await fetch(`http://127.0.0.1:${vigil.adminPort}/metrics`);
    assert.match(res.headers.get('content-type') ?? '', /application\/openmetrics-text/);
    const text = await res.text();
    const id = (vigil.logs.find('decision').at(-1) as any).identity.id as string;
    const line = text.split('\n').find((l) => l.startsWith('vigil_decisions_total{action="throttle",detector="flood",shadow="false"}'));
    assert.ok(line, text.split('\n').filter((l) => l.startsWith('vigil_decisions')).join('\n'));
    assert.match(line, new RegExp(`# \\{identity="${id}",policy="${vigil.policy().checksum}"\\} 1`));
    assert.ok(text.trimEnd().endsWith('# EOF'));
  } finally {
    sim.close();
    await vigil.shutdown();
  }
});
