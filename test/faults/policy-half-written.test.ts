/**
 * Fault: a policy written in place and caught half-written went live with 1 detector of 11; a policy
 * with no detectors at all was swapped in as readily. The watcher now compiles new bytes only once
 * they have stayed the same for its settle interval, names the detectors a reload adds, removes and
 * changes, and refuses a reload that removes every detector unless the policy says
 * `allow_no_detectors: true` (src/policy/watch.ts, docs/policy-reload.md).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { Registry } from 'prom-client';
import { ManualClock } from '../../src/clock.js';
import { createLogger } from '../../src/obs/logger.js';
import { createMetrics } from '../../src/obs/metrics.js';
import { projectRoot } from '../../src/paths.js';
import { loadPolicyFile } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/policy.js';
import { PolicyWatcher, SETTLE_MS } from '../../src/policy/watch.js';
import type { PolicyWatcherOptions } from '../../src/policy/watch.js';
import { POLICY_EMPTY, predictableRate, tempDir, until } from '../helpers/policy-files.js';
import { LogCapture } from '../helpers/vigil.js';

const open: PolicyWatcher[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const w of open.splice(0)) w.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const HEAD = 'format: 1\ndetectors:\n';
const names = (n: number, prefix = 'd') => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);
const detectors = (list: string[], action = 'throttle') => list.map((name) => predictableRate(name, action)).join('');
/** The 11-detector policy of the incident. */
const ELEVEN = HEAD + detectors(names(11));

function setup(initialText: string, opts: Partial<PolicyWatcherOptions> = {}) {
  const dir = tempDir();
  dirs.push(dir);
  const file = join(dir, 'policy.yaml');
  writeFileSync(file, initialText);
  const logs = new LogCapture();
  const registry = new Registry();
  let mono = 0;
  const swaps: Policy[] = [];
  const watcher = new PolicyWatcher({
    file,
    initial: loadPolicyFile(file),
    loadedAtMs: 0,
    onSwap: (p) => swaps.push(p),
    clock: new ManualClock(Date.parse('2026-11-22T12:00:00Z')),
    metrics: createMetrics(registry),
    logger: createLogger('debug', logs),
    pollMs: 0,
    watchDirectory: false,
    now: () => mono,
    ...opts,
  }).start();
  open.push(watcher);
  return { file, watcher, swaps, logs, advance: (ms: number) => (mono += ms) };
}

test('a file caught half-written never goes live: bytes that change within the settle interval start it anew', () => {
  const { file, watcher, swaps, advance } = setup(HEAD + detectors(['old']));
  // The writer has written the first detector of eleven (valid YAML on its own) when the watch fires.
  const cut = ELEVEN.indexOf('  - name: d2');
  writeFileSync(file, ELEVEN.slice(0, cut));
  assert.equal(loadPolicyFile(file).detectors.length, 1, 'the half is a valid policy');
  assert.equal(watcher.check(), 'settling');
  advance(SETTLE_MS - 1);
  assert.equal(watcher.check(), 'settling', 'not yet settled');
  // The rest arrives before the interval is over: the interval starts again from these bytes.
  appendFileSync(file, ELEVEN.slice(cut));
  advance(1);
  assert.equal(watcher.check(), 'settling', 'new bytes, a new interval');
  assert.equal(swaps.length, 0, 'the half-written file was never compiled');
  advance(SETTLE_MS);
  assert.equal(watcher.check(), 'reloaded');
  assert.equal(swaps.length, 1);
  assert.deepEqual(swaps[0]!.detectors.map((d) => d.config.name), names(11));
});

test('a forced check (SIGHUP) recompiles settled bytes at once, but lets new bytes settle first', () => {
  const { file, watcher, swaps, advance } = setup(HEAD + detectors(['a']));
  writeFileSync(file, HEAD + detectors(['a', 'b']));
  assert.equal(watcher.check(true), 'settling');
  advance(SETTLE_MS);
  assert.equal(watcher.check(true), 'reloaded');
  assert.equal(watcher.check(true), 'unchanged', 'the same bytes compile to the live checksum');
  assert.equal(swaps.length, 1);
});

