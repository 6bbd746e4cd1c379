/**
 * Endpoint normalisation and templating: `GET /users/42/orders?x=1` → path `/users/42/orders`,
 * template `/users/{id}/orders`, objectIds `['42']`.
 *
 * Path normalisation (RFC 3986 §6.2.2 and §5.2.4), in this order:
 *  1. Everything from the first `?` or `#` is dropped; the rest is cut to MAX_PATH_CHARS.
 *  2. A path not starting with `/` (e.g. `*`, absolute-form leftovers) gets one prepended.
 *  3. Per segment, percent-escapes of unreserved characters (A-Z a-z 0-9 - . _ ~) are decoded, other
 *     valid escapes are upper-cased (`%2f` → `%2F`, which stays inside its segment), and invalid ones
 *     (`%zz`, a lone `%`) are kept as-is. Characters that may not appear literally in a path
 *     (controls, space, `"<>\^\`{|}`, bytes ≥ 0x80) are percent-encoded, so the result is printable ASCII.
 *  4. Empty segments are dropped (`//` collapses, no trailing slash except for `/` itself), `.` is
 *     removed and `..` removes the previous segment but never climbs above the root. Decoding comes
 *     first, so `%2e%2e` counts as `..`.
 *  5. At most MAX_SEGMENTS segments are kept, and the result is cut to MAX_PATH_CHARS (never inside an
 *     escape), since encoding raw bytes can make it longer than the input.
 *
 * A segment becomes `{id}` in the template when it is (checked on the normalised segment):
 *  - all digits: `42`;
 *  - a UUID (8-4-4-4-12 hex, any case);
 *  - hex of at least 8 chars containing a digit: `5f1c2ab9e0`;
 *  - an opaque token: at least 20 chars of [A-Za-z0-9_-+/=] (`%2B`, `%2F`, `%3D` count as `+`, `/`, `=`)
 *    with at least one letter and one digit (random keys, base64/base64url blobs, long slugs with numbers);
 *  - a number with a file extension (`12345.json`: digits, `.`, a letter, up to 7 more alphanumerics) or
 *    with a short word prefix and a separator (`user-42`, `ord_9876`: 1-12 letters, `-` or `_`, digits).
 * Short alphanumerics such as `v1`, `v2beta`, `oauth2` and ordinary words never match. The templated
 * segments go to objectIds in order. Pure and never throws.
 */

import type { Endpoint } from './types.js';

export const MAX_PATH_CHARS = 2048;
export const MAX_SEGMENTS = 64;
export const MAX_METHOD_CHARS = 32;
export const ID_PLACEHOLDER = '{id}';
export const INVALID_METHOD = 'INVALID';

const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function normaliseEndpoint(method: string, rawPath: string): Endpoint {
  const segments = normaliseSegments(typeof rawPath === 'string' ? rawPath : '');
  const objectIds: string[] = [];
  const templated = segments.map((seg) => {
    if (!isObjectId(seg)) return seg;
    objectIds.push(seg);
    return ID_PLACEHOLDER;
  });
  return {
    method: normaliseMethod(method),
    path: `/${segments.join('/')}`,
    template: `/${templated.join('/')}`,
    objectIds,
    query: rawQuery(typeof rawPath === 'string' ? rawPath : ''),
  };
}

/** The raw query (after the first `?`, before any `#`), cut to MAX_PATH_CHARS; '' when none. */
function rawQuery(rawPath: string): string {
  const q = rawPath.indexOf('?');
  if (q < 0) return '';
  const rest = rawPath.slice(q + 1);
  const hash = rest.indexOf('#');
  return (hash < 0 ? rest : rest.slice(0, hash)).slice(0, MAX_PATH_CHARS);
}

/** Upper-cased RFC 9110 token, or 'INVALID' (empty, too long, or containing non-token characters). */
export function normaliseMethod(method: string): string {
  if (typeof method !== 'string' || method.length === 0 || method.length > MAX_METHOD_CHARS) {
    return INVALID_METHOD;
  }
  return TOKEN_CHARS.test(method) ? method.toUpperCase() : INVALID_METHOD;
}

function normaliseSegments(rawPath: string): string[] {
  let end = rawPath.length;
  for (const stop of ['?', '#']) {
    const at = rawPath.indexOf(stop);
    if (at >= 0 && at < end) end = at;
  }
  const path = rawPath.slice(0, Math.min(end, MAX_PATH_CHARS));

  const out: string[] = [];
  for (const raw of splitSlashes(path)) {
    if (raw === '') continue;
    const seg = normaliseSegment(raw);
    if (seg === '.') continue;
    if (seg === '..') {
      out.pop();
      continue;
    }
    out.push(seg);
  }
  return capLength(out.length > MAX_SEGMENTS ? out.slice(0, MAX_SEGMENTS) : out);
}

