/**
 * HTTP/1.x start lines (RFC 9112 §3 request-line, §4 status-line) and the tests the reader uses to find the next one
 * after skipping damaged input. The grammar is in docs/replay-http.md; in short:
 *
 *   request-line = method SP request-target SP HTTP-version      method = token (RFC 9110 §9.1, §5.6.2)
 *   status-line  = HTTP-version SP 3DIGIT [ SP reason-phrase ]   HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3)
 *
 * A request line that starts with a method token followed by SP or the line end, but whose target or version is
 * missing or malformed, is "loose": the reader accepts it only when a well-formed header section follows.
 */

/** tchar (RFC 9110 §5.6.2): "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
const TCHAR = new Uint8Array(128);
for (const ch of "!#$%&'*+-.^_`|~") TCHAR[ch.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1;

export function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (!isTchar(s.charCodeAt(i))) return false;
  return true;
}

const VERSION = /^HTTP\/[0-9]\.[0-9]$/;
const VERSION_AT_END = / (HTTP\/[0-9]\.[0-9])$/;
/** request-target as a recipient sees it: one or more bytes that are neither controls, SP nor DEL (obs-text kept). */
const TARGET = /^[^\x00-\x20\x7f]+$/;
const STATUS_LINE = /^(HTTP\/[0-9]\.[0-9]) ([0-9]{3})(?: (.*))?$/s;

export interface RequestLine {
  method: string;
  target: string;
  /** As sent: 'HTTP/1.1'; for a loose line whatever stood there ('HTTP/1.', '') . */
  version: string;
  /** True when the line matches RFC 9112 §3 exactly. */
  strict: boolean;
}

export interface StatusLine {
  version: string;
  status: number;
  reason: string;
}

/** Length of the method token at the start of `line` when it is followed by SP or the line end, else 0. */
function methodLength(line: string): number {
  let i = 0;
  while (i < line.length && isTchar(line.charCodeAt(i))) i++;
  if (i === 0) return 0;
  if (i < line.length && line.charCodeAt(i) !== 0x20) return 0;
  return i;
}

/** Parses a request line; null when it does not start with a method token followed by SP or the line end. */
export function parseRequestLine(line: string): RequestLine | null {
  const m = methodLength(line);
  if (m === 0) return null;
  const method = line.slice(0, m);
  const rest = line.slice(m + 1);
  const sp = rest.indexOf(' ');
  if (sp > 0) {
    const target = rest.slice(0, sp);
    const version = rest.slice(sp + 1);
    if (TARGET.test(target) && VERSION.test(version)) return { method, target, version, strict: true };
  }
  // Loose: keep as much as can be told apart. A version at the end wins (a target with spaces in it);
  // otherwise the target is the first word and the version whatever follows it.
  const atEnd = VERSION_AT_END.exec(rest);
  if (atEnd !== null) return { method, target: rest.slice(0, atEnd.index).trim(), version: atEnd[1] as string, strict: false };
  const trimmed = rest.trim();
  const sp2 = trimmed.indexOf(' ');
  if (sp2 < 0) return { method, target: trimmed, version: '', strict: false };
  return { method, target: trimmed.slice(0, sp2), version: trimmed.slice(sp2 + 1).trim(), strict: false };
}

/** Parses a status line; null when it does not match RFC 9112 §4 (the SP before an empty reason may be missing). */
export function parseStatusLine(line: string): StatusLine | null {
  const m = STATUS_LINE.exec(line);
  if (m === null) return null;
  return { version: m[1] as string, status: Number(m[2]), reason: m[3] ?? '' };
}

/** True when the line is a request line by the strict grammar: the only kind the reader resyncs to. */
export function isStrictRequestLine(line: string): boolean {
  return parseRequestLine(line)?.strict === true;
}

export function isStatusLine(line: string): boolean {
  return STATUS_LINE.test(line);
}
