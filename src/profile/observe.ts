/**
 * One replayed exchange → what profiling needs to know about it, and nothing more: who called (a
 * pseudonym, never the raw key, token or cookie), the method and normalised path with vigil's own
 * template (request/endpoint.ts), the response's status, size, content type, cacheability and
 * redirect target, and what the request body says about a login form (the names of its fields, never
 * their values). Pure; the pseudonyms are keyed with a secret the caller gives (a fresh random one per
 * run in `vigil profile`), so they cannot be reversed and are never written out.
 */
import { normaliseEndpoint } from '../request/endpoint.js';
import type { Pseudonymizer } from '../request/keyed-hash.js';
import type { IdentityKind } from '../request/types.js';
import { splitTarget } from '../replay/to-sim-exchange.js';
import type { HeaderPairs, ReplayExchange } from '../replay/types.js';

export interface Observation {
  tsMs: number;
  /** `<kind>:<pseudonym>`. */
  caller: string;
  kind: IdentityKind;
  method: string;
  path: string;
  /** vigil's template: id-like segments replaced by `{id}`. */
  template: string;
  objectIds: string[];
  /** null when the input holds no response (or status 0). */
  status: number | null;
  responseBytes: number;
  /** Lower-cased media type without parameters, or null when not known (access logs). */
  contentType: string | null;
  /** Cache-Control says public or a max-age > 0 (null when the input does not say). */
  cacheable: boolean | null;
  /** The path of a redirect's Location, or null. */
  location: string | null;
  /** The request body's kind and field names, when a body was captured. */
  body: { kind: 'form' | 'json'; fields: string[] } | null;
}

function header(headers: HeaderPairs, name: string): string | null {
  for (const [k, v] of headers) if (k.toLowerCase() === name) return v;
  return null;
}

function cookie(headers: HeaderPairs, name: string): string | null {
  const raw = header(headers, 'cookie');
  if (raw === null) return null;
  for (const part of raw.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/** The identity in the default policy's order (jwt, api-key, session, ip) from what a capture or log holds. */
function callerOf(x: ReplayExchange, pseudonym: Pseudonymizer): { caller: string; kind: IdentityKind } {
  const h = x.request.headers;
  // vigil reads a JWT's subject from the header Envoy fills after verifying it; a capture taken in
  // front of Envoy has the bearer token itself, which stands for the same caller here.
  const auth = header(h, 'authorization');
  if (auth && /^bearer\s+\S/i.test(auth)) return { caller: pseudonym('jwt', auth.replace(/^bearer\s+/i, '')), kind: 'jwt' };
  const apiKey = header(h, 'x-api-key');
  if (apiKey) return { caller: pseudonym('api-key', apiKey), kind: 'api-key' };
  const session = cookie(h, 'session');
  if (session) return { caller: pseudonym('session', session), kind: 'session' };
  return { caller: pseudonym('ip', x.clientIp), kind: 'ip' };
}

function mediaType(v: string | null): string | null {
  if (v === null) return null;
  const t = v.split(';')[0]!.trim().toLowerCase();
  return t === '' ? null : t;
}

function cacheable(v: string | null): boolean | null {
  if (v === null) return null;
  const l = v.toLowerCase();
  if (/no-store|no-cache|private/.test(l)) return false;
  const age = /max-age=(\d+)/.exec(l);
  return l.includes('public') || (age !== null && Number(age[1]) > 0) || l.includes('immutable');
}

/** Field names of a form or JSON body (top level), never their values. */
function bodyFields(x: ReplayExchange): Observation['body'] {
  const body = x.request.body;
  if (body.length === 0) return null;
  const type = mediaType(header(x.request.headers, 'content-type'));
  const text = body.subarray(0, 16_384).toString('latin1');
  if (type === 'application/x-www-form-urlencoded') {
    const fields = text.split('&').map((p) => decodeURIComponentSafe(p.split('=')[0]!)).filter((f) => f !== '');
    return { kind: 'form', fields };
  }
  if (type === 'application/json' || type?.endsWith('+json')) {
    try {
      const doc = JSON.parse(text) as unknown;
      if (doc !== null && typeof doc === 'object' && !Array.isArray(doc)) return { kind: 'json', fields: Object.keys(doc) };
    } catch {
      return null;
    }
  }
  return null;
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

export function observe(x: ReplayExchange, pseudonym: Pseudonymizer): Observation {
  const { path: target } = splitTarget(x.request.target);
  const ep = normaliseEndpoint(x.request.method, target);
  const res = x.response;
  const location = res ? header(res.headers, 'location') : null;
  return {
    tsMs: Math.floor(x.tsUs / 1000),
    ...callerOf(x, pseudonym),
    method: ep.method,
    path: ep.path,
    template: ep.template,
    objectIds: ep.objectIds,
    status: res && res.status > 0 ? res.status : null,
    responseBytes: res ? Math.max(res.bodyBytes, Number(header(res.headers, 'content-length') ?? 0) || 0) : 0,
    contentType: res ? mediaType(header(res.headers, 'content-type')) : null,
    cacheable: res ? cacheable(header(res.headers, 'cache-control')) : null,
    location: location === null ? null : normaliseEndpoint('GET', splitTarget(location).path).path,
    body: bodyFields(x),
  };
}
