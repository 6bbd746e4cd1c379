/**
 * Splits one Common / Combined Log Format line into its fields, on bytes. Pure; never throws.
 *
 *   %h %l %u %t "%r" %>s %b                             common   (Apache httpd, mod_log_config)
 *   %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"   combined
 *   $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
 *       "$http_referer" "$http_user_agent"              nginx `combined` (ngx_http_log_module)
 *
 * Quoted fields: Apache (2.0.46+) writes `"` and `\` inside %r and %{...}i as `\"` and `\\`, other
 * non-printable bytes as `\xhh`, and whitespace controls C-style (`\n`, `\t`, …) (httpd docs,
 * mod_log_config, Format Notes). nginx writes `"`, `\`, bytes below 0x20 and from 0x7F up as `\xXX`
 * (nginx CHANGES 0.7.0 and 1.1.6). So within a quoted field a backslash always escapes the next
 * character, and the field ends at the first unescaped `"`; `unescapeLogBytes` undoes both schemes.
 *
 * Servers that do not escape (Apache before 2.0.46) can leave a bare `"` in %r; when the escape-aware
 * end of %r is not followed by `status size`, the first `" status size` after the opening quote is
 * taken instead. Anything after a well-formed referer and user agent (nginx `main` adds
 * "$http_x_forwarded_for", others add timings) is ignored.
 */

export interface ClfFields {
  host: string;
  ident: string;
  user: string;
  /** Between the brackets, e.g. `17/May/2015:10:05:03 +0000`. */
  time: string;
  /** %r after unescaping. */
  request: Buffer;
  status: string;
  size: string;
  /** 'common': nothing after %b. 'combined': referer and user agent read. 'bad': something after %b
   *  that is not two quoted fields (e.g. a line cut inside the user agent). */
  tail: 'common' | 'combined' | 'bad';
  /** Unescaped; null unless tail is 'combined'. `-` is left for the caller to interpret. */
  referer: Buffer | null;
  userAgent: Buffer | null;
}

const SPACE = 0x20;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The fields, or null when the line does not have the layout. */
export function splitClfLine(line: Buffer): ClfFields | null {
  const hostEnd = line.indexOf(SPACE);
  if (hostEnd <= 0) return null;
  const identEnd = line.indexOf(SPACE, hostEnd + 1);
  if (identEnd <= hostEnd + 1) return null;
  // %u may hold spaces; it runs up to the " [" that opens %t.
  const timeOpen = line.indexOf(' [', identEnd);
  if (timeOpen < 0) return null;
  const user = line.toString('latin1', identEnd + 1, timeOpen);
  const timeClose = line.indexOf(']', timeOpen + 2);
  if (user === '' || timeClose < 0) return null;
  if (line[timeClose + 1] !== SPACE || line[timeClose + 2] !== QUOTE) return null;

  const reqStart = timeClose + 3;
  const located = locateStatus(line, reqStart);
  if (!located) return null;
  const { reqEnd, status, size, after } = located;

  const base = {
    host: line.toString('latin1', 0, hostEnd),
    ident: line.toString('latin1', hostEnd + 1, identEnd),
    user,
    time: line.toString('latin1', timeOpen + 2, timeClose),
    request: unescapeLogBytes(line.subarray(reqStart, reqEnd)),
    status,
    size,
  };

  let i = skipSpaces(line, after);
  if (i >= line.length) return { ...base, tail: 'common', referer: null, userAgent: null };
  const referer = readQuoted(line, i);
  if (referer && line[referer.next] === SPACE) {
    const userAgent = readQuoted(line, referer.next + 1);
    if (userAgent && (userAgent.next >= line.length || line[userAgent.next] === SPACE)) {
      return {
        ...base,
        tail: 'combined',
        referer: unescapeLogBytes(referer.raw),
        userAgent: unescapeLogBytes(userAgent.raw),
      };
    }
  }
  return { ...base, tail: 'bad', referer: null, userAgent: null };
}

interface StatusAt {
  /** Index of the quote closing %r. */
  reqEnd: number;
  status: string;
  size: string;
  /** Index just after %b. */
  after: number;
}

