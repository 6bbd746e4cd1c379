/**
 * `vigil replay`'s progress line (src/cli/progress.ts) as a user meets it: never on a pipe (this
 * test's stderr is one), and `--quiet`/`-q` is accepted. What the line shows on a terminal, and when,
 * is checked with a fake terminal in progress.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/paths.js';

const capture = join(projectRoot, 'test', 'replay', 'fixtures', 'recorded', 'any-shop.pcap');

function replay(...args: string[]) {
  return spawnSync(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'replay', ...args, capture], {
    env: { PATH: process.env.PATH ?? '' },
    encoding: 'utf8',
    timeout: 90_000,
  });
}

test('replay with stderr on a pipe: no progress line, the report alone on stdout', () => {
  const r = replay();
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.doesNotMatch(r.stdout, /\r|replaying:/);
});

test('replay --quiet and -q are accepted and change nothing else', () => {
  const plain = replay('--json');
  for (const flag of ['--quiet', '-q']) {
    const r = replay(flag, '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const strip = (s: string) => s.replace(/"elapsedMs":\s*[\d.]+/g, '').replace(/"exchangesPerSecond":\s*[\d.]+/g, '');
    assert.equal(strip(r.stdout), strip(plain.stdout), flag);
  }
});

test('replay --help tells the truth about the progress line', () => {
  const r = spawnSync(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'replay', '--help'], { encoding: 'utf8' });
  assert.match(r.stdout, /-q, --quiet +no progress line on stderr \(it is shown only on a terminal, and only for a\n +replay that lasts more than 2 s\)/);
});
