import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { readFileSync } from 'node:fs';
import { ManualClock } from '../../src/clock.js';
import { defaultPolicyPath } from '../../src/paths.js';
import { compilePolicy } from '../../src/policy/load.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import type { SimResult } from '../../src/envoy-sim/index.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';

const T0 = Date.parse('2026-11-02T10:00:00Z'); // a bucket boundary
const SECRET_KEY = 'sk_live_DO_NOT_LOG_4242';

let vigil: TestVigil | undefined;
let sim: EnvoySim | undefined;
afterEach(async () => {
  sim?.close();
  await vigil?.shutdown();
});

/**
 * The default policy's rate detector alone: these tests pin its behaviour, and the default policy's other
 * detectors (enumeration would see these random order ids) are tested on their own.
 */
function rateOnlyPolicy() {
  const text = readFileSync(defaultPolicyPath, 'utf8');
  const rate = text.slice(text.indexOf('  - name: request-rate'), text.indexOf('  # BOLA'));
  return compilePolicy(`format: 1\ndetectors:\n${rate}`, 'rate-only.yaml');
}

async function setup(env: Record<string, string> = {}) {
  const clock = new ManualClock(T0);
  vigil = await startTestVigil({ clock, env, policy: rateOnlyPolicy() });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
  const send = (apiKey: string, ip = '203.0.113.7'): Promise<SimResult> =>
    sim!.exchange({
      method: 'GET',
      path: `/api/orders/${Math.floor(Math.random() * 1e6)}`,
      authority: 'shop.example',
      headers: [['x-api-key', apiKey], ['accept', 'application/json']],
      sourceAddress: `${ip}:40000`,
      upstream: { status: 200, body: Buffer.from('{}') },
    });
  return { clock, send, vigil };
}

const header = (r: SimResult, name: string) => r.client.headers.find(([k]) => k === name)?.[1];

test('a newcomer flooding is throttled at min_count with Retry-After and RateLimit fields; others are not', async () => {
  const { clock, send, vigil } = await setup();
  const allowed: SimResult[] = [];
  for (let i = 1; i <= 119; i++) {
    const r = await send(SECRET_KEY);
    assert.equal(r.client.status, 200, `request ${i}`);
    assert.ok(r.upstreamRequest, `request ${i} reached the upstream`);
    allowed.push(r);
    clock.advance(100);
  }
  // The soft limit on the exact boundary: q is the requests the window allows (119: the 120th fires at
  // min_count), r those still allowed after this one; the request that sees r=0 is the last allowed.
  assert.equal(header(allowed[117]!, 'ratelimit-policy'), '"request-rate";q=119;w=60');
  assert.match(header(allowed[117]!, 'ratelimit')!, /^"request-rate";r=1;t=\d+$/, 'request 118: one more allowed');
  assert.match(header(allowed[118]!, 'ratelimit')!, /^"request-rate";r=0;t=\d+$/, 'request 119: the last allowed');
  const hit = await send(SECRET_KEY);
  assert.equal(hit.client.status, 429);
  assert.equal(hit.upstreamRequest, null);
  assert.equal(header(hit, 'retry-after'), '300');
  assert.equal(header(hit, 'ratelimit-policy'), '"request-rate";q=119;w=60');
  assert.equal(header(hit, 'ratelimit'), '"request-rate";r=0;t=300');

  const other = await send('another-key', '198.51.100.1');
  assert.equal(other.client.status, 200, 'another identity is unaffected');

  // The penalty outlives the bucket: a minute later, one request is still throttled…
  clock.advance(60_000);
  const later = await send(SECRET_KEY);
  assert.equal(later.client.status, 429);
  // Set at T0 + 11.9 s for 300 s; now T0 + 71.9 s: 240 s left.
  assert.equal(header(later, 'retry-after'), '240');
  // …and expires by itself.
  clock.advance(300_000);
  assert.equal((await send(SECRET_KEY)).client.status, 200);

  const decisions = vigil.logs.find('decision');
  assert.equal(decisions.length, 2, 'one log line per non-allow decision, none for allowed requests');
  const first = decisions[0] as any;
  assert.equal(first.action, 'throttle');
  assert.equal(first.enforced, true);
  assert.equal(first.identity.kind, 'api-key');
  assert.match(first.identity.id, /^api-key:[0-9a-f]{32}$/);
  assert.equal(first.template, '/api/orders/{id}');
  assert.deepEqual(
    { detector: first.reasons[0].detector, value: first.reasons[0].value, baseline: first.reasons[0].baseline, threshold: first.reasons[0].threshold },
    { detector: 'request-rate', value: 120, baseline: 5, threshold: 3 },
  );
  assert.equal(first.reasons[0].score, 23);
  assert.ok(!JSON.stringify(vigil.logs.lines).includes(SECRET_KEY), 'the raw API key is never logged');
  assert.equal(await vigil.metric('vigil_decisions_total', { action: 'throttle', detector: 'request-rate', shadow: 'false' }), 2);
  assert.ok((await vigil.metric('vigil_decisions_total', { action: 'allow' })) >= 121);
});