test('with real time, an in-place write in two parts through the directory watch goes live once, whole', async () => {
  const { file, swaps, logs } = setup(HEAD + detectors(['old']), { watchDirectory: true, now: () => performance.now(), settleMs: 1500, debounceMs: 20 });
  const cut = ELEVEN.indexOf('  - name: d2');
  writeFileSync(file, ELEVEN.slice(0, cut));
  await new Promise((r) => setTimeout(r, 100)); // the directory event has long been seen and checked
  writeFileSync(file, ELEVEN);
  const swapped = await until('the whole policy to go live', () => swaps[0]);
  assert.deepEqual(swapped.detectors.map((d) => d.config.name), names(11));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(swaps.length, 1, 'the half never went live');
  assert.equal(logs.find('policy reloaded').length, 1);
});

test('the reload log names the detectors added, removed and changed', () => {
  const { file, watcher, logs, advance } = setup(HEAD + detectors(['keep', 'tune', 'drop']));
  writeFileSync(file, HEAD + detectors(['keep']) + detectors(['tune'], 'challenge') + detectors(['new-one']));
  watcher.check();
  advance(SETTLE_MS);
  assert.equal(watcher.check(), 'reloaded');
  const [line] = logs.find('policy reloaded');
  assert.deepEqual(
    { detectors: line!.detectors, added: line!.added, removed: line!.removed, changed: line!.changed },
    { detectors: 3, added: ['new-one'], removed: ['drop'], changed: ['tune'] },
  );
});

test('a reload that removes every detector is refused (last good kept) unless the policy says allow_no_detectors', async () => {
  const { file, watcher, swaps, logs, advance } = setup(HEAD + detectors(['a', 'b']));
  const settle = () => {
    watcher.check();
    advance(SETTLE_MS);
    return watcher.check();
  };
  writeFileSync(file, 'format: 1\ndetectors: []\n');
  assert.equal(settle(), 'rejected');
  const want = 'policy.yaml: no detectors, where the live policy has 2: refused (an emptied or half-written file looks like this); to run without detectors, say allow_no_detectors: true';
  assert.deepEqual(watcher.status().lastRejected?.problems, [want]);
  assert.deepEqual(logs.find('policy rejected: keeping the last good policy').map((l) => l.problems), [[want]]);
  // An empty file is no better (it is not even a policy).
  writeFileSync(file, '');
  assert.equal(settle(), 'rejected');
  assert.equal(swaps.length, 0);

  writeFileSync(file, 'format: 1\nallow_no_detectors: true\ndetectors: []\n');
  assert.equal(settle(), 'reloaded');
  assert.equal(swaps[0]!.detectors.length, 0);
  const [line] = logs.find('policy reloaded');
  assert.deepEqual(line!.removed, ['a', 'b']);
  assert.equal(watcher.status().reloads.rejected, 2);
});

test('no detectors to no detectors is not a removal: an empty policy may follow an empty one', () => {
  const { file, watcher, swaps, advance } = setup(POLICY_EMPTY);
  writeFileSync(file, `# still nothing to detect\n${POLICY_EMPTY}`);
  watcher.check();
  advance(SETTLE_MS);
  assert.equal(watcher.check(), 'reloaded');
  assert.equal(swaps.length, 1);
});

test('check-policy says when a policy without detectors would be refused as a reload; allow_no_detectors is strict', () => {
  const dir = tempDir();
  dirs.push(dir);
  const run = (text: string) => {
    writeFileSync(join(dir, 'policy.yaml'), text);
    return spawnSync(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'check-policy', dir], { encoding: 'utf8' });
  };
  const bare = run(POLICY_EMPTY);
  assert.equal(bare.status, 0);
  assert.match(bare.stdout, /no detectors: a running vigil refuses to reload to this policy unless it says allow_no_detectors: true/);
  const meant = run('format: 1\nallow_no_detectors: true\ndetectors: []\n');
  assert.equal(meant.status, 0);
  assert.doesNotMatch(meant.stdout, /refuses/);
  const wrong = run('format: 1\nallow_no_detectors: yes please\ndetectors: []\n');
  assert.equal(wrong.status, 1);
  assert.equal(wrong.stderr, 'policy.yaml.allow_no_detectors: must be true or false\n');
});
