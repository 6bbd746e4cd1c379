/**
 * Resync: after damaged input, find where the next message starts. Candidates are line starts and the starts of
 * captured pieces; a candidate is taken when the line there is a start line by the strict grammar (start-line.ts).
 * Byte-level pre-checks keep the scan cheap on garbage.
 */
import type { Run } from './byte-stream.js';

const CR = 0x0d;
const LF = 0x0a;

export interface StartLineTests {
  /** Cheap test on the raw bytes of a line [from, end) before `isResyncLine`. */
  quick(buf: Buffer, from: number, end: number): boolean;
  isResyncLine(text: string): boolean;
}

/**
 * Offset of the first place at or after `o` where a start line begins, or -1. Candidates are line starts and the
 * starts of captured pieces (a sender usually begins a message with a new write, so a new segment: this is also where
 * Wireshark looks). `quick` rejects most candidates from a few bytes, before the line is decoded.
 */
export function findStartLine(run: Run, o: number, skipFirst: boolean, maxLine: number, side: StartLineTests): number {
  const buf = run.data;
  let piece = 0;
  let lf = -1;
  let cand = o;
  while (cand < buf.length) {
    if (lf < cand) {
      lf = buf.indexOf(LF, cand);
      if (lf < 0) return -1;
    }
    const end = lf > cand && buf[lf - 1] === CR ? lf - 1 : lf;
    const tryIt = !(skipFirst && cand === o) && end - cand <= maxLine;
    if (tryIt && side.quick(buf, cand, end) && side.isResyncLine(buf.toString('latin1', cand, end))) return cand;
    let next = lf + 1;
    while (piece < run.starts.length && (run.starts[piece] as number) <= cand) piece += 1;
    const nextPiece = run.starts[piece];
    if (nextPiece !== undefined && nextPiece < next) next = nextPiece;
    cand = next;
  }
  return -1;
}

const HTTP_SLASH = Buffer.from('HTTP/', 'latin1');

/** The line [from, end) starts with "HTTP/" (a status line must). */
export function startsWithHttp(buf: Buffer, from: number, end: number): boolean {
  return end - from >= 12 && buf.compare(HTTP_SLASH, 0, 5, from, from + 5) === 0;
}

/** The line [from, end) ends with " HTTP/d.d" (a strict request line must). */
export function endsWithVersion(buf: Buffer, from: number, end: number): boolean {
  const v = end - 9;
  if (v <= from || buf[v] !== 0x20 || buf.compare(HTTP_SLASH, 0, 5, v + 1, v + 6) !== 0) return false;
  const d1 = buf[v + 6] as number;
  const d2 = buf[v + 8] as number;
  return d1 >= 0x30 && d1 <= 0x39 && buf[v + 7] === 0x2e && d2 >= 0x30 && d2 <= 0x39;
}
