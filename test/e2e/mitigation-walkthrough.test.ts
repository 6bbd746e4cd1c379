/**
 * docs/mitigation.md's walkthrough, step by step, with the policies read from the page itself (the
 * YAML block after each `<!-- walkthrough:NAME -->` marker): run in shadow, read why vigil would act
 * (decision log, admin API), enforce one detector for 10 % of identities, and watch a challenged user
 * clear the challenge with MFA. Real redis-server, envoy-sim over gRPC, one manual clock.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { inCanary } from '../../src/decision/canary.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import type { SimResult } from '../../src/envoy-sim/index.js';
import { projectRoot } from '../../src/paths.js';
import { compilePolicy } from '../../src/policy/load.js';
import { createRedisStore } from '../../src/state/redis-store.js';
import type { RedisServer } from '../helpers/redis-server.js';
import { startRedis } from '../helpers/redis-server.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';

const T0 = Date.parse('2026-11-02T10:00:00Z');
const TOKEN = 'walkthrough-admin-token-0123';
const doc = readFileSync(join(projectRoot, 'docs', 'mitigation.md'), 'utf8');

/** The YAML block right after `<!-- walkthrough:name -->` in docs/mitigation.md. */
function docPolicy(name: string) {
  const m = new RegExp(`<!-- walkthrough:${name} -->\\s*\`\`\`yaml\\n([\\s\\S]*?)\`\`\``).exec(doc);
  assert.ok(m, `docs/mitigation.md has a walkthrough:${name} block`);
  return compilePolicy(m[1]!, `mitigation.md#${name}`);
}

const payload = (claims: Record<string, unknown>): [string, string] => ['x-jwt-payload', Buffer.from(JSON.stringify(claims)).toString('base64url')];
const upstreamHeader = (r: SimResult, name: string) => r.upstreamRequest?.headers.find(([k]) => k === name)?.[1];

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

async function run(policy: ReturnType<typeof compilePolicy>, clock: ManualClock, env: Record<string, string>) {
  const vigil = await startTestVigil({ clock, policy, store: createRedisStore(redis.url), env: { VIGIL_ADMIN_TOKEN: TOKEN, ...env } });
  const sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
  const send = async (user: string, claims: Record<string, unknown> = {}) => {
    const r = await sim.exchange({
      method: 'GET',
      path: '/api/items',
      authority: 'shop.example',
      headers: [payload({ sub: user, acr: 'urn:example:pwd', auth_time: Math.floor(T0 / 1000) - 600, ...claims }), ['accept', 'application/json']],
      sourceAddress: '203.0.113.9:40000',
      upstream: { status: 200, body: Buffer.from('{}') },
    });
    await vigil.settled(PATIENT_MESSAGE_TIMEOUT_MS);
    clock.advance(10);
    return r;
  };
  const flood = async (user: string, n = 21) => {
    const out: SimResult[] = [];
    for (let i = 0; i < n; i++) out.push(await send(user));
    return out;
  };
  const admin = (path: string, method = 'GET') => vigil.admin(path, { method, headers: { authorization: `Bearer ${TOKEN}` } });
  return { vigil, sim, send, flood, admin };
}

test('docs/mitigation.md walkthrough: shadow → why → enforce for 10 % → MFA clears the challenge', async () => {
  const clock = new ManualClock(T0);
  let vigil: TestVigil | undefined;
  let sim: EnvoySim | undefined;
  try {
    // 1. Run in shadow: nothing enforced, the upstream is told what would have happened.
    const shadow = await run(docPolicy('shadow'), clock, { VIGIL_SHADOW_MODE: 'true' });
    ({ vigil, sim } = shadow);
    const r = await shadow.flood('walker');
    assert.ok(r.every((x) => x.client.status === 200), 'shadow mode never enforces');
    assert.equal(upstreamHeader(r[20]!, 'x-vigil-shadow-action'), 'challenge');
    assert.equal(upstreamHeader(r[20]!, 'x-vigil-shadow-detectors'), 'request-rate');

    // 2. Read why: the decision log line, and the admin API.
    const line = shadow.vigil.logs.find('decision').at(-1) as any;
    assert.equal(line.shadow, true);
    assert.equal(line.action, 'challenge');
    assert.deepEqual(
      { detector: line.reasons[0].detector, value: line.reasons[0].value, baseline: line.reasons[0].baseline, threshold: line.reasons[0].threshold, windowMs: line.reasons[0].windowMs },
      { detector: 'request-rate', value: 21, baseline: 5, threshold: 3, windowMs: 60_000 },
    );
    assert.equal(line.identity.kind, 'jwt');
    const walker = line.identity.id as string;
    const listed = JSON.parse((await shadow.admin('/admin/penalties')).body) as { penalties: Array<{ subject: string; action: string }> };
    assert.deepEqual(listed.penalties.map((p) => [p.subject, p.action]), [[walker, 'challenge']]);
    const looked = await shadow.admin(`/admin/subjects/${encodeURIComponent(walker)}`);
    assert.equal(looked.status, 200);
    assert.equal((JSON.parse(looked.body) as { penalty: { detector: string } }).penalty.detector, 'request-rate');
    // The shadow penalty would apply once enforced: lift it, as the page says.
    assert.equal((await shadow.admin(`/admin/penalties/${encodeURIComponent(walker)}`, 'DELETE')).status, 200);
    sim.close();
    await vigil.shutdown();
    vigil = undefined;

    // 3. Enforce the detector for 10 % of identities (shadow mode off), on the same Redis.
    clock.set(T0 + 10 * 60_000);
    const canary = await run(docPolicy('canary'), clock, {});
    ({ vigil, sim } = canary);
    const challenged: string[] = [];
    const shadowed: string[] = [];
    for (let i = 0; i < 40; i++) {
      const user = `user-${i}`;
      const last = (await canary.flood(user)).at(-1)!;
      const id = (canary.vigil.logs.find('decision').at(-1) as any).identity.id as string;
      const inShare = inCanary('request-rate', id, 10);
      if (last.client.status === 401) challenged.push(user);
      else {
        assert.equal(last.client.status, 200);
        assert.equal(upstreamHeader(last, 'x-vigil-shadow-action'), 'challenge');
        shadowed.push(user);
      }
      assert.equal(last.client.status === 401, inShare, `${user}: challenged exactly when in the 10 %`);
    }
    assert.ok(challenged.length >= 1 && challenged.length <= 10, `about one in ten challenged: ${challenged.length} of 40`);
    assert.equal((canary.vigil.logs.find('decision').at(-1) as any).reasons[0].canary !== undefined, true);

    // 4. A challenged user signs in again with MFA: allowed, logged, and not challenged again for a while.
    const user = challenged[0]!;
    assert.equal((await canary.send(user)).client.status, 401, 'still challenged before MFA');
    const mfa = { acr: 'urn:example:mfa', auth_time: Math.floor(clock.nowMs() / 1000) + 1 };
    clock.advance(2000);
    assert.equal((await canary.send(user, mfa)).client.status, 200);
    assert.equal(canary.vigil.logs.find('step-up cleared').length, 1);
    assert.equal(await canary.vigil.metric('vigil_step_ups_total', { via: 'claims', result: 'cleared' }), 1);
    clock.advance(60_000);
    const after = [];
    for (let i = 0; i < 30; i++) after.push(await canary.send(user, mfa));
    assert.ok(after.every((x) => x.client.status === 200), 'the same pace is allowed during the credit');
  } finally {
    sim?.close();
    await vigil?.shutdown();
  }
});
