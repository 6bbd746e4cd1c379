import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { projectRoot } from '../../src/paths.js';
import { loadPolicyFile } from '../../src/policy/load.js';
import type { PolicyView } from '../../src/obs/admin.js';
import { ConfigMapVolume, POLICY_BOGUS, POLICY_EMPTY, policyWithDetector, tempDir, until, writeThenRename } from '../helpers/policy-files.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';

const vigilBin = join(projectRoot, 'bin', 'vigil');
let vigil: TestVigil | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await vigil?.shutdown();
  vigil = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function policyDir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

async function debugPolicy(v: TestVigil): Promise<PolicyView> {
  const res = await v.admin('/debug/policy');
  assert.equal(res.status, 200);
  return JSON.parse(res.body) as PolicyView;
}

/** Waits (≤ 10 s) until /debug/policy shows a checksum other than `old`. */
const newChecksum = (v: TestVigil, old: string) =>
  until('/debug/policy to show a new checksum', async () => {
    const p = await debugPolicy(v);
    return p.checksum !== old ? p : undefined;
  });

/** Checks what every successful swap must show: the new policy live everywhere, old label gone. */
async function assertLive(v: TestVigil, file: string, old: string, ok: number) {
  const want = loadPolicyFile(file).checksum;
  const p = await newChecksum(v, old);
  assert.equal(p.checksum, want);
  assert.equal(v.policy().checksum, want, 'the decision handler reads the same reference');
  assert.equal(await v.metric('vigil_policy_reloads_total', { result: 'ok' }), ok);
  assert.equal(await v.metric('vigil_policy_info', { checksum: want }), 1);
  assert.equal(await v.metric('vigil_policy_info', { checksum: old }), 0, 'the old checksum label is gone');
  assert.equal(await v.metric('vigil_policy_info'), 1, 'exactly one checksum series');
  assert.ok(Date.parse(p.loadedAt) > 0);
  assert.equal(await v.metric('vigil_policy_last_reload_timestamp_seconds'), Date.parse(p.loadedAt) / 1000);
  return p;
}

test('(a) an in-place write of a valid policy is swapped in', async () => {
  const file = join(policyDir(), 'policy.yaml');
  writeFileSync(file, POLICY_EMPTY);
  vigil = await startTestVigil({ env: { VIGIL_POLICY: file } });
  const before = await debugPolicy(vigil);
  assert.deepEqual(before.reloads, { ok: 0, rejected: 0 });
  assert.equal(before.lastRejected, null);
  assert.equal(before.source, file);

  writeFileSync(file, policyWithDetector('in-place'));
  const after = await assertLive(vigil, file, before.checksum, 1);
  assert.deepEqual(after.detectors, ['in-place (rate-baseline, throttle)']);
  assert.equal(after.text, policyWithDetector('in-place'));
  assert.deepEqual(after.reloads, { ok: 1, rejected: 0 });
  assert.equal(await vigil.metric('vigil_policy_reloads_total', { result: 'rejected' }), 0);
  assert.equal(vigil.logs.find('policy reloaded').length, 1);
});

test('(b) an editor-style save (write a new file, rename it over) is swapped in, twice', async () => {
  const file = join(policyDir(), 'policy.yaml');
  writeFileSync(file, POLICY_EMPTY);
  vigil = await startTestVigil({ env: { VIGIL_POLICY: file } });
  const first = (await debugPolicy(vigil)).checksum;
  writeThenRename(file, policyWithDetector('renamed'));
  const second = await assertLive(vigil, file, first, 1);
  // The watched inode was replaced; a second save must still be seen.
  writeThenRename(file, policyWithDetector('renamed', 'challenge'));
  const third = await assertLive(vigil, file, second.checksum, 2);
  assert.deepEqual(third.detectors, ['renamed (rate-baseline, challenge)']);
});

test('(c) a ConfigMap volume directory follows kubelet’s ..data symlink swap', async () => {
  const dir = policyDir();
  const volume = new ConfigMapVolume(dir, POLICY_EMPTY);
  vigil = await startTestVigil({ env: { VIGIL_POLICY: dir } });
  const before = await debugPolicy(vigil);
  assert.equal(before.source, join(dir, 'policy.yaml'), 'a directory means <dir>/policy.yaml');
  volume.update(policyWithDetector('configmap'));
  const after = await assertLive(vigil, join(dir, 'policy.yaml'), before.checksum, 1);
  assert.deepEqual(after.detectors, ['configmap (rate-baseline, throttle)']);
});

