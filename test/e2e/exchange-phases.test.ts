/**
 * The exchange phases end to end (real gRPC server, envoy-sim): which messages vigil asks Envoy for
 * per endpoint role, with and without allow_mode_override, and what reaches the upstream.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { compilePolicy } from '../../src/policy/load.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';

const POLICY = `format: 1
endpoints:
  - name: login
    match: { methods: [POST], path: /api/login }
    login:
      username: { json: user.name }
      failure: { status: [401] }
  - name: assets
    match: { path: "/assets/**" }
    static: true
  - name: export
    match: { path: /api/export }
    export: { sample_body: true }
allow:
  cidrs: [192.0.2.0/24]
detectors:
  - { name: request-rate, type: rate-baseline, action: throttle }
`;

let vigil: TestVigil | undefined;
let sim: EnvoySim | undefined;
afterEach(async () => {
  sim?.close();
  await vigil?.shutdown();
});

async function setup(allowModeOverride: boolean) {
  vigil = await startTestVigil({ clock: new ManualClock(Date.parse('2026-11-02T10:00:00Z')), policy: compilePolicy(POLICY, 'phases.yaml') });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], allow_mode_override: allowModeOverride, failure_mode_allow: false, message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
  return { vigil, sim };
}

const loginBody = Buffer.from(JSON.stringify({ user: { name: 'alice' }, password: 'hunter2' }));
const login = (sim: EnvoySim, ip = '203.0.113.7') =>
  sim.exchange({
    method: 'POST',
    path: '/api/login',
    headers: [['content-type', 'application/json'], ['content-length', String(loginBody.length)]],
    body: loginBody,
    sourceAddress: `${ip}:5000`,
    upstream: { status: 401 },
  });

test('a login with its username in the body: vigil asks for the body and the upstream still gets it whole', async () => {
  const { vigil, sim } = await setup(true);
  const r = await login(sim);
  assert.equal(r.client.status, 401);
  assert.deepEqual(r.upstreamRequest?.body, loginBody);
  assert.equal(await vigil.metric('vigil_messages_total', { kind: 'request_body' }), 1);
  assert.equal(await vigil.metric('vigil_messages_total', { kind: 'response_headers' }), 1);
  assert.equal(await vigil.metric('vigil_input_problems_total', { kind: 'login-body-missing' }), 0);
  assert.equal(await vigil.metric('vigil_decisions_total'), 1, 'one decision per request, not one per phase');
});

test('without allow_mode_override the body never comes: counted, and the attempt is still scored', async () => {
  const { vigil, sim } = await setup(false);
  const r = await login(sim);
  assert.equal(r.client.status, 401);
  assert.deepEqual(r.upstreamRequest?.body, loginBody);
  assert.equal(await vigil.metric('vigil_messages_total', { kind: 'request_body' }), 0);
  assert.equal(await vigil.metric('vigil_input_problems_total', { kind: 'login-body-missing' }), 1);
  assert.equal(await vigil.metric('vigil_decisions_total'), 1);
});

test('static endpoints and allowlisted clients are not scored and skip the response round trip', async () => {
  const { vigil, sim } = await setup(true);
  const a = await sim.exchange({ method: 'GET', path: '/assets/app.js', sourceAddress: '203.0.113.7:1', upstream: { status: 200 } });
  assert.equal(a.client.status, 200);
  const b = await sim.exchange({ method: 'GET', path: '/api/orders/1', sourceAddress: '192.0.2.10:1', upstream: { status: 200 } });
  assert.equal(b.client.status, 200);
  assert.equal(await vigil.metric('vigil_unscored_total', { reason: 'static' }), 1);
  assert.equal(await vigil.metric('vigil_unscored_total', { reason: 'allowlist' }), 1);
  assert.equal(await vigil.metric('vigil_messages_total', { kind: 'response_headers' }), 0);
  // a scored request still sends its response headers
  await sim.exchange({ method: 'GET', path: '/api/orders/1', sourceAddress: '203.0.113.7:1', upstream: { status: 200 } });
  assert.equal(await vigil.metric('vigil_messages_total', { kind: 'response_headers' }), 1);
});

test('export endpoints with sample_body stream the response body to vigil, untouched', async () => {
  const { vigil, sim } = await setup(true);
  const chunks = [Buffer.alloc(1000, 1), Buffer.alloc(1000, 2), Buffer.alloc(1000, 3)];
  const r = await sim.exchange({ method: 'GET', path: '/api/export', sourceAddress: '203.0.113.7:1', upstream: { status: 200, body: chunks } });
  assert.equal(r.client.status, 200);
  assert.deepEqual(r.client.body, Buffer.concat(chunks));
  assert.equal(await vigil.metric('vigil_messages_total', { kind: 'response_body' }), 3);
  // compressed responses are not sampled
  await sim.exchange({ method: 'GET', path: '/api/export', sourceAddress: '203.0.113.7:1', upstream: { status: 200, headers: [['content-encoding', 'gzip']], body: chunks } });
  assert.equal(await vigil.metric('vigil_messages_total', { kind: 'response_body' }), 6, 'Envoy still streams it (the mode was set at request time)…');
});
