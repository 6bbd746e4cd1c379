/** readBounded and gunzipBounded: an input is read into memory only up to a bound, never until memory runs out. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ReplayInputError } from '../../src/errors.js';
import { gunzipBounded, MAX_INPUT_BYTES, readBounded } from '../../src/replay/read-file.js';
import { readInput } from '../../src/replay/read-input.js';

const tmp = mkdtempSync(join(tmpdir(), 'vigil-read-file-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const refused = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ReplayInputError, String(err));
    assert.match(err.message, message);
    return true;
  });

test('a regular file up to the bound is read whole; one byte more is refused with a clear message', () => {
  const file = join(tmp, 'a.log');
  writeFileSync(file, Buffer.alloc(3000, 0x61));
  assert.equal(readBounded(file, 3000).length, 3000);
  refused(() => readBounded(file, 2999), /a\.log: holds more than replay reads into memory \(2,999 bytes\): split it/);
  assert.equal(MAX_INPUT_BYTES, 1024 ** 3);
});

test('a device (/dev/zero) is refused at once, not read until memory runs out', () => {
  refused(() => readBounded('/dev/zero'), /^\/dev\/zero: is not a regular file or a pipe/);
  refused(() => readInput('/dev/zero'), /is not a regular file or a pipe/);
  refused(() => readBounded(tmp), /is a directory/);
  refused(() => readBounded(join(tmp, 'missing')), /no such file/);
});

test('a pipe is read, up to the bound: an endless one is refused', async () => {
  const fifo = join(tmp, 'endless');
  const made = spawnSync('mkfifo', [fifo]);
  assert.equal(made.status, 0, `mkfifo: ${made.stderr}`);
  // `yes` writes to the pipe until its reader goes away (then SIGPIPE ends it).
  const writer = spawn('sh', ['-c', `exec yes > '${fifo}'`], { stdio: 'ignore' });
  const ended = new Promise((resolve) => writer.once('exit', resolve));
  try {
    refused(() => readBounded(fifo, 1 << 20), /endless: holds more than replay reads into memory \(1 MiB\)/);
  } finally {
    writer.kill();
    await ended;
  }
  const finite = join(tmp, 'finite');
  spawnSync('mkfifo', [finite]);
  const w2 = spawn('sh', ['-c', `printf 'abc' > '${finite}'`], { stdio: 'ignore' });
  const w2ended = new Promise((resolve) => w2.once('exit', resolve));
  assert.equal(readBounded(finite, 100).toString(), 'abc');
  await w2ended;
});

test('a gzip file that unpacks beyond the bound (a gzip bomb) is refused; a broken one says so', () => {
  const packed = gzipSync(Buffer.alloc(10_000));
  assert.equal(gunzipBounded(packed, 'z.gz', 10_000).length, 10_000);
  refused(() => gunzipBounded(packed, 'z.gz', 9_999), /z\.gz: unpacks to more than replay reads into memory \(9,999 bytes\)/);
  refused(() => gunzipBounded(packed.subarray(0, 20), 'cut.gz'), /cut\.gz: looks gzip-compressed but cannot be unpacked/);
});
