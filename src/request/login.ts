/**
 * Login attempts: the username a request tries (from a JSON body field, a form field or a header) and
 * whether the upstream said it failed. The username is normalised (trimmed, lower-cased, at most
 * MAX_USERNAME_CHARS) and only ever leaves this file as a keyed hash (`user:<hex>`): raw usernames
 * are personal data and are never stored or logged. Pure and never throws.
 */
import type { FailureSignal, UsernameSource } from '../policy/endpoints.js';
import type { HeaderList } from './headers.js';
import type { Pseudonymizer } from './keyed-hash.js';

export const MAX_USERNAME_CHARS = 256;

/** The pseudonymised username, or null when the request carries none. */
export function extractUsername(
  source: UsernameSource,
  headers: HeaderList,
  body: Buffer | null,
  pseudonymize: Pseudonymizer,
): string | null {
  const raw = rawUsername(source, headers, body);
  if (raw === null) return null;
  const norm = normaliseUsername(raw);
  return norm === '' ? null : pseudonymize('user', norm);
}

/** Trimmed, lower-cased, at most MAX_USERNAME_CHARS: `Alice@Example.com ` and `alice@example.com` are one target. */
export function normaliseUsername(raw: string): string {
  return raw.trim().toLowerCase().slice(0, MAX_USERNAME_CHARS);
}

/** Whether this source needs the request body (which Envoy sends only when asked: mode_override). */
export function needsBody(source: UsernameSource): boolean {
  return source.from !== 'header';
}

function rawUsername(source: UsernameSource, headers: HeaderList, body: Buffer | null): string | null {
  switch (source.from) {
    case 'header':
      return headers.get(source.name) ?? null;
    case 'json':
      return body ? jsonField(body, source.field) : null;
    case 'form':
      return body ? formField(body, source.field) : null;
  }
}

function jsonField(body: Buffer, path: string): string | null {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  for (const key of path.split('.')) {
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return null;
    doc = (doc as Record<string, unknown>)[key];
  }
  if (typeof doc === 'string') return doc;
  if (typeof doc === 'number' && Number.isFinite(doc)) return String(doc);
  return null;
}

function formField(body: Buffer, field: string): string | null {
  return new URLSearchParams(body.toString('utf8')).get(field);
}

/** Facts about the upstream's response headers that detectors read. */
export interface ResponseFacts {
  status: number;
  /** content-length when sane, else null (chunked). */
  contentLength: number | null;
  headers: HeaderList;
}

/** Whether a login attempt failed by the endpoint's failure signal; every-attempt counts every one. */
export function loginFailed(signal: FailureSignal, response: ResponseFacts): boolean {
  switch (signal.kind) {
    case 'every-attempt':
      return true;
    case 'status':
      return signal.statuses.includes(response.status);
    case 'header': {
      const v = response.headers.get(signal.name);
      if (v === undefined) return false;
      return signal.value === null || v.trim().toLowerCase() === signal.value.toLowerCase();
    }
  }
}
