/**
 * A caller already acted on while a stronger shadow detector fires on it: the replay must report what
 * was enforced (the action the client got) and, alongside, what was shadowed. In process (full
 * decisions) and with --target (the wire alone), on access logs written here.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { compilePolicy } from '../../src/policy/load.js';
import { decisionLine } from '../../src/replay/decision-line.js';
import { parseExpectations, runChecks } from '../../src/replay/expect.js';
import { humanReport } from '../../src/replay/human-report.js';
import { runReplay } from '../../src/replay/run-replay.js';
import { startTestVigil } from '../helpers/vigil.js';

const tmp = mkdtempSync(join(tmpdir(), 'vigil-shadow-truth-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const FLOODER = '192.0.2.60';
const SHOPPER = '192.0.2.61';

/** n requests from one address, every 100 ms from 10:00:00.000 (all in one minute's bucket), as Envoy JSON access log lines. */
function envoyLog(ip: string, n: number, offsetMs = 0): string[] {
  const t0 = Date.UTC(2026, 10, 22, 10, 0, 0);
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      start_time: new Date(t0 + offsetMs + i * 100).toISOString(),
      method: 'GET',
      path: `/api/items?page=${i}`,
      protocol: 'HTTP/1.1',
      response_code: 200,
      bytes_sent: 512,
      user_agent: 'curl/8.5.0',
      authority: 'shop.example',
      downstream_remote_address: `${ip}:40000`,
    }),
  );
}