/** The segments of a normalised path (`/` has none), as endpoint rules match them. */
export function pathSegments(path: string): string[] {
  return path === '/' ? [] : splitSlashes(path.slice(1));
}

/**
 * `text.split('/')`: every piece between slashes, empty ones included. Written with indexOf because
 * String.prototype.split is a runtime call that showed up in request-path profiles (2.5× slower here).
 */
function splitSlashes(text: string): string[] {
  const pieces: string[] = [];
  let start = 0;
  for (let at = text.indexOf('/'); at >= 0; at = text.indexOf('/', start)) {
    pieces.push(text.slice(start, at));
    start = at + 1;
  }
  pieces.push(text.slice(start));
  return pieces;
}

/** Percent-encoding can triple the length: cut the joined path to MAX_PATH_CHARS, never inside an escape. */
function capLength(segments: string[]): string[] {
  const out: string[] = [];
  let total = 0;
  for (const seg of segments) {
    const room = MAX_PATH_CHARS - total - 1;
    if (seg.length <= room) {
      out.push(seg);
      total += seg.length + 1;
      continue;
    }
    let cut = seg.slice(0, Math.max(0, room));
    const pct = cut.lastIndexOf('%');
    if (pct >= 0 && pct >= cut.length - 2 && isHexDigit(seg[pct + 1]) && isHexDigit(seg[pct + 2])) {
      cut = cut.slice(0, pct);
    }
    if (cut !== '' && cut !== '.' && cut !== '..') out.push(cut);
    break;
  }
  return out;
}

const HEX = '0123456789ABCDEF';

function isHexDigit(c: string | undefined): c is string {
  return c !== undefined && /^[0-9A-Fa-f]$/.test(c);
}

function isUnreserved(code: number): boolean {
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e
  );
}

/** pchar minus unreserved and `%`: sub-delims, `:` and `@` may appear literally in a segment. */
function isLiteralDelim(c: string): boolean {
  return "!$&'()*+,;=:@".includes(c);
}

function encodeByte(b: number): string {
  return `%${HEX[b >> 4]}${HEX[b & 15]}`;
}

/**
 * One path segment as step 3 of the header normalises it. Exported for policy path patterns, which are
 * normalised the same way so that what a pattern says matches what arrives (policy/endpoints.ts).
 */
export function normaliseSegment(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    const code = raw.charCodeAt(i);
    if (c === '%') {
      const h1 = raw[i + 1];
      const h2 = raw[i + 2];
      if (isHexDigit(h1) && isHexDigit(h2)) {
        const byte = parseInt(h1 + h2, 16);
        out += isUnreserved(byte) ? String.fromCharCode(byte) : encodeByte(byte);
        i += 2;
      } else {
        out += '%'; // invalid escape: kept as-is
      }
      continue;
    }
    if (isUnreserved(code) || isLiteralDelim(c)) {
      out += c;
    } else if (code <= 0xff) {
      out += encodeByte(code); // header values are latin1 byte strings
    } else {
      for (const b of Buffer.from(String.fromCodePoint(raw.codePointAt(i) ?? 0xfffd), 'utf8')) {
        out += encodeByte(b);
      }
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < raw.length) i++; // surrogate pair consumed
    }
  }
  return out;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ALL_DIGITS = /^[0-9]+$/;
const HEX_ID = /^[0-9a-f]{8,}$/i;
const OPAQUE_TOKEN = /^[A-Za-z0-9_\-+/=]{20,}$/;
const NUMBER_WITH_EXT = /^[0-9]+\.[A-Za-z][A-Za-z0-9]{0,7}$/;
const PREFIXED_NUMBER = /^[A-Za-z]{1,12}[-_][0-9]+$/;

/** Whether a normalised path segment looks like an object identifier (see the file header). */
export function isObjectId(seg: string): boolean {
  if (ALL_DIGITS.test(seg) || UUID.test(seg)) return true;
  if (HEX_ID.test(seg) && /[0-9]/.test(seg)) return true;
  if (NUMBER_WITH_EXT.test(seg) || PREFIXED_NUMBER.test(seg)) return true;
  if (seg.length >= 20) {
    const token = seg.replace(/%2B/g, '+').replace(/%2F/g, '/').replace(/%3D/g, '=');
    if (OPAQUE_TOKEN.test(token) && /[A-Za-z]/.test(token) && /[0-9]/.test(token)) return true;
  }
  return false;
}
