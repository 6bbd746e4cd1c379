import assert from 'node:assert/strict';
import { mkdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { Registry } from 'prom-client';
import { ManualClock } from '../../src/clock.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/obs/logger.js';
import { createMetrics } from '../../src/obs/metrics.js';
import { loadPolicyFile } from '../../src/policy/load.js';
import { policyFileFor } from '../../src/policy/locate.js';
import type { Policy } from '../../src/policy/policy.js';
import { PolicyWatcher, SETTLE_MS } from '../../src/policy/watch.js';
import type { PolicyWatcherOptions } from '../../src/policy/watch.js';
import { ConfigMapVolume, POLICY_BOGUS, POLICY_EMPTY, policyWithDetector, tempDir, until } from '../helpers/policy-files.js';
import { LogCapture } from '../helpers/vigil.js';

const T0 = Date.parse('2026-11-22T01:00:00Z');
const open: PolicyWatcher[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const w of open.splice(0)) w.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A watcher on `file` as main wires it, with its swaps recorded instead of a server. Its settle
 * interval runs on a hand-moved monotonic clock: `settle()` is the check that finds new bytes, the
 * interval passing, and the check that compiles them.
 */
function setup(file: string, opts: Partial<PolicyWatcherOptions> = {}) {
  const registry = new Registry();
  const metrics = createMetrics(registry);
  const logs = new LogCapture();
  const clock = new ManualClock(T0);
  let mono = 0;
  const swaps: Policy[] = [];
  const initial = loadPolicyFile(file);
  const watcher = new PolicyWatcher({
    file,
    initial,
    loadedAtMs: clock.nowMs(),
    onSwap: (p) => swaps.push(p),
    clock,
    metrics,
    logger: createLogger('debug', logs),
    pollMs: 0,
    watchDirectory: false,
    now: () => mono,
    ...opts,
  }).start();
  open.push(watcher);
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const m = await registry.getSingleMetric(name)?.get();
    return (m?.values ?? []).filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want));
  };
  const settle = (force = false) => {
    assert.equal(watcher.check(force), 'settling', 'new bytes are not compiled at first sight');
    mono += SETTLE_MS;
    return watcher.check(force);
  };
  return { watcher, swaps, logs, clock, initial, metric, settle, advance: (ms: number) => (mono += ms) };
}

function policyDir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

test('polling alone (no directory watch) picks up a new valid policy and shows it as the live one', async () => {
  const file = join(policyDir(), 'policy.yaml');
  writeFileSync(file, POLICY_EMPTY);
  const { watcher, swaps, clock, initial, metric } = setup(file, { pollMs: 100, watchDirectory: false, now: () => performance.now() });
  clock.advance(5000);
  writeFileSync(file, policyWithDetector('polled'));
  const next = await until('the poll to swap the policy', () => swaps[0]);
  assert.notEqual(next.checksum, initial.checksum);
  assert.equal(next.detectors[0]?.config.name, 'polled');
  assert.deepEqual(watcher.status(), { loadedAt: new Date(T0 + 5000).toISOString(), reloads: { ok: 1, rejected: 0 }, lastRejected: null });
  assert.deepEqual((await metric('vigil_policy_info')).map((v) => v.labels.checksum), [next.checksum], 'only the live checksum is shown');
  assert.equal((await metric('vigil_policy_reloads_total', { result: 'ok' }))[0]?.value, 1);
  assert.equal((await metric('vigil_policy_reloads_total', { result: 'rejected' }))[0]?.value, 0);
  assert.equal((await metric('vigil_policy_last_reload_timestamp_seconds'))[0]?.value, (T0 + 5000) / 1000);
});

test('the directory watch alone (no polling) follows a ConfigMap ..data symlink swap', async () => {
  const dir = policyDir();
  const volume = new ConfigMapVolume(dir, POLICY_EMPTY);
  const file = policyFileFor(dir);
  assert.equal(file, join(dir, 'policy.yaml'));
  const { swaps, initial } = setup(file, { pollMs: 0, watchDirectory: true, now: () => performance.now() });
  volume.update(policyWithDetector('from-configmap'));
  const next = await until('the directory watch to swap the policy', () => swaps[0]);
  assert.notEqual(next.checksum, initial.checksum);
  assert.equal(next.detectors[0]?.config.name, 'from-configmap');
  // A second swap works as well: the watch is on the directory, not on the replaced file.
  volume.update(policyWithDetector('again'));
  const third = await until('the second swap', () => swaps[1]);
  assert.equal(third.detectors[0]?.config.name, 'again');
});

