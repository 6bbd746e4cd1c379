/**
 * How long a message body is: RFC 9112 §6.3 ("Message Body Length"), applied in its order, for requests and for
 * responses (which also need the method of the request they answer). Invalid or conflicting framing is reported
 * as a problem with the RFC's remedy noted in docs/replay-http.md.
 */
import type { HeaderPairs } from '../types.js';
import { fieldValues } from './header-section.js';

export type Framing =
  | { kind: 'none' }
  | { kind: 'length'; length: number }
  | { kind: 'chunked' }
  /** Response body runs to the end of the connection (§6.3 item 8, or a non-chunked transfer coding). */
  | { kind: 'close' }
  /** 2xx to CONNECT (§6.3 item 2) or 101 Switching Protocols: HTTP ends on this connection after the headers. */
  | { kind: 'tunnel' }
  /** The length cannot be determined (§6.3 items 4 and 5): no body is read and the reader resyncs. */
  | { kind: 'invalid' };

export interface FramingProblem {
  kind: 'conflicting-framing' | 'bad-content-length' | 'bad-transfer-encoding';
  detail: string;
}

export interface FramingDecision {
  framing: Framing;
  problems: FramingProblem[];
}

/** Content-Length values: 1*DIGIT, possibly a list of identical values (RFC 9110 §8.6); null when invalid. */
function contentLength(values: readonly string[]): number | null {
  let found: string | null = null;
  for (const value of values) {
    for (const part of value.split(',')) {
      const v = part.trim();
      if (!/^[0-9]+$/.test(v)) return null;
      const norm = v.replace(/^0+(?=.)/, '');
      if (found !== null && found !== norm) return null;
      found = norm;
    }
  }
  if (found === null) return null;
  // Beyond 2^53 the exact number no longer matters: no capture holds that many bytes.
  return found.length > 15 ? Number.MAX_SAFE_INTEGER : Number(found);
}

/** Transfer codings in order, lower-cased (RFC 9112 §6.1); empty members of the list are ignored. */
function codings(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const value of values)
    for (const part of value.split(',')) {
      const name = (part.split(';')[0] ?? '').trim().toLowerCase();
      if (name.length > 0) out.push(name);
    }
  return out;
}

/** Items 3–7 of §6.3, shared by requests and responses. */
function fromFields(headers: HeaderPairs, isRequest: boolean): FramingDecision {
  const problems: FramingProblem[] = [];
  const te = fieldValues(headers, 'transfer-encoding');
  const cl = fieldValues(headers, 'content-length');
  if (te.length > 0) {
    // Item 3: Transfer-Encoding overrides Content-Length; sending both is a smuggling red flag.
    if (cl.length > 0)
      problems.push({ kind: 'conflicting-framing', detail: `both Transfer-Encoding "${te.join(', ')}" and Content-Length "${cl.join(', ')}"; Transfer-Encoding used` });
    const list = codings(te);
    if (list[list.length - 1] === 'chunked') return { framing: { kind: 'chunked' }, problems };
    if (!isRequest) return { framing: { kind: 'close' }, problems };
    problems.push({ kind: 'bad-transfer-encoding', detail: `request Transfer-Encoding "${te.join(', ')}" does not end in chunked; body length unknown` });
    return { framing: { kind: 'invalid' }, problems };
  }
  if (cl.length > 0) {
    const length = contentLength(cl);
    if (length === null) {
      problems.push({ kind: 'bad-content-length', detail: `Content-Length "${cl.join(', ')}" is not one number; body length unknown` });
      return { framing: { kind: 'invalid' }, problems };
    }
    return { framing: length === 0 ? { kind: 'none' } : { kind: 'length', length }, problems };
  }
  return { framing: isRequest ? { kind: 'none' } : { kind: 'close' }, problems };
}

/** Request body length: §6.3 items 3–6 (no Transfer-Encoding and no Content-Length: no body). */
export function requestFraming(headers: HeaderPairs): FramingDecision {
  return fromFields(headers, true);
}

/** Response body length: §6.3 items 1–2 (by method and status), then 3–5, then 7 (read until close). */
export function responseFraming(method: string, status: number, headers: HeaderPairs): FramingDecision {
  if (status === 101) return { framing: { kind: 'tunnel' }, problems: [] };
  if (method === 'CONNECT' && status >= 200 && status < 300) return { framing: { kind: 'tunnel' }, problems: [] };
  if (method === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304) return { framing: { kind: 'none' }, problems: [] };
  return fromFields(headers, false);
}
