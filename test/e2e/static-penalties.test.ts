/**
 * Static endpoints and standing penalties, over the real gRPC path: a caller throttled or blocked
 * elsewhere is throttled or blocked on static paths too (`penalties: enforce`, the default), unless
 * the endpoint says `penalties: ignore`; a challenge never covers a static path (the step-up page
 * needs its assets); callers with no penalty get static paths without any state.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { compilePolicy } from '../../src/policy/load.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';

let vigil: TestVigil | undefined;
let sim: EnvoySim | undefined;
afterEach(async () => {
  sim?.close();
  await vigil?.shutdown();
});

const policyText = (action: string, staticLine: string) => `format: 1
endpoints:
  - name: assets
    match: { path: /assets/** }
    static: true
${staticLine}
  - name: downloads
    match: { path: /downloads/** }
    static: true
    penalties: ignore
detectors:
  - { name: request-rate, type: rate-baseline, action: ${action}, penalty: 5m }
`;

async function start(action: string, staticLine = '') {
  const clock = new ManualClock(Date.parse('2026-11-02T10:00:00Z'));
  vigil = await startTestVigil({ clock, policy: compilePolicy(policyText(action, staticLine), 'static.yaml') });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
  const get = async (path: string, ip: string) => {
    const r = await sim!.exchange({ method: 'GET', path, headers: [], sourceAddress: `${ip}:1`, upstream: { status: 200 } });
    clock.advance(100);
    return r.client.status;
  };
  /** 130 API requests in 13 s: over the floor of 120 a minute, so a penalty is set at the 120th. */
  const flood = async (ip: string) => {
    const statuses: number[] = [];
    for (let i = 0; i < 130; i++) statuses.push(await get(`/api/items/${i}`, ip));
    return statuses;
  };
  return { get, flood };
}

test('a throttled caller is throttled on static paths too (the default), but not where the endpoint says penalties: ignore', async () => {
  const { get, flood } = await start('throttle');
  assert.equal(await get('/assets/app.js', '203.0.113.9'), 200, 'before any penalty: served');
  assert.equal((await flood('203.0.113.9')).indexOf(429), 119);
  assert.equal(await get('/assets/app.js', '203.0.113.9'), 429, 'the standing throttle covers the static path');
  assert.equal(await get('/downloads/report.pdf', '203.0.113.9'), 200, 'penalties: ignore');
  assert.equal(await get('/assets/app.js', '203.0.113.10'), 200, 'another caller is served');
  assert.equal(await vigil!.metric('vigil_unscored_total', { reason: 'static' }), 4, 'static requests are still not scored');
  assert.equal(await vigil!.metric('vigil_decisions_total', { action: 'throttle', detector: 'request-rate', shadow: 'false' }), 12);
});

test('a blocked caller is refused static paths', async () => {
  const { get, flood } = await start('block', '    penalties: enforce');
  await flood('203.0.113.9');
  assert.equal(await get('/assets/app.js', '203.0.113.9'), 403);
});

test('a challenge does not cover static paths: the step-up page needs its assets', async () => {
  const { get, flood } = await start('challenge');
  assert.equal((await flood('203.0.113.9')).indexOf(401), 119);
  assert.equal(await get('/api/items/1', '203.0.113.9'), 401);
  assert.equal(await get('/assets/app.js', '203.0.113.9'), 200);
});
