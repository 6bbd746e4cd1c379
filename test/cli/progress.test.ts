import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Progress, formatProgress } from '../../src/cli/progress.js';

/** A terminal stand-in: records what is written; the clock is ours. */
function fakeTty(isTTY = true) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 100, write: (s: string) => writes.push(s) } };
}

test('formatProgress: counts, bytes, share and elapsed time', () => {
  assert.equal(formatProgress('replaying', 12_345, 50_000, 'exchanges', 5_400), 'replaying: 12,345 / 50,000 exchanges (24%), 0:05');
  assert.equal(formatProgress('reading', 1_234_567, 4_000_000, 'bytes', 63_000), 'reading: 1.2 MB / 4.0 MB (30%), 1:03');
  assert.equal(formatProgress('reading', 999, undefined, 'bytes', 3_723_000), 'reading: 999 B, 1:02:03');
  assert.equal(formatProgress('replaying', 7, 0, 'exchanges', 0), 'replaying: 7 exchanges, 0:00');
});

test('on a terminal: nothing during the first delayMs, then one redraw per interval, cleared by done()', () => {
  const { writes, stream } = fakeTty();
  let now = 1000;
  const p = new Progress({ stream, delayMs: 2000, intervalMs: 200, now: () => now });
  p.start('replaying', 100, 'exchanges');
  for (let i = 1; i <= 10; i++) p.update(i);
  now = 2999;
  p.update(11);
  assert.deepEqual(writes, [], 'a run shorter than the delay shows nothing');
  now = 3000;
  p.update(20);
  now = 3100;
  p.update(30); // inside the interval: not drawn
  now = 3200;
  p.update(40);
  assert.deepEqual(writes, ['\rreplaying: 20 / 100 exchanges (20%), 0:02\x1b[K', '\rreplaying: 40 / 100 exchanges (40%), 0:02\x1b[K']);
  p.done();
  assert.equal(writes.at(-1), '\r\x1b[K', 'done() clears the line');
  p.done();
  assert.equal(writes.length, 3, 'once');
});

test('a new phase clears the old line and waits its own delay; a narrow terminal gets a cut line', () => {
  const { writes, stream } = fakeTty();
  stream.columns = 30;
  let now = 0;
  const p = new Progress({ stream, delayMs: 100, intervalMs: 0, now: () => now });
  p.start('reading', 4_000_000);
  now = 150;
  p.update(2_000_000);
  assert.equal(writes[0], '\rreading: 2.0 MB / 4.0 MB (50%\x1b[K');
  p.start('replaying', 10, 'exchanges');
  assert.equal(writes[1], '\r\x1b[K');
  p.update(1);
  assert.equal(writes.length, 2, 'the new phase has its own delay');
});

test('not a terminal, or --quiet: nothing is ever written', () => {
  for (const [label, isTTY, quiet] of [['a pipe or file', false, false], ['--quiet', true, true]] as const) {
    const { writes, stream } = fakeTty(isTTY);
    let now = 0;
    const p = new Progress({ stream, quiet, delayMs: 0, intervalMs: 0, now: () => now });
    p.start('replaying', 10, 'exchanges');
    for (let i = 1; i <= 10; i++) {
      now += 1000;
      p.update(i);
    }
    p.done();
    assert.deepEqual(writes, [], label);
  }
});
