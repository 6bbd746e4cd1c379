/**
 * Manual rules end to end (docs/admin.md): two real vigil processes sharing a real Redis, driven by
 * envoy-sim, changed with the real `bin/vigil admin` CLI. A block set through one replica's admin API is
 * enforced by the other (403, explained as `manual`, by whom), an allow exempts from every detector,
 * and a rule's expiry ends it; plus the CLI's own errors and exit statuses.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { projectRoot } from '../../src/paths.js';
import { createPseudonymizer } from '../../src/request/keyed-hash.js';
import { freePort } from '../helpers/free-port.js';
import { tempDir, until } from '../helpers/policy-files.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startVigilProcess, type VigilProcess } from '../helpers/vigil-process.js';

const TOKEN = 'manual-rules-admin-token-0123456789';
const SECRET = 'manual-rules-test-secret-0123456789';
const pseudonymize = createPseudonymizer(Buffer.from(SECRET, 'utf8'));
/** Long enough for a loaded machine: these are bounds on waiting, never assertions about speed. */
const PATIENCE_MS = 60_000;
/**
 * Fires at the 21st request of an identity in its hour (z = (n − 5) / 5 > 3): an hour, not a minute, so
 * a slow machine's flood still lands in one bucket (one straddling an hour needs 21 more, within the cap).
 */
const FLOOD = `  - name: flood
    type: rate-baseline
    subject: identity
    bucket: 1h
    half_life: 2h
    threshold_z: 3
    min_count: 10
    prior_mean: 5
    prior_variance: 25
    prior_weight: 10
    learn_population: false
    action: throttle
    penalty: 5m
`;
const FLOOD_CAP = 100;

let redis: RedisServer;
let a: VigilProcess;
let b: VigilProcess;
let simA: EnvoySim;
let simB: EnvoySim;
let dir: string;

before(async () => {
  redis = await startRedis();
  dir = tempDir('vigil-manual-');
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `format: 1\nresponses:\n  reason_header: { upstream: false, client: true }\ndetectors:\n${FLOOD}`,
  );
  const env = { REDIS_URL: redis.url, VIGIL_KEY_SECRET: SECRET, VIGIL_POLICY: policy, VIGIL_ADMIN_TOKEN: TOKEN };
  [a, b] = await Promise.all([startVigilProcess(env), startVigilProcess(env)]);
  const opts = { request_attributes: ['source.address'], message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS, failure_mode_allow: false };
  simA = new EnvoySim(a.target, opts);
  simB = new EnvoySim(b.target, opts);
});

after(async () => {
  simA?.close();
  simB?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Each source address is its own identity unless a key is given (the flood detector counts per identity, per hour). */
const send = (sim: EnvoySim, source: string, key = `key-of-${source}`) =>
  sim.exchange({ method: 'GET', path: '/api/items', headers: [['x-api-key', key]], sourceAddress: `${source}:4000`, upstream: { status: 200 } });

/** `bin/vigil admin …` against `via`'s admin address (unless env says otherwise); its exit status and output. */
function cli(args: string[], via: VigilProcess | null, env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'admin', ...args], {
      env: { PATH: process.env.PATH ?? '', VIGIL_ADMIN_TOKEN: TOKEN, ...(via ? { VIGIL_ADMIN_URL: `http://127.0.0.1:${via.adminPort}` } : {}), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => resolve({ code, out, err }));
  });
}

const header = (h: Array<[string, string]> | undefined, name: string) => h?.find(([k]) => k === name)?.[1];

