import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Decision } from '../../src/decision/types.js';
import { replyToRequestHeaders } from '../../src/extproc/respond.js';
import type { HeaderValueOption } from '../../src/extproc/messages.js';
import type { ResponsesConfig } from '../../src/policy/policy.js';

const responses: ResponsesConfig = {
  challenge: { acrValues: 'urn:mfa', maxAgeS: 300, errorDescription: 'Step up' },
  tagUpstream: true,
};
const allow: Decision = {
  action: 'allow',
  shadowAction: null,
  reasons: [],
  identityKind: 'jwt',
  retryAfterS: null,
  rateLimit: null,
  failOpen: null,
  policyChecksum: 'c',
};
const reason = { detector: 'rate', signal: 'rate-z', value: 200, baseline: 5, threshold: 3, score: 9, windowMs: 60_000, action: 'throttle' as const, shadow: false };

function headerMap(list: HeaderValueOption[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list ?? []) {
    assert.equal(h.header?.value, undefined, 'value must never be set (raw_value only)');
    out[h.header!.key!] = Buffer.from(h.header!.raw_value!).toString('latin1');
  }
  return out;
}

test('allow: an empty HeadersResponse, never an empty ProcessingResponse', () => {
  const r = replyToRequestHeaders(allow, responses, []);
  assert.deepEqual(Object.keys(r), ['request_headers']);
  assert.deepEqual(r.request_headers, {});
});

test('allow strips client-sent x-vigil-* headers', () => {
  const r = replyToRequestHeaders(allow, responses, ['x-vigil-action']);
  assert.deepEqual(r.request_headers?.response?.header_mutation?.remove_headers, ['x-vigil-action']);
});

test('throttle: 429 with retry-after and RateLimit fields, in raw_value', () => {
  const d: Decision = { ...allow, action: 'throttle', reasons: [reason], retryAfterS: 42, rateLimit: { policy: 'rate', limit: 130, remaining: 0, windowS: 60, resetS: 42 } };
  const r = replyToRequestHeaders(d, responses, []);
  assert.equal(r.immediate_response?.status?.code, 429);
  const h = headerMap(r.immediate_response?.headers?.set_headers);
  assert.equal(h['retry-after'], '42');
  assert.equal(h['ratelimit-policy'], '"rate";q=130;w=60');
  assert.equal(h['ratelimit'], '"rate";r=0;t=42');
  assert.equal(r.immediate_response?.details, 'vigil_throttle');
  assert.deepEqual(JSON.parse(Buffer.from(r.immediate_response!.body!).toString()), { error: 'rate_limited', retry_after: 42 });
});

test('challenge: 401 with an RFC 9470 WWW-Authenticate', () => {
  const r = replyToRequestHeaders({ ...allow, action: 'challenge', reasons: [{ ...reason, action: 'challenge' }] }, responses, []);
  assert.equal(r.immediate_response?.status?.code, 401);
  const h = headerMap(r.immediate_response?.headers?.set_headers);
  assert.equal(
    h['www-authenticate'],
    'Bearer error="insufficient_user_authentication", error_description="Step up", acr_values="urn:mfa", max_age="300"',
  );
});

test('shadow: allowed, with x-vigil-shadow-action for the upstream', () => {
  const r = replyToRequestHeaders({ ...allow, shadowAction: 'throttle', reasons: [{ ...reason, shadow: true }] }, responses, []);
  const h = headerMap(r.request_headers?.response?.header_mutation?.set_headers);
  assert.deepEqual(h, { 'x-vigil-shadow-action': 'throttle', 'x-vigil-shadow-detectors': 'rate' });
});
