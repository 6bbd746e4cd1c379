import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseOptions } from '../../bench/options.js';
import { SCENARIOS, TARGETS } from '../../bench/types.js';

test('no options: the full run, which writes the docs', () => {
  const o = parseOptions([], {});
  assert.deepEqual(o.targets, TARGETS);
  assert.deepEqual(o.scenarios, SCENARIOS);
  assert.equal(o.reps, 3);
  assert.equal(o.keys, 100_000);
  assert.equal(o.subset, false);
});

test('a subset keeps bare and saturation, in the bench order, and is not written to the docs', () => {
  const o = parseOptions(['--targets=vigil-redis', '--scenarios=keys,half-bare', '--reps=1'], {});
  assert.deepEqual(o.targets, ['bare', 'vigil-redis']);
  assert.deepEqual(o.scenarios, ['saturation', 'half-bare', 'keys']);
  assert.equal(o.reps, 1);
  assert.equal(o.subset, true);
});

test('environment variables, overridden by flags', () => {
  const env = { BENCH_QUICK: '1', BENCH_TARGETS: 'vigil-memory', BENCH_KEYS: '500' };
  const o = parseOptions(['--keys=700'], env);
  assert.equal(o.quick, true);
  assert.deepEqual(o.targets, ['bare', 'vigil-memory']);
  assert.equal(o.keys, 700);
  assert.equal(o.subset, true);
  assert.equal(o.out, null);
  assert.equal(parseOptions(['--out=/tmp/b.md'], {}).out, '/tmp/b.md');
  assert.equal(parseOptions([], { BENCH_OUT: '/tmp/c.md' }).out, '/tmp/c.md');
});

test('unknown names and options are errors that list what is known', () => {
  assert.throws(() => parseOptions(['--targets=vigil-mem'], {}), /unknown target: vigil-mem \(known: bare, /);
  assert.throws(() => parseOptions(['--scenarios=latency'], {}), /unknown scenario: latency/);
  assert.throws(() => parseOptions(['--reps=0'], {}), /--reps must be a positive integer/);
  assert.throws(() => parseOptions(['--fast'], {}), /unknown option --fast/);
});
