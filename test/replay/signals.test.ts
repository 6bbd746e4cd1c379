/**
 * `vigil replay --decisions FILE --signals`: near misses made visible. The real CLI in a child process,
 * an access log written here, every evaluated signal on every line, allowed exchanges included.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { projectRoot } from '../../src/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'vigil-signals-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function replay(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'replay', ...args], {
      env: { ...process.env, VIGIL_KEY_SECRET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const POLICY = join(tmp, 'policy.yaml');
writeFileSync(
  POLICY,
  `format: 1
identity:
  order: [ip]
  client_ip:
    source: envoy
endpoints:
  - name: assets
    match: { path: /assets/** }
    static: true
detectors:
  - name: request-rate
    type: rate-baseline
    subject: identity
    bucket: 1m
    half_life: 30m
    threshold_z: 3
    min_count: 120
    variance_floor: 4
    prior_mean: 5
    prior_variance: 25
    prior_weight: 10
    state_ttl: 1d
    action: throttle
    penalty: 5m
`,
);

// 100 requests in 10 s from one address: busy, but under the detector's floor of 120 a minute. Then one static asset.
const LOG = join(tmp, 'access.jsonl');
const t0 = Date.UTC(2026, 10, 22, 10, 0, 0);
const line = (ms: number, path: string) =>
  JSON.stringify({ start_time: new Date(t0 + ms).toISOString(), method: 'GET', path, protocol: 'HTTP/1.1', response_code: 200, bytes_sent: 10, downstream_remote_address: '192.0.2.70:4000' });
writeFileSync(LOG, [...Array.from({ length: 100 }, (_, i) => line(i * 100, `/api/items/${i}`)), line(10_500, '/assets/app.js')].join('\n') + '\n');

interface Line {
  action: string;
  path: string;
  unscored: string | null;
  signals?: Array<Record<string, unknown>>;
}

const read = (file: string): Line[] => readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);

test('--signals: allowed exchanges carry every evaluated signal, with how near it came', async () => {
  const out = join(tmp, 'with.jsonl');
  const r = await replay([LOG, '--policy', POLICY, '--decisions', out, '--signals']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = read(out);
  assert.equal(lines.length, 101);
  assert.ok(lines.every((l) => l.action === 'allow'));
  const near = lines[99]!;
  assert.equal(near.signals?.length, 1, JSON.stringify(near));
  const s = near.signals[0]!;
  assert.deepEqual(Object.keys(s).sort(), ['action', 'baseline', 'detector', 'fired', 'score', 'shadow', 'signal', 'threshold', 'value', 'windowMs']);
  assert.equal(s['detector'], 'request-rate');
  assert.equal(s['value'], 100, 'the 100th request of the minute');
  assert.equal(s['threshold'], 3);
  assert.equal(s['fired'], false);
  assert.equal(s['action'], 'throttle');
  assert.equal(s['windowMs'], 60_000);
  assert.ok((s['score'] as number) > 3, `the z-score is past the threshold; only the floor held it back: ${JSON.stringify(s)}`);
  // The value grows with each request: the first line's is 1.
  assert.equal(lines[0]!.signals?.[0]?.['value'], 1);
  // A static asset is not scored: nothing evaluated, an empty list.
  const asset = lines[100]!;
  assert.equal(asset.unscored, 'static');
  assert.deepEqual(asset.signals, []);
});

test('without --signals the lines carry no signals; --signals needs --decisions and an in-process replay', async () => {
  const out = join(tmp, 'without.jsonl');
  const r = await replay([LOG, '--policy', POLICY, '--decisions', out]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(read(out).every((l) => !('signals' in l)));

  const alone = await replay([LOG, '--policy', POLICY, '--signals']);
  assert.equal(alone.code, 2);
  assert.match(alone.stderr, /--signals adds the evaluated signals to the --decisions lines: give --decisions FILE too/);
  const target = await replay([LOG, '--target', '127.0.0.1:1', '--decisions', out, '--signals']);
  assert.equal(target.code, 2);
  assert.match(target.stderr, /--signals needs an in-process replay: a running vigil \(--target\) does not send its signals/);
});
