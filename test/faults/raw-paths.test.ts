/**
 * Fault: raw path segments in decision logs. Paths carry tokens and personal data (`/reset/<token>`,
 * `/users/<email>`); vigil's template kept any segment its id heuristics did not recognise. Decision
 * logs now carry the matched rule's pattern or a scrubbed template (src/obs/log-path.ts), and the path
 * itself only with VIGIL_LOG_RAW_PATHS=true. `vigil replay --decisions` keeps the captured path: the
 * capture is the user's own (docs/replay.md).
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { REDACTED, loggedTemplate, scrub } from '../../src/obs/log-path.js';
import { matchEndpoint } from '../../src/policy/endpoints.js';
import { compilePolicy } from '../../src/policy/load.js';
import { decisionLine } from '../../src/replay/decision-line.js';
import type { ReplayRecord } from '../../src/replay/record.js';
import { normaliseEndpoint } from '../../src/request/endpoint.js';
import { parseSettings } from '../../src/settings.js';
import { predictableRate } from '../helpers/policy-files.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';

const POLICY = `format: 1
endpoints:
  - name: reset
    match: { methods: [GET, POST], path: ["/reset/{token}", "/api/*/reset/{token}"] }
  - name: api
    match: { path: "/api/**" }
detectors:
${predictableRate('flood', 'throttle')}`;
const policy = compilePolicy(POLICY, 'paths.yaml');

/** A short letters-and-digits token (no id heuristic fires on it) and an e-mail address. */
const TOKEN = 'Zm9vYmFyYmF6cXV4';
const EMAIL = 'alice.smith@example.com';

const logged = (method: string, path: string) => {
  const endpoint = normaliseEndpoint(method, path);
  return loggedTemplate(endpoint, matchEndpoint(policy.endpoints, endpoint).rule);
};

test('the logged template: the matched pattern, else vigil’s template scrubbed of anything not a plain word', () => {
  assert.equal(logged('GET', `/reset/${TOKEN}`), '/reset/{token}');
  assert.equal(logged('POST', `/api/v2/reset/${TOKEN}?x=1`), '/api/v2/reset/{token}', 'a * glob shows the segment, scrubbed');
  assert.equal(logged('GET', `/api/users/${EMAIL}/orders/42`), `/api/users/${REDACTED}/orders/{id}`);
  assert.equal(logged('GET', `/users/${EMAIL}`), `/users/${REDACTED}`);
  assert.equal(logged('GET', `/users/${encodeURIComponent(EMAIL)}`), `/users/${REDACTED}`);
  assert.equal(logged('GET', `/files/${TOKEN}/download`), `/files/${REDACTED}/download`);
  assert.equal(logged('GET', '/orders/550e8400-e29b-41d4-a716-446655440000'), '/orders/{id}');
  assert.equal(logged('GET', '/'), '/');
  assert.equal(logged('GET', '/.well-known/openid-configuration'), '/.well-known/openid-configuration');
  for (const word of ['api', 'v1', 'v2beta', 'oauth2', 'favicon.ico', 'user-profile', 'getUser']) assert.equal(scrub(word), word);
  for (const secret of [TOKEN, EMAIL, 'a%40b', 'x'.repeat(25), 'abc12345', '', '---']) assert.equal(scrub(secret), REDACTED, secret);
});

let vigil: TestVigil | undefined;
let sim: EnvoySim | undefined;
afterEach(async () => {
  sim?.close();
  await vigil?.shutdown();
  vigil = sim = undefined;
});

/** 25 requests in a minute from each of two API keys: the 21st and later are throttled and logged. */
async function flood(env: Record<string, string> = {}) {
  vigil = await startTestVigil({ env, clock: new ManualClock(Date.parse('2026-11-22T10:00:00Z')), policy });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], message_timeout_ms: 2000 });
  for (const [key, path] of [['k-reset', `/reset/${TOKEN}`], ['k-users', `/users/${EMAIL}?ref=mail`]] as const) {
    for (let i = 0; i < 25; i++) await sim.exchange({ method: 'GET', path, headers: [['x-api-key', key]], sourceAddress: '203.0.113.7:1000', upstream: { status: 200 } });
  }
  return vigil.logs.find('decision');
}

test('by default no log line carries the token or the e-mail address; decision lines carry the template', async () => {
  const decisions = await flood();
  assert.equal(decisions.length, 2, 'five throttled requests per key, one line each (repeats are thinned)');
  assert.deepEqual([...new Set(decisions.map((l) => l.template))].sort(), ['/reset/{token}', `/users/${REDACTED}`]);
  assert.ok(decisions.every((l) => !('path' in l)));
  const all = vigil!.logs.lines.map((l) => JSON.stringify(l)).join('\n');
  for (const secret of [TOKEN, EMAIL, encodeURIComponent(EMAIL), 'ref=mail']) assert.equal(all.includes(secret), false, `${secret} reached the log`);
});

test('VIGIL_LOG_RAW_PATHS=true: decision lines also carry the normalised path (no query)', async () => {
  assert.equal(parseSettings({}).logRawPaths, false);
  const decisions = await flood({ VIGIL_LOG_RAW_PATHS: 'true' });
  assert.equal(decisions.length, 2);
  assert.deepEqual([...new Set(decisions.map((l) => l.path))].sort(), [`/reset/${TOKEN}`, `/users/${EMAIL}`]);
  assert.deepEqual([...new Set(decisions.map((l) => l.template))].sort(), ['/reset/{token}', `/users/${REDACTED}`]);
  assert.equal(JSON.stringify(vigil!.logs.lines).includes('ref=mail'), false, 'never the query');
});

test('replay’s --decisions lines keep the captured path: the capture and the file are the user’s own', () => {
  const record: ReplayRecord = {
    i: 0,
    tsUs: Date.parse('2026-11-22T10:00:00Z') * 1000,
    origin: 'shop.pcap conn 1',
    clientIp: '203.0.113.7',
    identity: null,
    method: 'GET',
    path: `/reset/${TOKEN}`,
    template: `/reset/${TOKEN}`,
    endpoint: 'reset',
    status: 200,
    action: 'allow',
    enforced: false,
    detectors: [],
    shadowAction: null,
    shadowDetectors: [],
    reasons: [],
    unscored: null,
    failOpen: null,
    error: null,
    outcome: { status: 200, by: 'upstream' },
  };
  assert.equal(JSON.parse(decisionLine(record)).path, `/reset/${TOKEN}`);
});
