/**
 * `vigil replay` end to end, as a user runs it: the real CLI in a child process, real capture and log
 * files made by the project (test/replay/fixtures/), the real gRPC path into vigil.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { projectRoot } from '../../src/paths.js';
import type { ReplaySummary } from '../../src/replay/summary.js';
import { freePort } from '../helpers/free-port.js';
import { startTestVigil } from '../helpers/vigil.js';
import type { TestVigil } from '../helpers/vigil.js';

const fixtures = join(projectRoot, 'test', 'replay', 'fixtures');
const SHOP = join(fixtures, 'recorded', 'loopback-shop.pcap');
const SHORT = join(fixtures, 'recorded', 'any-shop.pcap');
const EXPECT = join(fixtures, 'recorded', 'expect.yaml');
const tmp = mkdtempSync(join(tmpdir(), 'vigil-replay-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function replay(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'replay', ...args], {
      env: { ...process.env, VIGIL_KEY_SECRET: '', ...env },
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

const noStack = (text: string) => assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+/, 'no stack trace');

test('the recorded shop capture: attackers caught as expected, shoppers left alone (--expect gates CI)', async () => {
  const decisions = join(tmp, 'shop.jsonl');
  const r = await replay([SHOP, '--expect', EXPECT, '--decisions', decisions]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /^vigil replay: 1,253 requests, 1,253 responses, 1,253 exchanges replayed\n/);
  assert.match(r.stdout, /flagged: 4 of \d+ callers/);
  assert.match(r.stdout, /expectations: all 7 passed\n$/);
  assert.match(r.stdout, /\(\d[\d,]* exchanges\/s\)/, 'the replay reports its own speed');

  const lines = readFileSync(decisions, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 1253);
  const first = lines.find((l) => l['clientIp'] === '127.0.0.50' && l['action'] === 'throttle')!;
  assert.equal(first['enforced'], true);
  assert.equal(first['shadowed'], false);
  assert.equal(first['method'], 'GET');
  assert.equal(first['template'], '/api/products');
  assert.equal(first['status'], 200, 'the captured status');
  assert.deepEqual(first['outcome'], { status: 429, by: 'vigil' }, 'what the client got in the replay');
  assert.match(String((first['identity'] as { id: string }).id), /^ip:[0-9a-f]{32}$/);
  const reason = (first['reasons'] as Array<Record<string, unknown>>).find((x) => x['detector'] === 'request-rate')!;
  for (const k of ['value', 'baseline', 'threshold', 'windowMs']) assert.equal(typeof reason[k], 'number', k);
  assert.match(String(first['time']), /^2026-11-22T13:35:\d\d\.\d{3}Z$/);
  assert.ok(lines.every((l) => typeof l['i'] === 'number' && typeof l['origin'] === 'string' && 'reasons' in l));

  // Same input, same policy: the same decisions, byte for byte.
  const again = join(tmp, 'shop-again.jsonl');
  const r2 = await replay([SHOP, '--decisions', again]);
  assert.equal(r2.code, 0);
  assert.equal(readFileSync(again, 'utf8'), readFileSync(decisions, 'utf8'));
});

test('a failing expectation exits 1 and says what happened instead', async () => {
  const file = join(tmp, 'wrong.yaml');
  writeFileSync(
    file,
    'format: 1\nchecks:\n  - name: alice is throttled\n    clients: [127.0.0.10]\n    reaches: throttle\n  - name: flood caught in 100\n    clients: [127.0.0.50]\n    reaches: throttle\n    within: 100\n',
  );
  const r = await replay([SHORT, '--expect', file]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /FAIL alice is throttled: 127\.0\.0\.10 never reached throttle in its 9 requests \(strongest: allow\)/);
  assert.match(r.stdout, /FAIL flood caught in 100: 127\.0\.0\.50 never reached throttle in its 80 requests/);
  assert.match(r.stdout, /expectations: 2 of 2 failed\n$/);
});

test('--json: the summary, with flagged callers and when they were first flagged', async () => {
  const r = await replay([SHOP, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as ReplaySummary;
  assert.equal(s.requests, 1253);
  assert.equal(s.responses, 1253);
  assert.equal(s.exchanges, 1253);
  assert.equal(s.problems.total, 0);
  assert.equal(Object.values(s.actions).reduce((a, b) => a + b, 0), 1253);
  assert.ok(s.actions.throttle > 0 && s.actions.tag > 0 && s.actions.error === 0);
  assert.deepEqual(s.flagged.map((f) => f.clientIp).sort(), ['127.0.0.50', '127.0.0.51', '127.0.0.52', '127.0.0.53']);
  const flood = s.flagged.find((f) => f.clientIp === '127.0.0.50')!;
  assert.equal(flood.identityKind, 'ip');
  assert.equal(flood.requests, 350);
  assert.equal(flood.firstFlagged.action, 'throttle');
  assert.ok(flood.firstFlagged.request > 100 && flood.firstFlagged.request <= 150, String(flood.firstFlagged.request));
  assert.ok(flood.firstFlagged.index >= flood.firstFlagged.request - 1);
  assert.match(flood.firstFlagged.time, /^2026-11-22T13:35:2\d\.\d{3}Z$/);
  // request-rate throttles it first; once penalised it is suspect (thresholds ÷ up to 3), and its 350
  // requests to one page pass page-rate's tightened 750 in 10 minutes too.
  assert.deepEqual(flood.detectors, ['page-rate', 'request-rate']);
  assert.equal(flood.flaggedRequests, flood.actions.throttle);
  const enumerator = s.flagged.find((f) => f.clientIp === '127.0.0.52')!;
  assert.equal(enumerator.identityKind, 'session', 'identity resolved as in production: the session cookie');
  assert.ok(enumerator.detectors.includes('object-enumeration'));
  assert.ok(s.timing.exchangesPerSecond > 0);
  assert.equal(s.inputs[0]!.kind, 'pcap');
});

test('--shadow: the same attackers are found, nothing is enforced', async () => {
  const r = await replay([SHOP, '--json', '--shadow']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as ReplaySummary;
  assert.equal(s.shadow, true);
  assert.deepEqual(s.enforced, { allow: 0, tag: 0, throttle: 0, challenge: 0, block: 0, error: 0 });
  assert.ok(s.shadowed.throttle > 0);
  for (const ip of ['127.0.0.50', '127.0.0.51', '127.0.0.52', '127.0.0.53']) assert.ok(s.flagged.some((f) => f.clientIp === ip), ip);
  assert.ok(!s.flagged.some((f) => /^127\.0\.0\.1\d$/.test(f.clientIp)), 'no shopper flagged');
});

test('a Linux cooked (SLL2) capture, several inputs merged, access logs', async () => {
  // envoy-access.jsonl is half malformed on purpose (5 of its 11 lines are requests): --min-read lets it in.
  const r = await replay([SHORT, join(fixtures, 'logs', 'combined-valid.txt'), join(fixtures, 'logs', 'envoy-access.jsonl'), '--json', '--min-read', '40']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as ReplaySummary;
  assert.deepEqual(
    s.inputs.map((i) => i.kind),
    ['pcap', 'combined-log', 'envoy-json-log'],
  );
  assert.equal(s.inputs[0]!.requests, 240);
  assert.equal(s.requests, s.inputs.reduce((n, i) => n + i.requests, 0));
  assert.equal(s.exchanges, s.inputs.reduce((n, i) => n + i.exchanges, 0));
});

test('a truncated capture gives a partial result and counts the problem', async () => {
  const r = await replay([join(fixtures, 'captures', 'truncated.pcap'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as ReplaySummary;
  assert.ok(s.requests > 0);
  assert.equal(s.problems.byKind['truncated-record'], 1);
  assert.match(s.problems.first[0]!.detail, /truncated\.pcap/);
});

test('input of which nothing, or too little, could be read: exit 2 saying how much and why, before anything is played', async () => {
  const cut = join(tmp, 'cut.pcap');
  writeFileSync(cut, readFileSync(SHORT).subarray(0, 30));
  const good = '192.0.2.10 - - [17/May/2015:10:05:03 +0000] "GET /index.html HTTP/1.1" 200 5120 "-" "curl/8"\n';
  const rejected = 'www.example - - [17/May/2015:10:05:03 +0000] "GET /index.html HTTP/1.1" 200 5120 "-" "curl/8"\n';
  const none = join(tmp, 'none.log');
  writeFileSync(none, rejected.repeat(200));
  const little = join(tmp, 'little.log');
  writeFileSync(little, good.repeat(2) + rejected.repeat(98));
  const cases: Array<[string[], RegExp]> = [
    [[cut], /cut\.pcap: nothing could be read: no HTTP request in this pcap capture; problems: truncated-record 1/],
    [[none], /none\.log: nothing could be read: none of its 200 lines is a request vigil can replay; problems: not-an-ip 200/],
    [[little], /little\.log: only 2 % of its lines could be read \(2 of 100\), less than the 50 % replay needs \(--min-read\)/],
    [[SHORT, little], /little\.log: only 2 %/],
    [['/dev/zero'], /\/dev\/zero: is not a regular file or a pipe/],
    [[little, '--min-read', '101'], /--min-read must be a percentage from 0 to 100/],
  ];
  for (const [args, message] of cases) {
    const r = await replay(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stdout, '', 'nothing was played');
    noStack(r.stderr);
  }
  // An operator who knows the log is mostly noise can lower the share; "nothing" is never accepted.
  const lowered = await replay([little, '--min-read', '2', '--json']);
  assert.equal(lowered.code, 0, lowered.stderr);
  assert.equal((JSON.parse(lowered.stdout) as ReplaySummary).exchanges, 2);
  assert.equal((await replay([none, '--min-read', '0'])).code, 2);
});

test('bad input and bad arguments: a message and exit 2, never a stack trace', async () => {
  const cases: Array<[string[], RegExp]> = [
    [[join(fixtures, 'logs', 'random-bytes.bin')], /random-bytes\.bin: /],
    [[join(tmp, 'missing.pcap')], /missing\.pcap: no such file/],
    [[tmp], /is a directory/],
    [[], /no input FILE given/],
    [[SHORT, '--speed', '10'], /--speed goes with --target/],
    [[SHORT, '--target', '127.0.0.1:1', '--policy', 'x'], /--policy and --shadow do not apply with --target/],
    [[SHORT, '--target', 'nope'], /--target must be HOST:PORT/],
    [[SHORT, '--message-timeout', '500'], /--message-timeout goes with --target/],
    [[SHORT, '--target', '127.0.0.1:1', '--message-timeout', '0'], /--message-timeout must be a whole number of milliseconds/],
    [[SHORT, '--policy', join(projectRoot, 'test', 'policy', 'bad')], /cannot use this/],
    [[SHORT, '--expect', join(fixtures, 'logs', 'random-bytes.bin')], /cannot use this/],
    [[SHORT, '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = await replay(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    noStack(r.stderr);
  }
});

test('--help tells the truth about the options', async () => {
  const r = await replay(['--help']);
  assert.equal(r.code, 0);
  for (const opt of ['--policy', '--shadow', '--target', '--speed', '--message-timeout', '--min-read', '--json', '--decisions', '--signals', '--expect', '--top']) assert.match(r.stdout, new RegExp(`\\n  ${opt} `), opt);
});

let vigil: TestVigil;
before(async () => {
  vigil = await startTestVigil();
});
after(async () => vigil.shutdown());

test('--target: replays against a running vigil, decisions read off the wire', async () => {
  // A patient message timeout: this test is about what the wire shows, not how fast a loaded machine answers.
  const r = await replay([SHORT, '--target', vigil.target, '--speed', 'max', '--message-timeout', '60000', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as ReplaySummary;
  assert.equal(s.mode, 'target');
  assert.equal(s.policy, null);
  assert.equal(s.exchanges, 240);
  assert.equal(s.actions.error, 0);
  assert.deepEqual(s.errors, {});
  const stuffer = s.flagged.find((f) => f.clientIp === '127.0.0.51');
  assert.ok(stuffer, JSON.stringify(s.flagged));
  assert.equal(stuffer.strongest, 'throttle');
  assert.equal(stuffer.identityKind, null, 'a running vigil does not say whom it resolved');
  assert.equal(await vigil.metric('vigil_decisions_total'), 240, 'every replayed exchange reached the running vigil');
});

test('--target with no vigil there (a closed port, or the admin HTTP port): every exchange an error, exit 1 saying why', async () => {
  const closed = await freePort();
  const admin = `127.0.0.1:${vigil.adminPort}`;
  for (const target of [`127.0.0.1:${closed}`, admin]) {
    const decisions = join(tmp, 'no-vigil.jsonl');
    const r = await replay([SHORT, '--target', target, '--speed', 'max', '--json', '--decisions', decisions]);
    assert.equal(r.code, 1, `${target}: ${r.stderr}`);
    const s = JSON.parse(r.stdout) as ReplaySummary;
    assert.equal(s.exchanges, 240);
    assert.equal(s.actions.allow, 0, `${target}: a failed exchange is no allow`);
    assert.equal(s.actions.error, 240);
    assert.deepEqual(Object.values(s.errors), [240]);
    assert.match(r.stderr, /vigil replay: FAILED: 240 of 240 exchanges got no decision from vigil/);
    assert.match(r.stderr, /240 × no ext_proc server reachable there, or the connection dropped \(gRPC 14 UNAVAILABLE\)/);
    assert.match(r.stderr, new RegExp(`Is vigil serving ext_proc at ${target.replaceAll('.', '\\.')}\\? --target takes its gRPC address`));
    noStack(r.stderr);
    const first = JSON.parse(readFileSync(decisions, 'utf8').split('\n')[0]!) as Record<string, unknown>;
    assert.equal(first['action'], 'error');
    assert.match(String(first['error']), /gRPC 14 UNAVAILABLE/);
  }
  const report = await replay([SHORT, '--target', `127.0.0.1:${closed}`, '--speed', 'max']);
  assert.equal(report.code, 1);
  assert.match(report.stdout, /\nactions: allow 0 · tag 0 · throttle 0 · challenge 0 · block 0 · error 240\n/);
  assert.match(report.stdout, /\nerrors: 240 of 240 exchanges got no decision from vigil\n  240 × no ext_proc server reachable there/);
});
