/** `vigil check-policy` as a user runs it: the real bin, real files. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { projectRoot } from '../../src/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-check-policy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function check(name: string, text: string) {
  const file = join(dir, name);
  writeFileSync(file, text);
  return spawnSync(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'check-policy', file], { encoding: 'utf8' });
}

test('check-policy on invalid YAML: line, column, the line itself and a caret; exit 1', () => {
  const r = check('broken.yaml', 'format: 1\ndetectors:\n  - name: x\n   bad: [\n');
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'broken.yaml: invalid YAML at line 4, column 1: Sequence item without - indicator\n  4 |    bad: [\n    | ^\n');
});

test('check-policy on an empty file says it is empty', () => {
  const r = check('empty.yaml', '');
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'empty.yaml: the policy is empty (it holds no YAML document; a policy starts with format: 1)\n');
});

test('check-policy on a mistyped key suggests the known one', () => {
  const r = check('typo.yaml', 'format: 1\ndetectors:\n  - {name: r, type: rate-baseline, action: throttle, threshhold_z: 4}\n');
  assert.equal(r.status, 1);
  assert.equal(r.stderr, 'typo.yaml: detectors[0] (r).threshhold_z: unknown field (did you mean "threshold_z"?)\n');
});