test('a block set through replica A by `vigil admin block` is enforced by replica B, explained, counted and logged; unblock ends it', async () => {
  const set = await cli(['block', '203.0.113.0/24', '--for', '1h', '--reason', 'credential stuffing', '--by', 'alice'], a);
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, /^blocked 203\.0\.113\.0\/24 \(cidr\) until \S+ \(1h\) by alice: credential stuffing/);

  // B learns of it from Redis (it was set through A): the caller is answered 403 there. (Waiting on
  // B's gauge, not by sending: requests sent before B knows are scored, and enough of them flood.)
  await until('B holds the block', async () => (await b.metric('vigil_manual_rules', { kind: 'cidr', action: 'block' })) === 1, PATIENCE_MS);
  const blocked = await send(simB, '203.0.113.9');
  assert.equal(blocked.client.status, 403);
  assert.equal(blocked.upstreamRequest, null, 'nothing reached the upstream');
  const reason = header(blocked.client.headers, 'x-vigil-reason') ?? '';
  assert.match(reason, /^manual; signal=manual; .*action=block; by=alice; until=\d{4}-/);
  // Outside the range: untouched, on both replicas.
  assert.equal((await send(simB, '203.0.114.9')).client.status, 200);
  assert.equal((await send(simA, '203.0.112.255')).client.status, 200);
  assert.equal((await send(simA, '203.0.113.200')).client.status, 403, 'A enforces it too');

  assert.equal(await b.metric('vigil_manual_rules', { kind: 'cidr', action: 'block' }), 1);
  assert.ok((await b.metric('vigil_manual_hits_total', { action: 'block' })) >= 1);
  assert.equal(await a.metric('vigil_manual_changes_total', { change: 'set', action: 'block' }), 1);
  const logged = a.lines.find((l) => l.msg === 'manual rule set');
  assert.deepEqual([logged?.target, logged?.kind, logged?.action, logged?.by, logged?.reason], ['203.0.113.0/24', 'cidr', 'block', 'alice', 'credential stuffing']);
  const decision = b.lines.find((l) => l.action === 'block' && JSON.stringify(l).includes('"manual"'));
  assert.ok(decision, 'B logged the manual block decision');

  // Visible through either replica's admin API, as JSON.
  const listed = await cli(['rules', '--json'], b);
  assert.equal(listed.code, 0, listed.err);
  const rules = JSON.parse(listed.out).rules as Array<Record<string, unknown>>;
  assert.deepEqual(rules.map((r) => [r.target, r.kind, r.action, r.by, r.reason]), [['203.0.113.0/24', 'cidr', 'block', 'alice', 'credential stuffing']]);
  const inspected = await cli(['inspect', '203.0.113.9'], b);
  assert.equal(inspected.code, 0, inspected.err);
  assert.match(inspected.out, /^ip 203\.0\.113\.9: manual block of 203\.0\.113\.0\/24 until \S+ by alice/);

  const removed = await cli(['unblock', '203.0.113.0/24', '--by', 'bob'], b);
  assert.equal(removed.code, 0, removed.err);
  assert.match(removed.out, /^removed block of 203\.0\.113\.0\/24 \(cidr, set by alice/);
  assert.equal((await send(simB, '203.0.113.9')).client.status, 200, 'B, where it was removed, lets the caller through at once');
  await until('A drops the block', async () => (await a.metric('vigil_manual_rules', { kind: 'cidr', action: 'block' })) === 0, PATIENCE_MS);
  assert.equal((await send(simA, '203.0.113.9')).client.status, 200, 'A lets the caller through once it knows');
  const gone = b.lines.find((l) => l.msg === 'manual rule removed');
  assert.deepEqual([gone?.target, gone?.by, gone?.setBy], ['203.0.113.0/24', 'bob', 'alice']);
  assert.equal((await cli(['unblock', '203.0.113.0/24'], b)).code, 3, 'nothing left to remove');
});

test('a manual allow of an identity exempts it from every detector; the same flood without one is throttled', async () => {
  const key = 'trusted-partner-key';
  const identity = pseudonymize('api-key', key);
  const set = await cli(['allow', identity, '--for', '2h', '--reason', 'load test', '--by', 'carol'], a);
  assert.equal(set.code, 0, set.err);
  assert.match(set.out, /^allowed api-key:[0-9a-f]{32} \(identity\) until \S+ \(2h\) by carol: load test/);
  await until('B holds the allow', async () => (await b.metric('vigil_manual_rules', { kind: 'identity', action: 'allow' })) === 1, PATIENCE_MS);

  const unscored = await b.metric('vigil_unscored_total', { reason: 'manual' });
  for (let i = 0; i < 30; i++) assert.equal((await send(simB, '198.51.100.20', key)).client.status, 200, `request ${i + 1} of the allowed identity`);
  assert.equal(await b.metric('vigil_unscored_total', { reason: 'manual' }), unscored + 30);
  // The control: the same flood from another identity is throttled (the detector fires at 21).
  let throttled = 0;
  for (let i = 1; i <= FLOOD_CAP && throttled === 0; i++) if ((await send(simB, '198.51.100.20', 'untrusted-key')).client.status === 429) throttled = i;
  assert.ok(throttled > 0, 'the control flood was throttled');
  assert.equal((await cli(['unblock', identity], a)).code, 0);
});

