/**
 * Reads one replay input into memory, bounded: replay holds a whole input in memory (docs/replay.md), so a
 * file larger than the bound, a device that never ends (/dev/zero) or a gzip bomb is refused with a
 * ReplayInputError instead of reading until memory runs out. Regular files and pipes (`<(zcat a.log)`) are
 * read; devices, sockets and directories are refused.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ReplayInputError } from '../errors.js';

/** The most bytes one input may hold, after gzip decompression: 1 GiB. */
export const MAX_INPUT_BYTES = 1024 ** 3;

const CHUNK = 1 << 20;

export function sizeText(bytes: number): string {
  if (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3} GiB`;
  if (bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2} MiB`;
  return `${bytes.toLocaleString('en-US')} bytes`;
}

function cannotRead(file: string, err: unknown): ReplayInputError {
  const e = err as NodeJS.ErrnoException;
  const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'is a directory' : `cannot read (${e.code ?? e.message})`;
  return new ReplayInputError(file, why);
}

/** The file's bytes, at most `maxBytes` of them; refuses anything larger or endless. */
export function readBounded(file: string, maxBytes = MAX_INPUT_BYTES): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw cannotRead(file, err);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new ReplayInputError(file, 'is a directory');
    if (!st.isFile() && !st.isFIFO()) throw new ReplayInputError(file, 'is not a regular file or a pipe (a device or a socket): replay reads files');
    const tooLarge = `holds more than replay reads into memory (${sizeText(maxBytes)}): split it (editcap -c for captures, split -l for logs) and replay the parts`;
    if (st.isFile() && st.size > maxBytes) throw new ReplayInputError(file, tooLarge);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // One byte more than allowed tells a file at the bound from one beyond it (a file may grow, a pipe has no size).
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, null);
      } catch (err) {
        throw cannotRead(file, err);
      }
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw new ReplayInputError(file, tooLarge);
      chunks.push(n === chunk.length ? chunk : chunk.subarray(0, n));
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** gunzip, refusing output beyond `maxBytes` (a gzip bomb) with a ReplayInputError. */
export function gunzipBounded(data: Buffer, file: string, maxBytes = MAX_INPUT_BYTES): Buffer {
  try {
    return gunzipSync(data, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ReplayInputError(file, `unpacks to more than replay reads into memory (${sizeText(maxBytes)}): split it and replay the parts`);
    }
    throw new ReplayInputError(file, `looks gzip-compressed but cannot be unpacked (${(err as Error).message})`);
  }
}
