/**
 * Who is calling: the first source in cfg.order that yields a value, pseudonymised.
 *
 *  'jwt'     header cfg.jwtPayloadHeader: the base64url (or base64) JSON payload that Envoy's jwt_authn
 *            forwards (forward_payload_header) after verifying the token. At most MAX_JWT_PAYLOAD_CHARS;
 *            must decode to a JSON object whose cfg.jwtSubjectClaim is a non-empty string or a finite
 *            number. If the header appears several times with different values the source is ignored
 *            (ambiguous: only jwt_authn should set it, and Envoy's config must not let clients send it).
 *  'api-key' header cfg.apiKeyHeader, first value, trimmed; empty or longer than MAX_CREDENTIAL_CHARS
 *            is ignored.
 *  'session' cookie cfg.sessionCookie from every `cookie` header (`a=b; c=d`), first match, surrounding
 *            double quotes removed; empty or longer than MAX_CREDENTIAL_CHARS is ignored.
 *  'ip'      the resolved client IP. Always tried last even if cfg.order omits it.
 *
 * An `Authorization: Bearer` token is never an identity source: nothing here has verified it.
 * Raw values only ever go to `pseudonymize(kind, raw)`; the returned Identity and claims never carry
 * them (claims.sub is left out for that reason — identity.id is its pseudonym). Pure, never throws.
 */

import type { HeaderList } from './headers.js';
import type { Pseudonymizer } from './keyed-hash.js';
import type { Identity, IdentityConfig, VerifiedClaims } from './types.js';

export const MAX_JWT_PAYLOAD_CHARS = 16 * 1024;
export const MAX_CREDENTIAL_CHARS = 4096;
export const MAX_AMR_ENTRIES = 16;
const MAX_CLAIM_CHARS = 256;

export interface ResolvedIdentity {
  identity: Identity;
  /** Verified claims, only when the identity came from the JWT payload. */
  claims: VerifiedClaims | null;
}

export function resolveIdentity(
  headers: HeaderList,
  clientIp: string,
  cfg: IdentityConfig,
  pseudonymize: Pseudonymizer,
): ResolvedIdentity {
  // 'ip' is the fallback after the loop wherever cfg.order lists it, so the loop passes over it.
  for (const kind of cfg.order) {
    switch (kind) {
      case 'jwt': {
        const jwt = readJwtPayload(headers, cfg);
        if (jwt) return { identity: { kind, id: pseudonymize(kind, jwt.subject) }, claims: jwt.claims };
        break;
      }
      case 'api-key': {
        const key = usable(headers.get(cfg.apiKeyHeader));
        if (key !== null) return { identity: { kind, id: pseudonymize(kind, key) }, claims: null };
        break;
      }
      case 'session': {
        const session = usable(readCookie(headers, cfg.sessionCookie));
        if (session !== null) return { identity: { kind, id: pseudonymize(kind, session) }, claims: null };
        break;
      }
      case 'ip':
        break;
    }
  }
  return { identity: { kind: 'ip', id: pseudonymize('ip', clientIp) }, claims: null };
}

/** Trimmed value if non-empty and not over MAX_CREDENTIAL_CHARS, else null. */
function usable(value: string | undefined): string | null {
  if (value === undefined) return null;
  const v = value.trim();
  return v === '' || v.length > MAX_CREDENTIAL_CHARS ? null : v;
}

/** The first value of cookie `name` across all `cookie` headers, or undefined. */
export function readCookie(headers: HeaderList, name: string): string | undefined {
  if (name === '') return undefined;
  for (const line of headers.all('cookie')) {
    for (const pair of line.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
      let value = pair.slice(eq + 1).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value;
    }
  }
  return undefined;
}

interface JwtPayload {
  subject: string;
  claims: VerifiedClaims;
}

function readJwtPayload(headers: HeaderList, cfg: IdentityConfig): JwtPayload | null {
  if (headers.get(cfg.jwtPayloadHeader) === undefined) return null;
  const values = headers.all(cfg.jwtPayloadHeader).map((v) => v.trim());
  const first = values[0];
  if (first === undefined || first === '' || first.length > MAX_JWT_PAYLOAD_CHARS) return null;
  if (values.some((v) => v !== first)) return null;
  const payload = parseJsonObject(first);
  if (!payload) return null;

  const sub = payload[cfg.jwtSubjectClaim];
  let subject: string;
  if (typeof sub === 'string' && sub.trim() !== '') subject = sub;
  else if (typeof sub === 'number' && Number.isFinite(sub)) subject = String(sub);
  else return null;

  const claims: VerifiedClaims = {};
  const { acr, amr, auth_time: authTime } = payload;
  if (typeof acr === 'string' && acr.length <= MAX_CLAIM_CHARS) claims.acr = acr;
  if (Array.isArray(amr)) {
    claims.amr = amr
      .filter((m): m is string => typeof m === 'string' && m.length <= MAX_CLAIM_CHARS)
      .slice(0, MAX_AMR_ENTRIES);
  }
  if (typeof authTime === 'number' && Number.isFinite(authTime)) claims.auth_time = authTime;
  return { subject, claims };
}

/** base64url/base64 (padding optional) → JSON object, or null on any malformation. */
function parseJsonObject(encoded: string): Record<string, unknown> | null {
  if (!/^[A-Za-z0-9_\-+/]+={0,2}$/.test(encoded)) return null;
  const body = encoded.replace(/=+$/, '');
  if (body.length % 4 === 1) return null; // no base64 string has this length
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body, 'base64').toString('utf8'));
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return null;
  return parsed as Record<string, unknown>;
}
