/**
 * Access logs as numbered lines of bytes, and the rule for refusing a file that is not a log at all.
 *
 * Lines are split on LF; a CR before the LF is dropped (logs copied through Windows tools). Lines hold
 * bytes, not text: a log's quoted fields may carry any byte, and decoding is the format reader's choice.
 * A leading UTF-8 byte order mark is skipped. A string input is taken as the file's text and encoded
 * back to UTF-8 bytes, so the same file gives the same result as a Buffer or as a UTF-8 string
 * (invalid UTF-8 is only kept when a Buffer is passed).
 *
 * Refusal rule (both log readers): the first `probeLines` non-empty lines are checked; if none of them
 * has the format's layout (judged by the reader: a line with a bad timestamp or a hostname still has
 * the layout), the file is refused with ReplayInputError. One matching line among the first few is
 * enough: logs start with log lines, while random bytes, binaries, captures and other text formats
 * never produce a single well-formed line. An empty file is an empty log, not an error.
 */

import { ReplayInputError } from '../../errors.js';

/** How many leading non-empty lines are probed before a file is refused. */
export const DEFAULT_PROBE_LINES = 10;

export interface LogLine {
  /** 1-based line number in the file. */
  number: number;
  bytes: Buffer;
}

export function toBytes(text: string | Buffer): Buffer {
  return typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
}

/** The non-empty lines (whitespace-only lines are skipped), in file order. */
export function* logLines(data: Buffer): Generator<LogLine> {
  // A UTF-8 byte order mark (editors on Windows add one) is not part of the first line.
  let start = data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf ? 3 : 0;
  let number = 0;
  while (start < data.length) {
    let end = data.indexOf(0x0a, start);
    if (end < 0) end = data.length;
    number++;
    let stop = end;
    if (stop > start && data[stop - 1] === 0x0d) stop--;
    const bytes = data.subarray(start, stop);
    if (!isBlank(bytes)) yield { number, bytes };
    start = end + 1;
  }
}

function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) {
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d && b !== 0x0b && b !== 0x0c) return false;
  }
  return true;
}

/**
 * Tracks whether any of the first `limit` non-empty lines had the layout; call `seen` once per
 * non-empty line. Throws ReplayInputError as soon as the limit is reached without a match.
 */
export class FormatProbe {
  private probed = 0;
  private matched = false;

  constructor(
    private readonly file: string,
    private readonly what: string,
    private readonly limit: number = DEFAULT_PROBE_LINES,
  ) {}

  seen(hasLayout: boolean): void {
    if (this.matched) return;
    if (hasLayout) {
      this.matched = true;
      return;
    }
    this.probed++;
    if (this.probed >= this.limit) this.refuse();
  }

  /** Call after the last line: a file with fewer non-empty lines than the limit and no match is refused too. */
  finish(): void {
    if (!this.matched && this.probed > 0) this.refuse();
  }

  private refuse(): never {
    throw new ReplayInputError(
      this.file,
      `not ${this.what}: none of the first ${this.probed} non-empty line(s) has its layout`,
    );
  }
}

/** Clamped option: a positive integer, else the default. */
export function probeLimit(value: number | undefined): number {
  return value !== undefined && Number.isInteger(value) && value > 0 ? value : DEFAULT_PROBE_LINES;
}