test("a rule's expiry ends it on every replica, with nobody removing it", async () => {
  const set = await cli(['block', '192.0.2.77', '--for', '5s', '--by', 'dave', '--json'], a);
  assert.equal(set.code, 0, set.err);
  const untilMs = Date.parse(JSON.parse(set.out).rule.until);
  // A took the change and applies it at once: an answer that came before the until is a block.
  const early = await send(simA, '192.0.2.77');
  if (Date.now() < untilMs) assert.equal(early.client.status, 403);
  await until('the until has passed', () => Date.now() > untilMs, PATIENCE_MS);
  // Each replica checks the until at every request: nothing has to reach it for the rule to end.
  assert.equal((await send(simA, '192.0.2.77')).client.status, 200);
  assert.equal((await send(simB, '192.0.2.77')).client.status, 200);
  const listed = await cli(['rules'], b);
  assert.equal(listed.code, 0, listed.err);
  assert.equal(listed.out.trim(), 'no manual rules');
  assert.equal(await a.metric('vigil_manual_rules', { kind: 'ip', action: 'block' }), 0);
  assert.equal(await b.metric('vigil_manual_rules', { kind: 'ip', action: 'block' }), 0);
});

test('`vigil admin` list, inspect and lift a detector penalty (lift DETECTOR checks who set it)', async () => {
  let throttled = 0;
  for (let i = 1; i <= FLOOD_CAP && throttled === 0; i++) if ((await send(simA, '198.51.100.30', 'penalised-key')).client.status === 429) throttled = i;
  assert.ok(throttled > 0, 'the flood set a penalty');
  const subject = pseudonymize('api-key', 'penalised-key');
  const list = await cli(['list'], a);
  assert.equal(list.code, 0, list.err);
  assert.match(list.out, new RegExp(`^SUBJECT +ACTION +DETECTOR[^\\n]*\\n(.*\\n)*${subject} +throttle +flood +0 `, 'm'));
  const wrong = await cli(['lift', subject, 'some-other-detector'], a);
  assert.equal(wrong.code, 3);
  assert.match(wrong.err, /was set by flood, not some-other-detector: nothing lifted/);
  const lifted = await cli(['lift', subject, 'flood'], a);
  assert.equal(lifted.code, 0, lifted.err);
  assert.match(lifted.out, new RegExp(`^lifted throttle of ${subject} \\(detector flood, level 0, was until \\S+\\); reset rate:flood`));
  assert.equal((await cli(['lift', subject], a)).code, 3, 'no penalty left');
  const inspected = await cli(['inspect', subject, '--json'], a);
  assert.equal(inspected.code, 0, inspected.err);
  assert.equal(JSON.parse(inspected.out).penalty, null);
});

test('`vigil admin` says what went wrong, with distinct exit statuses', async () => {
  const help = await cli(['--help'], null);
  assert.equal(help.code, 0);
  for (const c of ['list', 'inspect SUBJECT', 'lift SUBJECT [DETECTOR]', 'block TARGET', 'allow TARGET', 'unblock TARGET', 'rules', '--url URL', '--json']) assert.ok(help.out.includes(c), c);

  const usage = async (args: string[], env: Record<string, string>, message: RegExp) => {
    const r = await cli(args, a, env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message);
  };
  await usage(['rules'], { VIGIL_ADMIN_TOKEN: '' }, /no admin token: set VIGIL_ADMIN_TOKEN/);
  await usage(['block', '10.0.0.1', '--for', 'forever'], {}, /--for: "forever" is not a duration/);
  await usage(['block', '10.0.0.1', '--for', '400d'], {}, /--for: must be from 1s to 365d/);
  await usage(['block'], {}, /block takes 1 argument, got 0/);
  await usage(['frobnicate'], {}, /unknown command "frobnicate"/);
  await usage(['rules', '--limit', '3'], {}, /--limit does not apply to rules/);
  await usage(['unblock', '10.0.0.1', '--by', 'has space'], {}, /--by: "has space"/);

  const badTarget = await cli(['block', 'api-key:the-raw-secret-key'], a);
  assert.equal(badTarget.code, 1);
  assert.match(badTarget.err, /target: expected an IP address .* or an identity pseudonym/);
  const wrongToken = await cli(['rules'], a, { VIGIL_ADMIN_TOKEN: 'not-the-token-0123456789' });
  assert.equal(wrongToken.code, 4);
  assert.match(wrongToken.err, /unauthorized/);
  const closed = await freePort();
  const down = await cli(['rules'], null, { VIGIL_ADMIN_URL: `http://127.0.0.1:${closed}` });
  assert.equal(down.code, 1);
  assert.match(down.err, /cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  // Something that is not vigil's admin API: a URL whose paths answer 404 in plain text.
  const notAdmin = await cli(['rules'], null, { VIGIL_ADMIN_URL: `http://127.0.0.1:${a.adminPort}/metrics` });
  assert.equal(notAdmin.code, 1);
  assert.match(notAdmin.err, /did not answer as vigil's admin API/);
});
