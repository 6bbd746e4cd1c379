/**
 * Turns one reassembled TCP connection into replay exchanges: the requests the client sent, each paired in order
 * with the final response the server sent (HTTP/1.1 answers requests on a connection in the order they arrived,
 * RFC 9112 §9.3.2). Interim 1xx responses are skipped (RFC 9110 §15.2); 101 Switching Protocols answers the
 * request that asked for the upgrade and, like a 2xx to CONNECT, ends HTTP on the connection (RFC 9110 §7.8, §9.3.6).
 */
import type { HttpResponse, Problem, ReplayExchange, TcpConnection, TcpEndpoint } from '../types.js';
import { readRequests, readResponses, type ReaderOptions } from './message-reader.js';

export interface ConnectionResult {
  /**
   * Requests captured whole. A message cut by capture loss or by the end of the capture is still
   * replayed (its start line and headers are what vigil needs) and its damage is a problem, but it is
   * not counted here: a dissector counts a message once all of it was reassembled (tshark does), and
   * these counts are compared with one.
   */
  requests: number;
  /** Final responses captured whole, matched or not (see `requests`). */
  responses: number;
  /** One per request, in order; `response` is null when none was seen. */
  exchanges: ReplayExchange[];
  problems: Problem[];
}

function endpoint(e: TcpEndpoint): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`;
}

/** How problems name a connection: `conn 12 (192.0.2.1:50000 → 198.51.100.2:80)`. */
export function connectionLabel(conn: TcpConnection): string {
  return `conn ${conn.id} (${endpoint(conn.client)} → ${endpoint(conn.server)})`;
}

export function pairConnection(conn: TcpConnection, opts: ReaderOptions = {}): ConnectionResult {
  const label = connectionLabel(conn);
  let reqs = readRequests(conn.toServer, opts);
  const resps = readResponses(
    conn.toClient,
    reqs.requests.map((r) => r.method),
    opts,
  );
  if (resps.endedAfter !== null && (reqs.requests.length > resps.endedAfter + 1 || reqs.problems.length > 0)) {
    // The client's bytes after the request that switched protocols are not HTTP: read again, stopping there.
    reqs = readRequests(conn.toServer, { ...opts, maxMessages: resps.endedAfter + 1 });
  }
  const problems: Problem[] = [];
  for (const p of reqs.problems) problems.push({ kind: p.kind, detail: `${label} client→server ${p.detail}` });
  for (const p of resps.problems) problems.push({ kind: p.kind, detail: `${label} server→client ${p.detail}` });

  const origin = `conn ${conn.id}`;
  const byRequest = new Map<number, HttpResponse>();
  resps.responses.forEach((res, i) => {
    const answers = resps.answers[i] ?? i;
    if (answers < reqs.requests.length) byRequest.set(answers, res);
    else problems.push({ kind: 'unmatched-response', detail: `${label}: response ${i + 1} (status ${res.status}) has no request to answer` });
  });
  const exchanges: ReplayExchange[] = reqs.requests.map((request, i) => ({
    tsUs: request.tsUs,
    clientIp: conn.client.ip,
    clientPort: conn.client.port,
    origin,
    request,
    response: byRequest.get(i) ?? null,
  }));
  const whole = (m: { complete: boolean }) => m.complete;
  return { requests: reqs.requests.filter(whole).length, responses: resps.responses.filter(whole).length, exchanges, problems };
}
