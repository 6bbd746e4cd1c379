/**
 * VIGIL_LOG_SIGNALS over the real gRPC path: decision lines carry every evaluated signal, and an
 * allowed caller that comes near a threshold is logged at each new closest approach (at most six
 * lines a minute); off by default, when allowed requests write nothing.
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

// Newcomers' prior: mean 5, variance 25 (σ 5), so the z-score of the c-th request of a minute is (c − 5) / 5.
const POLICY = `format: 1
detectors:
  - { name: request-rate, type: rate-baseline, action: throttle, penalty: 5m, prior_mean: 5, prior_variance: 25, learn_population: false }
`;

async function flood(env: Record<string, string>): Promise<Array<Record<string, unknown>>> {
  const clock = new ManualClock(Date.parse('2026-11-02T10:00:00Z'));
  vigil = await startTestVigil({ clock, policy: compilePolicy(POLICY, 'near.yaml'), env });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
  const statuses: number[] = [];
  for (let i = 0; i < 125; i++) {
    const r = await sim.exchange({ method: 'GET', path: `/api/items/${i}`, headers: [], sourceAddress: '203.0.113.9:1', upstream: { status: 200 } });
    statuses.push(r.client.status);
    clock.advance(100);
  }
  assert.equal(statuses.indexOf(429), 119, 'throttled at the 120th request (min_count)');
  return vigil.logs.find('decision');
}

type LoggedSignal = { detector: string; value: number; threshold: number; score: number; fired: boolean };

test('VIGIL_LOG_SIGNALS=true: near misses of an allowed caller are logged with their signals, each nearer than the last', async () => {
  const lines = await flood({ VIGIL_LOG_SIGNALS: 'true' });
  const allowed = lines.filter((l) => l['action'] === 'allow');
  // z = (c − 5)/5 reaches 1.5, 2.25, 3, 3.75, 4.5 and 5.25 (half the threshold of 3, then each quarter
  // more, up to 1.75 ×) at the 13th, 17th, 20th, 24th, 28th and 32nd requests; nothing after that
  // within the minute, however near it came.
  assert.deepEqual(
    allowed.map((l) => (l['signals'] as LoggedSignal[])[0]!.value),
    [13, 17, 20, 24, 28, 32],
  );
  const first = (allowed[0]!['signals'] as LoggedSignal[])[0]!;
  assert.deepEqual(first, { detector: 'request-rate', signal: 'rate-z', value: 13, baseline: 5, threshold: 3, score: 1.6, windowMs: 60_000, fired: false, action: 'throttle', shadow: false });
  assert.equal(allowed[0]!['enforced'], true);
  assert.deepEqual(allowed[0]!['reasons'], []);
  const throttle = lines.find((l) => l['action'] === 'throttle')!;
  const fired = (throttle['signals'] as LoggedSignal[])[0]!;
  assert.equal(fired.fired, true);
  assert.equal(fired.value, 120);
});

test('by default allowed requests are not logged and decision lines carry no signals', async () => {
  const lines = await flood({});
  assert.equal(lines.filter((l) => l['action'] === 'allow').length, 0);
  const throttle = lines.find((l) => l['action'] === 'throttle')!;
  assert.ok(!('signals' in throttle), JSON.stringify(throttle));
});