test('(d) a broken policy is rejected (last good kept, counted, one warn line, problems shown); the fix is accepted', async () => {
  const file = join(policyDir(), 'policy.yaml');
  writeFileSync(file, POLICY_EMPTY);
  vigil = await startTestVigil({ env: { VIGIL_POLICY: file } });
  const good = (await debugPolicy(vigil)).checksum;

  writeFileSync(file, POLICY_BOGUS);
  await until('the rejection to be counted', async () => (await vigil!.metric('vigil_policy_reloads_total', { result: 'rejected' })) === 1);
  const p = await debugPolicy(vigil);
  assert.equal(p.checksum, good, 'the last good policy is still served');
  assert.equal(vigil.policy().checksum, good);
  assert.equal(p.text, POLICY_EMPTY);
  assert.deepEqual(p.reloads, { ok: 0, rejected: 1 });
  assert.deepEqual(p.lastRejected?.problems, ['policy.yaml.bogus: unknown field']);
  assert.ok(Date.parse(p.lastRejected?.at ?? '') > 0);
  assert.equal(await vigil.metric('vigil_policy_reloads_total', { result: 'ok' }), 0);
  assert.equal(await vigil.metric('vigil_policy_info', { checksum: good }), 1);
  const warns = vigil.logs.lines.filter((l) => l.level === 'warn');
  assert.equal(warns.length, 1, JSON.stringify(warns));
  assert.equal(warns[0]!.msg, 'policy rejected: keeping the last good policy');
  assert.deepEqual(warns[0]!.problems, ['policy.yaml.bogus: unknown field']);
  assert.equal(vigil.logs.find('policy rejected: keeping the last good policy').length, 1);

  writeFileSync(file, policyWithDetector('fixed'));
  const fixed = await assertLive(vigil, file, good, 1);
  assert.deepEqual(fixed.reloads, { ok: 1, rejected: 1 });
  assert.deepEqual(fixed.lastRejected?.problems, ['policy.yaml.bogus: unknown field'], 'history stays visible');
});

test('a policy directory without policy.yaml fails start-up with a clear ConfigError', async () => {
  const dir = policyDir();
  mkdirSync(join(dir, 'conf'));
  await assert.rejects(
    startTestVigil({ env: { VIGIL_POLICY: join(dir, 'conf') } }),
    (err: unknown) => err instanceof ConfigError && /conf: a directory without policy\.yaml/.test(err.problems[0] ?? ''),
  );
});

test('(f) vigil check-policy accepts a directory; exit 0 valid, 1 invalid with every problem, 2 usage', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [vigilBin, 'check-policy', ...args], { encoding: 'utf8' });
  const dir = policyDir();
  new ConfigMapVolume(dir, policyWithDetector('checked'));
  const ok = run(dir);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^${join(dir, 'policy.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: valid \\(checksum [0-9a-f]{16}, 1 detector\\(s\\)\\)\n`));
  assert.match(ok.stdout, /checked: rate-baseline on identity → throttle/);

  const bad = policyDir();
  writeFileSync(join(bad, 'policy.yaml'), 'format: 2\ndetectors: []\nbogus: 1\n');
  const invalid = run(bad);
  assert.equal(invalid.status, 1);
  assert.equal(invalid.stdout, '');
  assert.deepEqual(invalid.stderr.trim().split('\n').sort(), ['policy.yaml.bogus: unknown field', 'policy.yaml.format: must be 1 (the policy format this vigil reads)']);

  const empty = policyDir();
  const missing = run(empty);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /a directory without policy\.yaml/);

  const usage = run();
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /expected one PATH/);
  const help = run('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /a directory holding policy\.yaml/);
});

test('SIGHUP (vigil serve) forces a check: a still-broken policy is re-reported, vigil keeps serving', async () => {
  const dir = policyDir();
  writeFileSync(join(dir, 'policy.yaml'), POLICY_EMPTY);
  const child = spawn(process.execPath, [vigilBin, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      VIGIL_GRPC_ADDRESS: '127.0.0.1:0',
      VIGIL_ADMIN_ADDRESS: '127.0.0.1:0',
      VIGIL_KEY_SECRET: 'test-secret-0123456789abcdef',
      VIGIL_DRAIN_TIMEOUT_MS: '200',
      VIGIL_POLICY: dir,
      VIGIL_POLICY_POLL_MS: '200',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, any>> = [];
  let buf = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)) as Record<string, any>);
      buf = buf.slice(i + 1);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const rejected = () => lines.filter((l) => l.msg === 'policy rejected: keeping the last good policy');
  try {
    await until('vigil serving', () => lines.some((l) => l.msg === 'vigil serving') || (child.exitCode !== null && assert.fail(stderr)));
    child.kill('SIGHUP');
    const first = await until('the SIGHUP check', () => lines.find((l) => l.msg === 'policy reload check'));
    assert.equal(first.result, 'unchanged');

    writeFileSync(join(dir, 'policy.yaml'), POLICY_BOGUS);
    await until('the watch or poll to reject the broken policy', () => rejected().length === 1);
    // Polling and the watch never report the same bytes twice; only the forced check does.
    child.kill('SIGHUP');
    const checks = await until('the second SIGHUP check', () => {
      const c = lines.filter((l) => l.msg === 'policy reload check');
      return c.length === 2 ? c : undefined;
    });
    assert.equal(checks[1]!.result, 'rejected');
    assert.equal(rejected().length, 2);
    assert.deepEqual(rejected()[1]!.problems, ['policy.yaml.bogus: unknown field']);
    assert.equal(child.exitCode, null, 'SIGHUP does not stop vigil');
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
  }
});
