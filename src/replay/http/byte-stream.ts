/**
 * One direction of a reassembled TCP connection, as the HTTP reader sees it: runs of contiguous captured bytes
 * separated by gaps (bytes that were never captured). A line never crosses a gap; a body may (its missing bytes are
 * counted, not invented). Positions are (run, offset) cursors; `abs` gives the offset in the whole stream for messages.
 */
import type { StreamPiece } from '../types.js';

/** A contiguous run of captured bytes and the gap that follows it (0 for the last run). */
export interface Run {
  data: Buffer;
  /** Offset of data[0] in the whole stream, gaps included. */
  base: number;
  /** Bytes missing after this run before the next one starts. */
  gapAfter: number;
  /** Offsets in `data` where each captured piece starts, ascending, with the piece's capture time. */
  starts: number[];
  times: number[];
}

export interface Cursor {
  r: number;
  o: number;
}

export type LineResult =
  | { kind: 'line'; text: string; bytes: number; next: number }
  /** The run ended before a line feed and a gap follows. */
  | { kind: 'gap' }
  /** The stream ended before a line feed. */
  | { kind: 'end' }
  /** No line feed within the allowed length. */
  | { kind: 'too-long' };

const LF = 0x0a;
const CR = 0x0d;

/** Groups a direction's pieces into runs. Empty data pieces are ignored; adjacent gaps add up. */
export function toRuns(pieces: readonly StreamPiece[]): Run[] {
  const runs: Run[] = [];
  let parts: Buffer[] = [];
  let starts: number[] = [];
  let times: number[] = [];
  let len = 0;
  let base = 0;
  let leadingGap = 0;
  const flush = (gapAfter: number): void => {
    runs.push({ data: parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, len), base, gapAfter, starts, times });
    base += len + gapAfter;
    parts = [];
    starts = [];
    times = [];
    len = 0;
  };
  for (const piece of pieces) {
    if (piece.kind === 'gap') {
      const bytes = Number.isFinite(piece.bytes) && piece.bytes > 0 ? piece.bytes : 0;
      if (bytes === 0) continue;
      if (len > 0) flush(bytes);
      else if (runs.length > 0) {
        const last = runs[runs.length - 1] as Run;
        last.gapAfter += bytes;
        base += bytes;
      } else {
        leadingGap += bytes;
        base += bytes;
      }
      continue;
    }
    if (piece.data.length === 0) continue;
    starts.push(len);
    times.push(piece.tsUs);
    parts.push(piece.data);
    len += piece.data.length;
  }
  if (len > 0) flush(0);
  // A stream that starts with a gap begins mid-message: mark it with an empty leading run so the reader resyncs.
  if (leadingGap > 0) runs.unshift({ data: Buffer.alloc(0), base: 0, gapAfter: leadingGap, starts: [], times: [] });
  return runs;
}

/** Capture time of the piece holding byte `o` of the run (the last piece when `o` is at the end). */
export function tsAt(run: Run, o: number): number {
  let lo = 0;
  let hi = run.starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((run.starts[mid] as number) <= o) lo = mid;
    else hi = mid - 1;
  }
  return run.times[lo] ?? 0;
}

/** Offset of the cursor in the whole stream, gaps included. */
export function abs(runs: readonly Run[], c: Cursor): number {
  const run = runs[c.r];
  return run === undefined ? 0 : run.base + c.o;
}

/**
 * Reads one line starting at `o`: up to LF (RFC 9112 §2.2 lets a recipient accept a bare LF as the line terminator),
 * without the terminator and without a CR before it. Decoded as latin1 so every byte survives.
 */
export function readLine(run: Run, o: number, maxBytes: number, isLastRun: boolean): LineResult {
  const stop = Math.min(run.data.length, o + maxBytes + 1);
  const idx = run.data.subarray(o, stop).indexOf(LF);
  if (idx < 0) {
    if (stop - o > maxBytes) return { kind: 'too-long' };
    return isLastRun ? { kind: 'end' } : { kind: 'gap' };
  }
  let end = o + idx;
  if (end > o && run.data[end - 1] === CR) end -= 1;
  return { kind: 'line', text: run.data.toString('latin1', o, end), bytes: idx + 1, next: o + idx + 1 };
}

/** Shows a piece of input safely in a problem detail: printable ASCII kept, the rest escaped, length capped. */
export function excerpt(text: string, max = 60): string {
  let out = '';
  for (let i = 0; i < text.length && out.length < max; i++) {
    const code = text.charCodeAt(i);
    out += code >= 0x20 && code < 0x7f && code !== 0x22 && code !== 0x5c ? text[i] : `\\x${code.toString(16).padStart(2, '0')}`;
  }
  return text.length > max || out.length > max ? `"${out.slice(0, max)}…"` : `"${out}"`;
}
