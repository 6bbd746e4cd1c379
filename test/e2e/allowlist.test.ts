/**
 * Allowlisted identities end to end: `vigil pseudonym` computes what a policy lists, and a flood from
 * that identity is never scored while the same flood from anyone else is throttled.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { projectRoot } from '../../src/paths.js';
import { compilePolicy } from '../../src/policy/load.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';

const SECRET = 'test-secret-0123456789abcdef'; // the one startTestVigil uses

function pseudonym(kind: string, value: string, secret = SECRET): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'pseudonym', '--kind', kind], { env: { ...process.env, VIGIL_KEY_SECRET: secret } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
    child.stdin.end(value);
  });
}

let vigil: TestVigil | undefined;
let sim: EnvoySim | undefined;
afterEach(async () => {
  sim?.close();
  await vigil?.shutdown();
});

test('vigil pseudonym: stdin only, the running secret, clear errors', async () => {
  const a = await pseudonym('api-key', 'monitor-key-1\n');
  assert.equal(a.code, 0);
  assert.match(a.out, /^api-key:[0-9a-f]{32}\n$/);
  assert.equal((await pseudonym('api-key', 'monitor-key-1')).out, a.out, 'a trailing newline is not part of the value');
  assert.notEqual((await pseudonym('api-key', 'monitor-key-1', 'another-secret-0123456789')).out, a.out);
  assert.equal((await pseudonym('user', '  Alice@Example.com')).out, (await pseudonym('user', 'alice@example.com')).out);
  assert.equal((await pseudonym('ip', 'not-an-ip')).code, 1);
  assert.equal((await pseudonym('ip', '::FFFF:1.2.3.4')).out, (await pseudonym('ip', '1.2.3.4')).out);
  const bad = await pseudonym('api-key', '', 'short');
  assert.equal(bad.code, 2);
  assert.match(bad.err, /VIGIL_KEY_SECRET/);
});

test('an allowlisted identity is never scored; the same traffic from another identity is throttled', async () => {
  const monitor = (await pseudonym('api-key', 'monitor-key-1')).out.trim();
  const policy = compilePolicy(
    `format: 1
allow:
  identities: ["${monitor}"]
detectors:
  - { name: request-rate, type: rate-baseline, action: throttle }
`,
    'allow.yaml',
  );
  const clock = new ManualClock(Date.parse('2026-11-02T10:00:00Z'));
  vigil = await startTestVigil({ clock, policy });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
  const flood = async (key: string) => {
    const statuses: number[] = [];
    for (let i = 0; i < 130; i++) {
      const r = await sim!.exchange({ method: 'GET', path: `/api/items/${i}`, headers: [['x-api-key', key]], sourceAddress: '203.0.113.9:1', upstream: { status: 200 } });
      statuses.push(r.client.status);
      clock.advance(100);
    }
    return statuses;
  };
  assert.ok((await flood('monitor-key-1')).every((s) => s === 200));
  assert.equal(await vigil.metric('vigil_unscored_total', { reason: 'allowlist' }), 130);
  const other = await flood('someone-else');
  assert.equal(other.indexOf(429), 119, 'the same flood from a scored identity is throttled at its 120th request');
});