test('an identity is judged against its own baseline: steady 100/min may rise to 125, not to 131', async () => {
  const { clock, send } = await setup();
  const minute = async (count: number): Promise<number | null> => {
    const start = clock.nowMs();
    let firstThrottled: number | null = null;
    for (let i = 1; i <= count; i++) {
      const r = await send('steady-client');
      if (r.client.status === 429 && firstThrottled === null) firstThrottled = i;
      clock.advance(Math.floor(59_000 / count));
    }
    clock.set(start + 60_000);
    return firstThrottled;
  };
  for (let m = 0; m < 12; m++) assert.equal(await minute(100), null, `steady minute ${m}`);
  // 125 > min_count (120), but z = (125 − 100)/√100 = 2.5 against its own baseline: allowed.
  assert.equal(await minute(125), null);
  // Next minute: baseline 100.57, σ = 10.03 → fires once z > 3, at the 131st request.
  assert.equal(await minute(140), 131);
});

test('a quiet identity never trips the detector below min_count, however unusual', async () => {
  const { clock, send } = await setup();
  for (let m = 0; m < 5; m++) {
    for (let i = 0; i < 3; i++) assert.equal((await send('quiet')).client.status, 200);
    clock.advance(60_000);
  }
  for (let i = 0; i < 110; i++) assert.equal((await send('quiet')).client.status, 200, `burst request ${i}`);
});

test('shadow mode: the same flood is decided, logged and counted as throttle, but allowed and tagged', async () => {
  const { clock, send, vigil } = await setup({ VIGIL_SHADOW_MODE: 'true' });
  let tagged: SimResult | undefined;
  for (let i = 1; i <= 125; i++) {
    const r = await send(SECRET_KEY);
    assert.equal(r.client.status, 200, `request ${i} allowed in shadow mode`);
    const shadow = r.upstreamRequest?.headers.find(([k]) => k === 'x-vigil-shadow-action')?.[1];
    if (i < 120) assert.equal(shadow, undefined, `request ${i}`);
    else {
      assert.equal(shadow, 'throttle', `request ${i}`);
      tagged = r;
    }
    clock.advance(100);
  }
  assert.equal(tagged?.upstreamRequest?.headers.find(([k]) => k === 'x-vigil-shadow-detectors')?.[1], 'request-rate');
  assert.equal(await vigil.metric('vigil_decisions_total', { action: 'throttle', shadow: 'true' }), 6);
  assert.equal(await vigil.metric('vigil_decisions_total', { action: 'throttle', shadow: 'false' }), 0);
  // One line for the six: repeats of one caller's decision by one detector are thinned (decision-log-sampler.ts).
  const lines = vigil.logs.find('decision') as any[];
  assert.equal(lines.length, 1);
  assert.ok(lines.every((l) => l.shadow === true && l.enforced === false && l.action === 'throttle'));
});

test('a client cannot forge x-vigil-* headers to the upstream', async () => {
  const { vigil } = await setup();
  const r = await sim!.exchange({
    method: 'GET',
    path: '/x',
    headers: [['x-vigil-action', 'tag'], ['x-vigil-shadow-action', 'none']],
    sourceAddress: '192.0.2.1:1',
  });
  assert.equal(r.client.status, 200);
  assert.deepEqual(r.upstreamRequest?.headers.filter(([k]) => k.startsWith('x-vigil-')), []);
  void vigil;
});
