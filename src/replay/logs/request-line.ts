/**
 * What a logged request line (`%r`, `$request`) says, and whether it can be replayed. Pure.
 *
 * The line is bytes (after the log's escaping is undone) and comes back as latin1 "byte strings", the
 * form vigil uses for header values (src/request/headers.ts): every byte is one char, so nothing is
 * lost and invalid UTF-8 or binary needs no decision.
 *
 *   `METHOD TARGET HTTP/x.y`  → a request. METHOD must be an RFC 9110 token; TARGET any run of bytes
 *                              without whitespace or control bytes (bytes ≥ 0x80 are kept: servers
 *                              log raw UTF-8 paths); the version `HTTP/d.d` or `HTTP/d` (mod_http2
 *                              logs `HTTP/2.0`). The target's form is left to the replay.
 *   `METHOD TARGET`           → an HTTP/0.9 request line (RFC 1945 §5: no version). Replayed as
 *                              HTTP/1.0, which is how Envoy classifies it (its protocol enum has no
 *                              0.9, and 0.9 is served through the HTTP/1.0 path: envoyproxy/envoy#2792,
 *                              #21445).
 *   `-` or empty              → 'none': no request line was read (Apache logs `-` for e.g. a 408 on
 *                              a connection that sent nothing). Nothing reached a filter; skipped.
 *   anything else             → 'bad': TLS ClientHellos and other binary sent to a plain-HTTP port,
 *                              extra words, a bad method or version. Envoy would fail such a stream in
 *                              its codec before any filter runs, so there is nothing to replay.
 */

export type RequestLine =
  | { kind: 'request'; method: string; target: string; version: string; http09: boolean }
  | { kind: 'none' }
  | { kind: 'bad'; reason: string };

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VERSION = /^HTTP\/\d(?:\.\d)?$/;

export function classifyRequestLine(bytes: Buffer): RequestLine {
  const text = bytes.toString('latin1');
  if (text === '' || text === '-') return { kind: 'none' };
  const parts = text.split(' ');
  if (parts.some((p) => p === '')) return { kind: 'bad', reason: 'empty word (doubled or edge space)' };
  if (parts.length < 2 || parts.length > 3) return { kind: 'bad', reason: `${parts.length} word(s)` };
  const [method = '', target = '', version] = parts;
  if (!isMethodToken(method)) return { kind: 'bad', reason: 'method is not a token' };
  if (!isTargetText(target)) return { kind: 'bad', reason: 'target has control bytes or whitespace' };
  if (version === undefined) return { kind: 'request', method, target, version: 'HTTP/1.0', http09: true };
  if (!isHttpVersion(version)) return { kind: 'bad', reason: 'no HTTP/x.y version' };
  return { kind: 'request', method, target, version, http09: false };
}

/** An RFC 9110 §5.6.2 token (methods are tokens, §9.1). */
export function isMethodToken(method: string): boolean {
  return TOKEN.test(method);
}

/** `HTTP/d.d`, or `HTTP/d` as Envoy writes HTTP/2 and HTTP/3. */
export function isHttpVersion(version: string): boolean {
  return VERSION.test(version);
}

/** Non-empty, no whitespace or control bytes (bytes from 0x80 up are allowed). */
export function isTargetText(target: string): boolean {
  if (target === '') return false;
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}