function locateStatus(line: Buffer, reqStart: number): StatusAt | null {
  const close = findClosingQuote(line, reqStart);
  const strict = close >= 0 ? statusAfter(line, close) : null;
  if (strict && looksRight(strict)) return strict;
  // Fallback for unescaped quotes inside %r: the first `" ddd size` after the opening quote.
  for (let q = line.indexOf(QUOTE, reqStart); q >= 0; q = line.indexOf(QUOTE, q + 1)) {
    const at = statusAfter(line, q);
    if (at && looksRight(at)) return at;
  }
  // Layout without a valid status or size: the caller reports which one is wrong.
  return strict;
}

function looksRight(at: StatusAt): boolean {
  return /^\d{3}$/.test(at.status) && /^(\d+|-)$/.test(at.size);
}

/** `" status size` then end of line or a space, starting at the quote `q`. */
function statusAfter(line: Buffer, q: number): StatusAt | null {
  if (line[q + 1] !== SPACE) return null;
  const statusStart = q + 2;
  const statusEnd = line.indexOf(SPACE, statusStart);
  if (statusEnd <= statusStart) return null;
  const sizeStart = statusEnd + 1;
  let sizeEnd = line.indexOf(SPACE, sizeStart);
  if (sizeEnd < 0) sizeEnd = line.length;
  if (sizeEnd <= sizeStart) return null;
  return {
    reqEnd: q,
    status: line.toString('latin1', statusStart, statusEnd),
    size: line.toString('latin1', sizeStart, sizeEnd),
    after: sizeEnd,
  };
}

/** Index of the first unescaped `"` at or after `from`, or -1. */
function findClosingQuote(line: Buffer, from: number): number {
  for (let q = line.indexOf(QUOTE, from); q >= 0; q = line.indexOf(QUOTE, q + 1)) {
    // Escaped when preceded by an odd run of backslashes (each `\\` pair is one escaped backslash).
    let run = 0;
    while (q - run - 1 >= from && line[q - run - 1] === BACKSLASH) run++;
    if (run % 2 === 0) return q;
  }
  return -1;
}

/** A quoted field starting at `open` (which must be a quote): its raw bytes and the index after it. */
function readQuoted(line: Buffer, open: number): { raw: Buffer; next: number } | null {
  if (line[open] !== QUOTE) return null;
  const close = findClosingQuote(line, open + 1);
  if (close < 0) return null;
  return { raw: line.subarray(open + 1, close), next: close + 1 };
}

function skipSpaces(line: Buffer, i: number): number {
  while (i < line.length && (line[i] === SPACE || line[i] === 0x09)) i++;
  return i;
}

const C_ESCAPES: Record<string, number> = { n: 0x0a, t: 0x09, r: 0x0d, v: 0x0b, f: 0x0c, b: 0x08, a: 0x07 };

/**
 * Undoes Apache's and nginx's escaping: `\"` `\\` → the character, `\xhh` (either case) → the byte,
 * `\n` `\t` `\r` `\v` `\f` `\b` `\a` → the control byte. Any other backslash (one an unescaping server
 * left, or a `\x` not followed by two hex digits) is kept as it is.
 */
export function unescapeLogBytes(raw: Buffer): Buffer {
  if (raw.indexOf(BACKSLASH) < 0) return raw;
  const out = Buffer.allocUnsafe(raw.length);
  let n = 0;
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as number;
    if (b !== BACKSLASH || i + 1 >= raw.length) {
      out[n++] = b;
      continue;
    }
    const next = raw[i + 1] as number;
    const ch = String.fromCharCode(next);
    if (next === QUOTE || next === BACKSLASH) {
      out[n++] = next;
      i++;
    } else if (ch === 'x' && isHex(raw[i + 2]) && isHex(raw[i + 3])) {
      out[n++] = parseInt(String.fromCharCode(raw[i + 2] as number, raw[i + 3] as number), 16);
      i += 3;
    } else if (C_ESCAPES[ch] !== undefined) {
      out[n++] = C_ESCAPES[ch] as number;
      i++;
    } else {
      out[n++] = b;
    }
  }
  return out.subarray(0, n);
}

function isHex(b: number | undefined): boolean {
  return b !== undefined && ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));
}
