/**
 * Headers (+ Envoy's source.address) → RequestFacts, the one input detectors see.
 *
 *  endpoint       from `:method` and `:path` (missing → method 'INVALID', path '/'), see endpoint.ts.
 *  authority      `:authority`, else `host`; trimmed, lower-cased, cut to MAX_AUTHORITY_CHARS; '' if absent.
 *  contentLength  `content-length` when every value (several lines or a comma list) is the same run of
 *                 decimal digits not above Number.MAX_SAFE_INTEGER; otherwise (absent, `-1`, `1e3`,
 *                 `99999999999999999999999`, conflicting values) null.
 *  userAgent      `user-agent`, trimmed, cut to MAX_USER_AGENT_CHARS; '' if absent.
 *  bearer         true when `authorization` uses the Bearer scheme, or when no `accept` value mentions
 *                 `text/html` (an API client rather than a browser): challenge with 401, not a redirect.
 *  identity/claims/clientIp  see identity.ts and client-ip.ts.
 * Pure; raw credentials never appear in the result.
 */

import { resolveClientIp } from './client-ip.js';
import { normaliseEndpoint } from './endpoint.js';
import type { HeaderList } from './headers.js';
import { resolveIdentity } from './identity.js';
import type { Pseudonymizer } from './keyed-hash.js';
import type { IdentityConfig, RequestFacts } from './types.js';

export const MAX_AUTHORITY_CHARS = 256;
export const MAX_USER_AGENT_CHARS = 256;

export interface FactsInput {
  headers: HeaderList;
  /** Envoy's `source.address` attribute, e.g. `10.0.0.7:51234` or `[2001:db8::1]:443`. */
  sourceAddress?: string;
}

export function resolveFacts(input: FactsInput, cfg: IdentityConfig, pseudonymize: Pseudonymizer): RequestFacts {
  const { headers } = input;
  const clientIp = resolveClientIp(headers, input.sourceAddress, cfg);
  const { identity, claims } = resolveIdentity(headers, clientIp, cfg, pseudonymize);
  return {
    identity,
    clientIp,
    endpoint: normaliseEndpoint(headers.get(':method') ?? '', headers.get(':path') ?? '/'),
    authority: resolveAuthority(headers),
    contentLength: parseContentLength(headers),
    userAgent: (headers.get('user-agent') ?? '').trim().slice(0, MAX_USER_AGENT_CHARS),
    claims,
    bearer: prefersBearer(headers),
  };
}

function resolveAuthority(headers: HeaderList): string {
  const value = headers.get(':authority') ?? headers.get('host') ?? '';
  return value.trim().toLowerCase().slice(0, MAX_AUTHORITY_CHARS);
}

export function parseContentLength(headers: HeaderList): number | null {
  if (headers.get('content-length') === undefined) return null;
  const parts = headers
    .all('content-length')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim());
  const first = parts[0];
  if (first === undefined || !/^[0-9]{1,20}$/.test(first)) return null;
  if (parts.some((p) => p !== first)) return null;
  const n = Number(first);
  return Number.isSafeInteger(n) ? n : null;
}

export function prefersBearer(headers: HeaderList): boolean {
  const auth = headers.get('authorization');
  if (auth !== undefined && /^bearer\s/i.test(auth.trimStart())) return true;
  return !headers.all('accept').some((v) => v.toLowerCase().includes('text/html'));
}
