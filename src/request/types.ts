import type { Cidr } from './cidr.js';

/** What vigil knows about one HTTP request once its headers have arrived. Built by pure functions in request/. */

export type IdentityKind = 'jwt' | 'api-key' | 'session' | 'ip';

export interface Identity {
  kind: IdentityKind;
  /**
   * Stable pseudonym: `<kind>:<32 hex chars of HMAC-SHA256(secret, kind + "\0" + raw value)>`.
   * Raw credentials never leave request/; this is what state keys and logs carry.
   */
  id: string;
}

export interface Endpoint {
  /** Upper-case method from :method. */
  method: string;
  /** Normalised path: no query, `//` collapsed, percent-encoding normalised, no dot segments. */
  path: string;
  /** Path with object ids replaced by `{id}`, e.g. `/users/{id}/orders`. */
  template: string;
  /** The raw id segments that became `{id}`, in order (for enumeration detectors). */
  objectIds: string[];
  /** The raw query string (no `?`), '' when none; read by endpoint rules that take an id from it. */
  query: string;
}

/** Verified JWT claims forwarded by Envoy's jwt_authn (only the ones vigil uses). */
export interface VerifiedClaims {
  acr?: string;
  amr?: string[];
  auth_time?: number;
}

export interface RequestFacts {
  identity: Identity;
  /** Client IP as resolved by the configured source (Envoy's source.address or x-forwarded-for hops). */
  clientIp: string;
  endpoint: Endpoint;
  authority: string;
  /** content-length when present and a sane non-negative integer, else null. */
  contentLength: number | null;
  /** The `user-agent` header, trimmed and capped; '' when absent. */
  userAgent: string;
  /** Present when identity came from a verified JWT. */
  claims: VerifiedClaims | null;
  /** Whether the client prefers a bearer-token challenge (API) over a browser redirect. */
  bearer: boolean;
}

/** How identity and client IP are resolved; comes from the policy's `identity:` section. */
export interface IdentityConfig {
  /** Resolution order; the first source that yields a value wins. Must end with 'ip'. */
  order: IdentityKind[];
  /** Header carrying the base64url JSON payload of a JWT that jwt_authn verified (forward_payload_header). */
  jwtPayloadHeader: string;
  /** Claim naming the subject. */
  jwtSubjectClaim: string;
  apiKeyHeader: string;
  sessionCookie: string;
  /** 'envoy' = the source.address attribute; 'xff' = x-forwarded-for with trustedHops. */
  clientIpSource: 'envoy' | 'xff';
  /** Number of trusted proxies appending to x-forwarded-for (the client is the hop before them). */
  trustedHops: number;
  /** Trusted proxy ranges; when non-empty they replace trustedHops (see client-ip.ts). */
  trustedProxies: readonly Cidr[];
}

export const defaultIdentityConfig: IdentityConfig = {
  order: ['jwt', 'api-key', 'session', 'ip'],
  jwtPayloadHeader: 'x-jwt-payload',
  jwtSubjectClaim: 'sub',
  apiKeyHeader: 'x-api-key',
  sessionCookie: 'session',
  clientIpSource: 'envoy',
  trustedHops: 0,
  trustedProxies: [],
};