function writeLog(name: string): string {
  const file = join(tmp, name);
  // The flooder's 200 requests in 20 s; a shopper's 5 spread among them.
  const lines = [...envoyLog(FLOODER, 200), ...envoyLog(SHOPPER, 5, 50)];
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

const rate = (name: string, minCount: number, action: string, extra: string) => `
  - name: ${name}
    type: rate-baseline
    subject: identity
    bucket: 1m
    half_life: 30m
    threshold_z: 3
    min_count: ${minCount}
    variance_floor: 4
    prior_mean: 5
    prior_variance: 25
    prior_weight: 10
    state_ttl: 1d
    action: ${action}
${extra}`;

const policyText = (detectors: string) => `format: 1
identity:
  order: [jwt, api-key, session, ip]
  client_ip:
    source: envoy
detectors:${detectors}`;

test('in process: a penalised caller stays throttled in the record when a stronger shadow detector fires', async () => {
  // min_count N fires at the Nth request of the minute: throttled (a 5-minute penalty) from its 120th
  // request; a shadow block detector fires from its 150th.
  const policy = compilePolicy(
    policyText(rate('flood-throttle', 120, 'throttle', '    penalty: 5m\n') + rate('flood-block', 150, 'block', '    penalty: 5m\n    shadow: true\n')),
    'shadow-truth.yaml',
  );
  const { records, summary } = await runReplay({ files: [writeLog('inproc.jsonl')], mode: { kind: 'in-process', policy, shadow: false } });
  const flood = records.filter((r) => r.clientIp === FLOODER);
  assert.equal(flood.length, 200);

  // Every request from the 120th was throttled: that is what the client got.
  const throttled = flood.filter((r) => r.outcome.by === 'vigil' && r.outcome.status === 429).length;
  assert.equal(throttled, 81);
  assert.deepEqual(
    flood.map((r) => r.action),
    [...Array<string>(119).fill('allow'), ...Array<string>(81).fill('throttle')],
  );
  const last = flood[199]!;
  assert.equal(last.enforced, true);
  assert.deepEqual(last.detectors, ['flood-throttle']);
  assert.equal(last.shadowAction, 'block');
  assert.deepEqual(last.shadowDetectors, ['flood-block']);
  assert.equal(flood.filter((r) => r.shadowAction === 'block').length, 51);

  // The decision line says both.
  const line = JSON.parse(decisionLine(last)) as Record<string, unknown>;
  assert.equal(line['action'], 'throttle');
  assert.equal(line['enforced'], true);
  assert.equal(line['shadowed'], true);
  assert.equal(line['shadowAction'], 'block');
  assert.deepEqual(line['detectors'], ['flood-throttle']);
  assert.deepEqual(line['shadowDetectors'], ['flood-block']);

  // Summary: enforced throttles are all 81; the 51 shadowed blocks are counted as shadowed; each
  // exchange once under its strongest decision in `actions`.
  assert.equal(summary.enforced.throttle, 81);
  assert.equal(summary.enforced.block, 0);
  assert.equal(summary.shadowed.block, 51);
  assert.equal(summary.actions.throttle, 30);
  assert.equal(summary.actions.block, 51);
  assert.deepEqual(summary.detectors, { 'flood-throttle': { throttle: 81 }, 'flood-block': { block: 51 } });
  const caller = summary.flagged.find((f) => f.clientIp === FLOODER)!;
  assert.equal(caller.strongest, 'block');
  assert.equal(caller.strongestEnforced, 'throttle');
  assert.equal(caller.enforced.throttle, 81);
  assert.equal(caller.shadowed.block, 51);
  assert.deepEqual(caller.detectors, ['flood-block', 'flood-throttle']);
  assert.equal(summary.flagged.length, 1, 'the shopper is left alone');

  const report = humanReport(summary);
  assert.match(report, /enforced: throttle 81; shadowed: block 51/);
  assert.match(report, /ip:\S+ from 192\.0\.2\.60: block \(shadowed; enforced: throttle\); first throttle at its request 120/);

  // --expect: the throttle is found by its own detector, though a stronger shadow decision came later.
  const results = runChecks(
    parseExpectations(
      `format: 1\nchecks:\n  - clients: [${FLOODER}]\n    reaches: throttle\n    within: 120\n    by: [flood-throttle]\n  - clients: [${FLOODER}]\n    reaches: block\n    by: [flood-block]\n`,
      'e.yaml',
    ),
    records,
  );
  assert.deepEqual(
    results.map((r) => [r.ok, r.detail]),
    [
      [true, `reached throttle: ${FLOODER} at its request 120`],
      [true, `reached block: ${FLOODER} at its request 150`],
    ],
  );
});

test('--target: the enforced tag and the shadowed throttle are both read off the wire', async () => {
  // Tagged (enforced) from the 120th request; a shadow throttle detector from the 150th: the upstream
  // gets x-vigil-action: tag and x-vigil-shadow-action: throttle on the same request.
  const policy = compilePolicy(
    policyText(rate('flood-tag', 120, 'tag', '') + rate('flood-throttle', 150, 'throttle', '    penalty: 5m\n    shadow: true\n')),
    'shadow-truth-target.yaml',
  );
  // vigil's clock stands still: all 200 requests fall in one minute's bucket however slowly they come.
  const vigil = await startTestVigil({ policy, clock: new ManualClock(Date.UTC(2026, 10, 22, 10, 0, 0)) });
  try {
    const { records, summary } = await runReplay({
      files: [writeLog('target.jsonl')],
      mode: { kind: 'target', target: vigil.target, speed: Infinity, messageTimeoutMs: 60_000 },
    });
    const flood = records.filter((r) => r.clientIp === FLOODER);
    assert.equal(flood.length, 200);
    assert.equal(records.filter((r) => r.action === 'error').length, 0);
    assert.deepEqual(
      flood.map((r) => `${r.action}/${r.shadowAction ?? '-'}`),
      [...Array<string>(119).fill('allow/-'), ...Array<string>(30).fill('tag/-'), ...Array<string>(51).fill('tag/throttle')],
    );
    assert.deepEqual(flood[199]!.detectors, ['flood-tag']);
    assert.deepEqual(flood[199]!.shadowDetectors, ['flood-throttle']);
    assert.equal(summary.enforced.tag, 81);
    assert.equal(summary.shadowed.throttle, 51);
    assert.deepEqual(summary.detectors, { 'flood-tag': { tag: 81 }, 'flood-throttle': { throttle: 51 } });
  } finally {
    await vigil.shutdown();
  }
});
