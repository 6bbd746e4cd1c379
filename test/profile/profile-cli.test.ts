/**
 * `vigil profile` as a user runs it: the real CLI in a child process on synthetic sites written as real
 * access logs. The policy it writes passes `vigil check-policy`; --json, --from, -o and the errors.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { projectRoot } from '../../src/paths.js';
import { formLoginSite, jsonApiSite } from './sites.js';

const tmp = mkdtempSync(join(tmpdir(), 'vigil-profile-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function vigil(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(projectRoot, 'bin', 'vigil'), ...args], {
      env: { ...process.env, VIGIL_KEY_SECRET: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

test('the policy goes to stdout, the report to stderr, and the policy passes vigil check-policy', async () => {
  const site = formLoginSite(tmp, true);
  const r = await vigil(['profile', site]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^# Learned by `vigil profile` from .*form-login-attacked\.log: 180 exchanges, 31 callers\./);
  assert.match(r.stdout, /failure: \{ status: \[200\] \}/);
  // The report: endpoints with evidence, thresholds, changes and the cost diff naming the guesser.
  assert.match(r.stderr, /account-signin-login: login, POST \/account\/signin — 120 requests, 31 callers/);
  assert.match(r.stderr, /brute-force-per-caller\.max_failures: kept 50; failed logins per 1d: 2 \/ 60 \/ 60/);
  assert.match(r.stderr, /base policy: {4}0 flagged, 0 acted on\n {2}learned policy: 1 flagged, 1 acted on/);
  assert.match(r.stderr, /\+ ip:[0-9a-f]{32} \(203\.0\.113\.66, 60 requests\): base allowed; learned throttle \(brute-force-per-caller; from its request 52\)/);
  // Not a terminal: no progress lines.
  assert.doesNotMatch(r.stderr, /vigil profile: reading/);
  const file = join(tmp, 'learned.yaml');
  writeFileSync(file, r.stdout);
  const check = await vigil(['check-policy', file]);
  assert.equal(check.code, 0, check.stderr);
  assert.match(check.stdout, /valid/);
});

test('-o FILE writes the policy there and --json prints the report as JSON', async () => {
  const out = join(tmp, 'api.yaml');
  const r = await vigil(['profile', '--json', '--no-cost', '-o', out, jsonApiSite(tmp)]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const doc = JSON.parse(r.stdout) as { exchanges: number; endpoints: Array<{ role: string; paths: string[] }>; thresholds: Array<{ detector: string; recommended: number }>; policy: string; cost: unknown };
  assert.equal(doc.exchanges, 108);
  assert.deepEqual(doc.endpoints.map((e) => [e.role, e.paths[0]]).sort(), [['login', '/api/v1/login'], ['object_read', '/api/v1/orders/{id}']]);
  assert.equal(doc.thresholds.find((t) => t.detector === 'request-rate')!.recommended, 30);
  assert.equal(doc.cost, null);
  assert.equal(readFileSync(out, 'utf8'), doc.policy);
  const check = await vigil(['check-policy', out]);
  assert.equal(check.code, 0, check.stderr);
});

test('--from keeps your endpoints, adds what none of them matches, and shows the change as a diff', async () => {
  const mine = join(tmp, 'mine.yaml');
  writeFileSync(
    mine,
    [
      'format: 1',
      'endpoints:',
      '  - name: signin',
      '    match: { methods: [POST], path: /account/signin }',
      '    login: { username: { form: email }, failure: { status: [200] } }',
      'detectors:',
      '  - name: guesses',
      '    type: slow-brute-force',
      '    subject: identity',
      '    window: 24h',
      '    max_failures: 40',
      '    action: throttle',
      '  - name: rate',
      '    type: rate-baseline',
      '    min_count: 200',
      '    action: throttle',
      '',
    ].join('\n'),
  );
  const site = formLoginSite(tmp);
  const out = join(tmp, 'mine-learned.yaml');
  const r = await vigil(['profile', '--from', mine, '-o', out, site]);
  assert.equal(r.code, 0, r.stderr);
  const text = readFileSync(out, 'utf8');
  // Their rule is kept as written (username field included), not duplicated.
  assert.match(text, /- name: signin\n\s+match: \{ methods: \[POST\], path: \/account\/signin \}/);
  assert.doesNotMatch(text, /account-signin-login/);
  assert.match(r.stderr, /= endpoint account-signin-login \(login\): already your rule "signin"/);
  // Thresholds proposed on their detectors: 2 × p99 of failures is under the floor 5, rate 2 × 3 → the floor 30.
  assert.match(r.stderr, /~ detector guesses\.max_failures: 40 → 5/);
  assert.match(r.stderr, /~ detector rate\.min_count: 200 → 30/);
  assert.match(r.stderr, /Proposed change to .*mine\.yaml:\n(.*\n)*- {5}max_failures: 40\n\+ {5}max_failures: 5 # learned: failed logins per 1d/);
  const check = await vigil(['check-policy', out]);
  assert.equal(check.code, 0, check.stderr);
});

test('unreadable input: a clear error and exit 2, nothing on stdout', async () => {
  const missing = await vigil(['profile', join(tmp, 'nope.log')]);
  assert.equal(missing.code, 2);
  assert.equal(missing.stdout, '');
  assert.match(missing.stderr, /^vigil profile: .*nope\.log: no such file\n$/);
  const junk = join(tmp, 'junk.log');
  writeFileSync(junk, 'this is not an access log\nnor is this\n');
  const bad = await vigil(['profile', junk]);
  assert.equal(bad.code, 2);
  assert.equal(bad.stdout, '');
  assert.match(bad.stderr, /junk\.log/);
  const badFrom = await vigil(['profile', '--from', join(tmp, 'no-policy.yaml'), junk]);
  assert.equal(badFrom.code, 2);
  assert.match(badFrom.stderr, /cannot use this policy/);
  const usage = await vigil(['profile']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /no input FILE given/);
});

test('--help tells what it does and vigil --help lists it', async () => {
  const help = await vigil(['profile', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: vigil profile \[options\] FILE\.\.\./);
  for (const opt of ['--output', '--from', '--json', '--no-cost', '--top', '--min-read', '--quiet']) assert.ok(help.stdout.includes(opt), opt);
  const top = await vigil(['--help']);
  assert.match(top.stdout, /profile {8}learn a site's policy/);
});