test('same bytes are not compiled twice; the same checksum is never a reload, even when forced', () => {
  const file = join(policyDir(), 'policy.yaml');
  writeFileSync(file, POLICY_EMPTY);
  const { watcher, swaps, logs } = setup(file);
  assert.equal(watcher.check(), 'unchanged');
  writeFileSync(file, POLICY_EMPTY); // rewritten, same content
  assert.equal(watcher.check(true), 'unchanged');
  assert.equal(swaps.length, 0);
  assert.deepEqual(watcher.status().reloads, { ok: 0, rejected: 0 });
  assert.equal(logs.find('policy reloaded').length, 0);
});

test('a broken policy is rejected once with every problem, kept for /debug/policy; the fix is then swapped in', async () => {
  const file = join(policyDir(), 'policy.yaml');
  writeFileSync(file, POLICY_EMPTY);
  const { watcher, swaps, logs, clock, metric, settle } = setup(file);
  const bad = 'format: 2\ndetectors: []\nbogus: 1\n';
  writeFileSync(file, bad);
  clock.advance(1000);
  let expected: string[] = [];
  try {
    loadPolicyFile(file);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    expected = err.problems;
  }
  assert.equal(expected.length, 2, 'the fixture has two problems');
  assert.equal(settle(), 'rejected');
  assert.equal(watcher.check(), 'unchanged', 'the same broken bytes are reported once');
  assert.deepEqual(watcher.status().lastRejected, { at: new Date(T0 + 1000).toISOString(), problems: expected });
  assert.equal(swaps.length, 0);
  const warns = logs.lines.filter((l) => l.level === 'warn');
  assert.equal(warns.length, 1);
  assert.equal(warns[0]!.msg, 'policy rejected: keeping the last good policy');
  assert.deepEqual(warns[0]!.problems, expected, 'one line carries every problem');
  // SIGHUP forces a check: the same broken bytes are compiled and reported again.
  assert.equal(watcher.check(true), 'rejected');
  assert.equal((await metric('vigil_policy_reloads_total', { result: 'rejected' }))[0]?.value, 2);

  writeFileSync(file, policyWithDetector('fixed'));
  assert.equal(settle(), 'reloaded');
  assert.equal(swaps[0]?.detectors[0]?.config.name, 'fixed');
  assert.deepEqual(watcher.status().reloads, { ok: 1, rejected: 2 });
  assert.notEqual(watcher.status().lastRejected, null, 'the last rejection stays visible after a good reload');
});

test('a vanished policy file is rejected (the last good policy stays) and its return is picked up', () => {
  const file = join(policyDir(), 'policy.yaml');
  writeFileSync(file, POLICY_EMPTY);
  const { watcher, swaps, settle } = setup(file);
  unlinkSync(file);
  assert.equal(settle(), 'rejected');
  assert.match(watcher.status().lastRejected?.problems[0] ?? '', /cannot read policy \(ENOENT\)/);
  writeFileSync(file, POLICY_BOGUS);
  assert.equal(settle(), 'rejected');
  writeFileSync(file, policyWithDetector('back'));
  assert.equal(settle(), 'reloaded');
  assert.equal(swaps.length, 1);
});

test('close() stops checks, polling and the directory watch', async () => {
  const file = join(policyDir(), 'policy.yaml');
  writeFileSync(file, POLICY_EMPTY);
  const { watcher, swaps } = setup(file, { pollMs: 100, watchDirectory: true });
  watcher.close();
  watcher.close();
  writeFileSync(file, policyWithDetector('too-late'));
  assert.equal(watcher.check(true), 'closed');
  // Give a (wrongly) live poll or watch every chance to fire: 3 poll periods.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(swaps.length, 0);
});

test('a directory path means <dir>/policy.yaml; a directory without it is a clear ConfigError', () => {
  const dir = policyDir();
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, POLICY_EMPTY);
  assert.equal(policyFileFor(dir), file);
  assert.equal(policyFileFor(file), file);
  assert.equal(policyFileFor(join(dir, 'missing.yaml')), join(dir, 'missing.yaml'), 'loadPolicyFile reports unreadable files');
  const empty = join(dir, 'empty');
  mkdirSync(empty);
  assert.throws(
    () => policyFileFor(empty),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.problems.length === 1 &&
      err.problems[0] === `${empty}: a directory without policy.yaml (a policy directory, such as a ConfigMap volume, must hold the policy as policy.yaml)`,
  );
  // The repository's policy/ folder holds default.yaml: the message names the file to give instead.
  const repoLike = join(dir, 'repo-policy');
  mkdirSync(repoLike);
  writeFileSync(join(repoLike, 'default.yaml'), POLICY_EMPTY);
  assert.throws(() => policyFileFor(repoLike), (err: unknown) => err instanceof ConfigError && err.problems[0]!.endsWith(`; it holds default.yaml: name the file itself (${join(repoLike, 'default.yaml')})`));
});
