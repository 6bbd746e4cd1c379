/**
 * A replayed exchange as Envoy's ext_proc filter would see it: the request as Envoy's HTTP codec hands
 * it on (pseudo-headers, `host` as `:authority`, no hop-by-hop headers), the client address as the
 * `source.address` attribute, and the captured response played by the simulated upstream.
 */
import type { HeaderPairs, HttpExchange } from '../envoy-sim/index.js';
import type { ReplayExchange } from './types.js';

/**
 * Connection-specific fields (RFC 9110 §7.6.1) describe the captured connection, not the exchange;
 * an HTTP/2 hop never carries them (RFC 9113 §8.2.2). Framing fields go too: the body is handed over
 * decoded.
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

/** Status the simulated upstream answers with when the capture holds no response (timed out, cut off). */
export const NO_RESPONSE_STATUS = 502;

function clean(headers: HeaderPairs): HeaderPairs {
  return headers.filter(([k]) => !HOP_BY_HOP.has(k.toLowerCase()));
}

/** `ip:port`, IPv6 in brackets; a port-less client (access logs) gets port 0. */
export function socketAddress(ip: string, port: number | null): string {
  return ip.includes(':') ? `[${ip}]:${port ?? 0}` : `${ip}:${port ?? 0}`;
}

/**
 * The request target as `:path` and `:authority`: origin-form as is; absolute-form split into its
 * authority and path (a proxy request); `*` and authority-form kept as the path, as Envoy would
 * reject or route them itself.
 */
export function splitTarget(target: string): { path: string; authority: string | null } {
  const abs = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)([^#]*)/i.exec(target);
  if (abs) return { authority: abs[1]!.replace(/^[^@]*@/, '') || null, path: abs[2] || '/' };
  return { path: target === '' ? '/' : target, authority: null };
}

export function toSimExchange(x: ReplayExchange): HttpExchange {
  const { request, response } = x;
  const { path, authority } = splitTarget(request.target);
  const headers = clean(request.headers);
  const sim: HttpExchange = {
    method: request.method,
    path,
    headers,
    sourceAddress: socketAddress(x.clientIp, x.clientPort),
    upstream: response
      ? { status: response.status, headers: clean(response.headers).filter(([k]) => !k.startsWith(':')), body: response.body }
      : { status: NO_RESPONSE_STATUS },
  };
  if (authority) sim.authority = authority;
  // A capped body is played as captured; content-length still says what the client sent.
  if (request.body.length > 0) sim.body = request.body;
  return sim;
}
