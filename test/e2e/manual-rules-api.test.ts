/**
 * The manual rules' admin API (/admin/rules, docs/admin.md) on one in-process vigil with the embedded
 * store and an injected clock: a rule applies at once on the replica that took it, ends at its expiry
 * on the clock, the most specific one wins, shadow mode shadows a manual block; every malformed
 * request is a 4xx naming what is wrong, and vigil keeps serving.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { compilePolicy } from '../../src/policy/load.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';

const TOKEN = 'manual-rules-api-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const T0 = Date.parse('2026-11-02T10:00:00Z');
const POLICY = 'format: 1\nresponses:\n  reason_header: { upstream: false, client: true }\ndetectors: []\n';

type Json = any;
let vigil: TestVigil | undefined;
let sim: EnvoySim | undefined;
afterEach(async () => {
  sim?.close();
  sim = undefined;
  await vigil?.shutdown();
  vigil = undefined;
});

async function setup(env: Record<string, string> = {}) {
  const clock = new ManualClock(T0);
  vigil = await startTestVigil({ clock, policy: compilePolicy(POLICY, 'manual.yaml'), env: { VIGIL_ADMIN_TOKEN: TOKEN, ...env } });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
  return clock;
}

const send = (source: string) => sim!.exchange({ method: 'GET', path: '/api/items/1', sourceAddress: source, upstream: { status: 200 } });

async function call(method: string, path: string, body?: string | object) {
  const res = await fetch(`http://127.0.0.1:${vigil!.adminPort}${path}`, {
    method,
    headers: { ...AUTH, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, json: JSON.parse(await res.text()) as Json };
}

test('embedded store: a block applies at once and ends at its expiry on the clock; the API lists and removes it', async () => {
  const clock = await setup();
  assert.equal((await send('[2001:db8::5]:4000')).client.status, 200);
  const put = await call('PUT', '/admin/rules/2001%3Adb8%3A%3A%2F32', { action: 'block', forS: 60, reason: 'abuse', by: 'alice' });
  assert.equal(put.status, 200);
  assert.deepEqual(put.json, {
    rule: { target: '2001:db8::/32', kind: 'cidr', action: 'block', reason: 'abuse', by: 'alice', since: '2026-11-02T10:00:00.000Z', until: '2026-11-02T10:01:00.000Z', expiresInS: 60 },
    replaced: null,
  });
  const r = await send('[2001:db8::5]:4000');
  assert.equal(r.client.status, 403);
  assert.equal(r.client.headers.find(([k]) => k === 'x-vigil-reason')?.[1], 'manual; signal=manual; value=0; baseline=0; threshold=0; score=0; window=0s; action=block; by=alice; until=2026-11-02T10:01:00.000Z');
  assert.equal((await send('[2001:db9::5]:4000')).client.status, 200, 'outside the range');
  assert.equal((await send('10.0.0.1:4000')).client.status, 200, 'an IPv4 caller');
  assert.equal(await vigil!.metric('vigil_decisions_total', { action: 'block', detector: 'manual' }), 1);

  const listed = await call('GET', '/admin/rules');
  assert.deepEqual(listed.json.rules.map((x: Json) => [x.target, x.expiresInS]), [['2001:db8::/32', 60]]);
  const lookup = await call('GET', '/admin/subjects?ip=2001:db8::5');
  assert.equal(lookup.json.manual?.target, '2001:db8::/32');

  clock.advance(59_999);
  assert.equal((await send('[2001:db8::5]:4000')).client.status, 403, 'still in force 1 ms before its end');
  clock.advance(1);
  assert.equal((await send('[2001:db8::5]:4000')).client.status, 200, 'over at its until');
  assert.deepEqual((await call('GET', '/admin/rules')).json, { rules: [] });
  assert.equal((await call('DELETE', '/admin/rules/2001%3Adb8%3A%3A%2F32')).status, 404);
});

test('the most specific rule wins; a new rule on a target replaces the old; unblock removes it', async () => {
  await setup();
  assert.equal((await call('PUT', '/admin/rules/10.0.0.0%2F8', { action: 'allow', by: 'ops' })).status, 200);
  assert.equal((await call('PUT', '/admin/rules/10.6.6.6', { action: 'block', by: 'ops', forS: 600 })).status, 200);
  assert.equal((await send('10.6.6.6:1')).client.status, 403);
  assert.equal((await send('10.6.6.7:1')).client.status, 200);
  assert.equal(await vigil!.metric('vigil_unscored_total', { reason: 'manual' }), 1);
  const replaced = await call('PUT', '/admin/rules/10.6.6.6/32', { action: 'allow', by: 'bob' });
  assert.deepEqual([replaced.json.rule.target, replaced.json.replaced?.action, replaced.json.replaced?.by], ['10.6.6.6', 'block', 'ops']);
  assert.equal((await send('10.6.6.6:1')).client.status, 200);
  assert.equal(await vigil!.metric('vigil_manual_rules', { kind: 'ip', action: 'allow' }), 1);
  assert.equal(await vigil!.metric('vigil_manual_rules', { kind: 'ip', action: 'block' }), 0);
  const removed = await call('DELETE', '/admin/rules/10.6.6.6?by=carol');
  assert.equal(removed.json.removed.action, 'allow');
  const line = vigil!.logs.lines.find((l: Json) => l.msg === 'manual rule removed');
  assert.deepEqual([line?.target, line?.by, line?.setBy], ['10.6.6.6', 'carol', 'bob']);
});

test('shadow mode: a manual block is shadowed like any block', async () => {
  await setup({ VIGIL_SHADOW_MODE: 'true' });
  await call('PUT', '/admin/rules/192.0.2.1', { action: 'block', by: 'ops' });
  const r = await send('192.0.2.1:1');
  assert.equal(r.client.status, 200);
  assert.equal(r.upstreamRequest?.headers.find(([k]) => k === 'x-vigil-shadow-action')?.[1], 'block');
  assert.equal(await vigil!.metric('vigil_decisions_total', { action: 'block', detector: 'manual', shadow: 'true' }), 1);
});

test('malformed requests are 4xx naming the problem, nothing is stored, and vigil keeps serving', async () => {
  await setup();
  const good = { action: 'block', forS: 60, reason: 'x', by: 'alice' };
  const cases: Array<[string, string, string | object | undefined, number, RegExp]> = [
    ['PUT', '/admin/rules/192.0.2.1', '{not json', 400, /^body: expected JSON/],
    ['PUT', '/admin/rules/192.0.2.1', '[]', 400, /^body: expected a JSON object/],
    ['PUT', '/admin/rules/192.0.2.1', { ...good, until: 5 }, 400, /^body: unknown field until/],
    ['PUT', '/admin/rules/192.0.2.1', { ...good, action: 'ban' }, 400, /^action: must be "block" or "allow"/],
    ['PUT', '/admin/rules/192.0.2.1', { ...good, forS: 0 }, 400, /^forS: must be a whole number/],
    ['PUT', '/admin/rules/192.0.2.1', { ...good, forS: 1.5 }, 400, /^forS/],
    ['PUT', '/admin/rules/192.0.2.1', { ...good, forS: 400 * 86_400 }, 400, /^forS/],
    ['PUT', '/admin/rules/192.0.2.1', { ...good, reason: 'two\nlines' }, 400, /^reason: /],
    ['PUT', '/admin/rules/192.0.2.1', { ...good, reason: 'r'.repeat(201) }, 400, /^reason: /],
    ['PUT', '/admin/rules/192.0.2.1', { action: 'block' }, 400, /^by: /],
    ['PUT', '/admin/rules/192.0.2.1', { ...good, by: 'a b' }, 400, /^by: /],
    ['PUT', '/admin/rules/localhost', good, 400, /^target: expected an IP address/],
    ['PUT', '/admin/rules/api-key%3Araw-secret-value', good, 400, /^target: /],
    ['PUT', '/admin/rules/10.0.0.0%2F33', good, 400, /^target: /],
    ['PUT', '/admin/rules/%E0%A4%A', good, 400, /^target: malformed URL encoding/],
    ['PUT', '/admin/rules/192.0.2.1', { ...good, reason: 'x'.repeat(5000) }, 413, /^body: at most 4096 bytes/],
    ['DELETE', '/admin/rules/192.0.2.1?by=has%20space', undefined, 400, /^by: /],
    ['GET', '/admin/rules/192.0.2.1', undefined, 405, /^method not allowed: use PUT, DELETE/],
    ['POST', '/admin/rules', undefined, 405, /^method not allowed: use GET, HEAD/],
  ];
  for (const [method, path, body, status, error] of cases) {
    const r = await call(method, path, body);
    assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)}`);
    assert.match(r.json.error, error, `${method} ${path}`);
  }
  assert.deepEqual((await call('GET', '/admin/rules')).json, { rules: [] }, 'nothing was stored');
  assert.equal((await send('192.0.2.1:1')).client.status, 200);
  assert.equal((await vigil!.admin('/healthz')).body, 'ok\n');
  assert.equal(await vigil!.metric('vigil_admin_requests_total', { route: 'rule', status: '400' }), 16);
});
