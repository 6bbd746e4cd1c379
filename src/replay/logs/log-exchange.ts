/**
 * Turning one access-log record into a ReplayExchange, and the records of a file into a ReplayInput.
 *
 * A log records a request and the status it got, never bodies: both bodies are empty, `bodyBytes`
 * carries the logged size, and both messages are `complete` (the log wrote them as finished). The
 * response's only header is `content-length`, set to the logged body size. Exchanges are sorted by
 * time; equal times keep file order (Array.prototype.sort is stable, ECMAScript 2019).
 */

import type { HeaderPairs, Problem, ReplayExchange, ReplayInput } from '../types.js';

export interface LogRecord {
  line: number;
  clientIp: string;
  clientPort: number | null;
  tsUs: number;
  method: string;
  target: string;
  version: string;
  requestHeaders: HeaderPairs;
  /** Request body size when the log has it (Envoy's bytes_received), else 0. */
  requestBodyBytes: number;
  /** null: the log says no response was sent (Envoy response_code 0). */
  response: { tsUs: number; status: number; bodyBytes: number } | null;
}

const EMPTY = Buffer.alloc(0);

export function recordToExchange(r: LogRecord): ReplayExchange {
  return {
    tsUs: r.tsUs,
    clientIp: r.clientIp,
    clientPort: r.clientPort,
    origin: `line ${r.line}`,
    request: {
      tsUs: r.tsUs,
      method: r.method,
      target: r.target,
      version: r.version,
      headers: r.requestHeaders,
      body: EMPTY,
      bodyBytes: r.requestBodyBytes,
      complete: true,
    },
    response: r.response && {
      tsUs: r.response.tsUs,
      status: r.response.status,
      // Not logged; the server answers in the request's major version (HTTP/1.x servers send 1.1).
      version: r.version.startsWith('HTTP/1') ? 'HTTP/1.1' : r.version,
      headers: [['content-length', String(r.response.bodyBytes)]],
      body: EMPTY,
      bodyBytes: r.response.bodyBytes,
      complete: true,
    },
  };
}

export function logInput(
  file: string,
  kind: 'combined-log' | 'envoy-json-log',
  exchanges: ReplayExchange[],
  problems: Problem[],
  lines: number,
): ReplayInput {
  exchanges.sort((a, b) => a.tsUs - b.tsUs);
  return {
    file,
    kind,
    requests: exchanges.length,
    responses: exchanges.filter((e) => e.response !== null).length,
    exchanges,
    udpHttpRequests: 0,
    problems,
    lines,
  };
}

/**
 * Whether a logged value can be sent as a header field value: RFC 9110 §5.5 allows visible bytes,
 * obs-text (0x80–0xFF), space and tab. A logged CR, LF or NUL (written escaped, undone by the reader)
 * cannot have arrived in a header and would split or cut the header on replay, so it is refused.
 */
export function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** A short printable excerpt of a line for problem details: non-printable bytes as \xhh, at most `max` chars. */
export function excerpt(bytes: Buffer, max = 80): string {
  let out = '';
  for (const b of bytes) {
    if (out.length >= max) return `${out}…`;
    out += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** A problem tied to a line: detail starts with `line N:`. */
export function lineProblem(kind: string, line: number, what: string): Problem {
  return { kind, detail: `line ${line}: ${what}` };
}
