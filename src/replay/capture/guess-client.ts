/**
 * Which side of a connection opened it, when its SYN was not captured (docs/replay-captures.md, "Client
 * guess"): the side whose first bytes read like an HTTP request line; else the side not on a well-known
 * HTTP port; else the higher port; else the side seen first.
 */
import type { StreamPiece, TcpEndpoint } from '../types.js';

/** Ports HTTP servers commonly listen on (IANA http/https/http-alt plus common development ports). */
export const HTTP_SERVER_PORTS: ReadonlySet<number> = new Set([
  80, 443, 591, 3000, 4000, 5000, 8000, 8008, 8080, 8081, 8088, 8443, 8888, 9000, 9080, 9443,
]);

/** Method token (RFC 9110 §9.1: a token), one space, then a request-target in one of RFC 9112 §3.2's forms. */
const REQUEST_START = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32} (\/|\*|[A-Za-z][A-Za-z0-9+.-]*:\/\/|[A-Za-z0-9.\-[\]:]+:\d+ )/;

/** Does the stream's first captured data read like the start of an HTTP request? */
export function looksLikeRequest(stream: StreamPiece[]): boolean {
  const first = stream[0];
  if (!first || first.kind !== 'data') return false;
  return REQUEST_START.test(first.data.subarray(0, 128).toString('latin1'));
}

/** 0 when `a` is more likely the client, 1 when `b` is. `a` is the side seen first. */
export function guessClient(a: TcpEndpoint, aStream: StreamPiece[], b: TcpEndpoint, bStream: StreamPiece[]): 0 | 1 {
  const aReq = looksLikeRequest(aStream);
  const bReq = looksLikeRequest(bStream);
  if (aReq !== bReq) return aReq ? 0 : 1;
  const aWell = HTTP_SERVER_PORTS.has(a.port);
  const bWell = HTTP_SERVER_PORTS.has(b.port);
  if (aWell !== bWell) return aWell ? 1 : 0;
  if (a.port !== b.port) return a.port > b.port ? 0 : 1;
  return 0;
}
