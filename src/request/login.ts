/**
 * Login attempts: the username a request tries (from a JSON body field, a form field or a header) and
 * whether the upstream said it failed. The username is normalised (trimmed, lower-cased, at most
 * MAX_USERNAME_CHARS) and only ever leaves this file as a keyed hash (`user:<hex>`): raw usernames
 * are personal data and are never stored or logged. Pure and never throws.
 */
import type { FailureSignal, UsernameSource } from '../policy/endpoints.js';
import type { HeaderList } from './headers.js';
import { scanJsonField } from './json-field.js';
import type { Pseudonymizer } from './keyed-hash.js';

export const MAX_USERNAME_CHARS = 256;

/**
 * Why a login body gave no username although it was there to read (the request is still decided,
 * username unknown): `login-json-too-deep` nested beyond MAX_JSON_DEPTH, `login-json-invalid` not one
 * complete JSON document (also a truncated one).
 */
export type LoginBodyProblem = 'login-json-too-deep' | 'login-json-invalid';

/** The pseudonymised username, or null when the request carries none. */
export function extractUsername(
  source: UsernameSource,
  headers: HeaderList,
  body: Buffer | null,
  pseudonymize: Pseudonymizer,
): string | null {
  return readUsername(source, headers, body, pseudonymize).username;
}

/** The pseudonymised username (or null) and, when the body could not be read, why. */
export function readUsername(
  source: UsernameSource,
  headers: HeaderList,
  body: Buffer | null,
  pseudonymize: Pseudonymizer,
): { username: string | null; problem: LoginBodyProblem | null } {
  const { raw, problem } = rawUsername(source, headers, body);
  if (raw === null) return { username: null, problem };
  const norm = normaliseUsername(raw);
  return { username: norm === '' ? null : pseudonymize('user', norm), problem };
}

/** Trimmed, lower-cased, at most MAX_USERNAME_CHARS: `Alice@Example.com ` and `alice@example.com` are one target. */
export function normaliseUsername(raw: string): string {
  return raw.trim().toLowerCase().slice(0, MAX_USERNAME_CHARS);
}

/** Whether this source needs the request body (which Envoy sends only when asked: mode_override). */
export function needsBody(source: UsernameSource): boolean {
  return source.from !== 'header';
}

function rawUsername(source: UsernameSource, headers: HeaderList, body: Buffer | null): { raw: string | null; problem: LoginBodyProblem | null } {
  switch (source.from) {
    case 'header':
      return { raw: headers.get(source.name) ?? null, problem: null };
    case 'json':
      return body ? jsonField(body, source.field) : { raw: null, problem: null };
    case 'form':
      return { raw: body ? formField(body, source.field) : null, problem: null };
  }
}

/**
 * A JSON field path (`user.email`) by one bounded forward scan (json-field.ts), never JSON.parse: a
 * deeply nested body would otherwise cost a parse tree's worth of CPU on the only thread.
 */
function jsonField(body: Buffer, path: string): { raw: string | null; problem: LoginBodyProblem | null } {
  const r = scanJsonField(body, path.split('.'));
  switch (r.outcome) {
    case 'ok':
      return { raw: r.value, problem: null };
    case 'too-deep':
      return { raw: null, problem: 'login-json-too-deep' };
    case 'invalid':
    case 'incomplete':
      return { raw: null, problem: body.length === 0 ? null : 'login-json-invalid' };
  }
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
