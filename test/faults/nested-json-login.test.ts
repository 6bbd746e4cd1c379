/**
 * Fault: a flood of deeply nested JSON login bodies. JSON.parse of a 1 MB `[[[[…` costs 120–190 ms on
 * vigil's only thread; the username is now found by a bounded forward scan (src/request/json-field.ts)
 * that stops at MAX_JSON_DEPTH. Through the real gRPC server and envoy-sim: the flood is decided (the
 * username unknown), counted once per body, logged once; a normal client beside it is answered by vigil
 * every time; flat logins still have their usernames read.
 *
 * The bound on the work is asserted where it is exact (the scanner's byte count, below and in
 * test/request/json-field.test.ts), never as a machine's speed: the message timeout here is 1 s, five
 * times Envoy's 200 ms, so only a stall of the old kind could trip it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import type { SimResult } from '../../src/envoy-sim/index.js';
import { compilePolicy } from '../../src/policy/load.js';
import { MAX_JSON_DEPTH, scanJsonField } from '../../src/request/json-field.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';

const POLICY = `format: 1
endpoints:
  - name: login
    match: { methods: [POST], path: /api/login }
    login:
      username: { json: username }
      failure: { status: [401] }
detectors:
  - name: brute-force-per-account
    type: slow-brute-force
    subject: username
    max_failures: 3
    action: throttle
    penalty: 10m
`;

/** A valid login body with the victim's username first, then a megabyte of nesting (JSON.parse reads it, slowly). */
const NESTED = Buffer.from(`{"username":"victim","x":${'['.repeat(500_000)}${']'.repeat(500_000)}}`);
const FLAT = Buffer.from(JSON.stringify({ username: 'victim', password: 'guess' }));
const FLOOD = 12;
const NORMAL = 40;

let vigil: TestVigil;
let sim: EnvoySim;
before(async () => {
  vigil = await startTestVigil({ clock: new ManualClock(Date.parse('2026-11-22T10:00:00Z')), policy: compilePolicy(POLICY, 'nested.yaml') });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], allow_mode_override: true, failure_mode_allow: true, message_timeout_ms: 1000 });
});
after(async () => {
  sim.close();
  await vigil.shutdown();
});

const login = (body: Buffer, ip: string) =>
  sim.exchange({
    method: 'POST',
    path: '/api/login',
    headers: [['content-type', 'application/json'], ['content-length', String(body.length)]],
    body,
    sourceAddress: `${ip}:5000`,
    upstream: { status: 401 },
  });

const decidedByVigil = (r: SimResult) => r.stats.failure_mode_allowed === 0 && r.stats.message_timeouts === 0 && r.stats.streams_failed === 0;

test('the scan of the flood’s body stops at the depth limit, a few dozen bytes in', () => {
  const r = scanJsonField(NESTED, ['username']);
  assert.equal(r.outcome, 'too-deep');
  assert.equal(r.value, null);
  // The object is the first level; the scan ends at the bracket that would be level MAX_JSON_DEPTH + 1.
  assert.equal(r.scanned, '{"username":"victim","x":'.length + MAX_JSON_DEPTH);
});

test('a nested-JSON login flood beside a normal client: every exchange decided, the flood counted and logged once, username unknown', async () => {
  const flood = Array.from({ length: FLOOD }, (_, i) => login(NESTED, `198.51.100.${i + 1}`));
  const normal = Array.from({ length: NORMAL }, (_, i) =>
    sim.exchange({ method: 'GET', path: `/api/items/${i}`, headers: [['x-api-key', 'normal-client']], sourceAddress: '203.0.113.9:4000', upstream: { status: 200 } }),
  );
  const [floodResults, normalResults] = await Promise.all([Promise.all(flood), Promise.all(normal)]);

  for (const r of normalResults) {
    assert.equal(r.client.status, 200);
    assert.ok(decidedByVigil(r), `normal exchange not decided by vigil: ${r.details} ${JSON.stringify(r.stats)}`);
  }
  for (const r of floodResults) {
    // Allowed by vigil (the upstream's own 401 reaches the client), the body passed on untouched.
    assert.equal(r.outcome, 'passed');
    assert.equal(r.client.status, 401);
    assert.ok(decidedByVigil(r), `flood exchange not decided by vigil: ${r.details} ${JSON.stringify(r.stats)}`);
    assert.equal(r.upstreamRequest?.body.length, NESTED.length);
  }
  assert.equal(await vigil.metric('vigil_input_problems_total', { kind: 'login-json-too-deep' }), FLOOD);
  assert.equal(await vigil.metric('vigil_decisions_total'), FLOOD + NORMAL);
  assert.equal(await vigil.metric('vigil_fail_open_total'), 0);
  const lines = vigil.logs.find('login body not read: username unknown');
  assert.equal(lines.length, 1, 'one log line for the whole flood');
  assert.equal(lines[0]!.kind, 'login-json-too-deep');
  assert.equal(lines[0]!.endpoint, 'login');
  assert.equal(JSON.stringify(lines[0]).includes('victim'), false, 'the body is never logged');
  await vigil.settled(2000);
  // The victim's username was never read: twelve failures, and no penalty on the account.
  assert.equal(await vigil.metric('vigil_penalties_set_total'), 0);
});

test('flat login bodies still have their usernames read: the account is throttled past its budget', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    const r = await login(FLAT, `192.0.2.${i + 1}`);
    statuses.push(r.client.status);
    await vigil.settled(2000);
  }
  assert.deepEqual(statuses.slice(0, 4), [401, 401, 401, 401], `statuses ${statuses.join(' ')}`);
  assert.equal(statuses[5], 429, `statuses ${statuses.join(' ')}`);
  assert.ok((await vigil.metric('vigil_penalties_set_total', { detector: 'brute-force-per-account' })) >= 1);
  assert.equal(await vigil.metric('vigil_input_problems_total', { kind: 'login-json-invalid' }), 0);
});
