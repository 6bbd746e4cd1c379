import { createHash } from 'node:crypto';
import { ipPrefix } from '../request/cidr.js';
import type { Exchange } from '../request/exchange.js';
import type { SubjectKind } from './types.js';

/**
 * The state subject (and Redis hash tag) of an exchange for a subject kind, or null when the exchange
 * has none (no username outside login attempts):
 *   identity   the identity pseudonym (`jwt:…`, `api-key:…`, `session:…`, `ip:…`)
 *   client-ip  `cip:<ip>`
 *   ip-prefix  `pfx:<network>/<bits>` (/24 for IPv4, /48 for IPv6)
 *   username   the attempted username's pseudonym (`user:…`)
 *   endpoint   `ep:<group>` for a policy endpoint, else `ep:~<16 hex of method and template>`
 */
export function subjectOf(kind: SubjectKind, x: Exchange): string | null {
  switch (kind) {
    case 'identity':
      return x.facts.identity.id;
    case 'client-ip':
      return `cip:${x.facts.clientIp}`;
    case 'ip-prefix':
      return `pfx:${ipPrefix(x.facts.clientIp)}`;
    case 'username':
      return x.login?.username ?? null;
    case 'endpoint':
      return endpointSubject(x);
  }
}

export function endpointSubject(x: Exchange): string {
  if (x.endpoint.rule) return `ep:${x.endpoint.group}`;
  const { method, template } = x.facts.endpoint;
  return `ep:~${createHash('sha256').update(`${method} ${template}`).digest('hex').slice(0, 16)}`;
}
