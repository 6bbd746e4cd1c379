import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Decision } from '../../src/decision/types.js';
import { replyToRequestHeaders, replyToResponseHeaders } from '../../src/extproc/respond.js';
import type { ReplyContext } from '../../src/extproc/respond.js';
import type { HeaderValueOption } from '../../src/extproc/messages.js';
import type { ResponsesConfig } from '../../src/policy/policy.js';

const responses: ResponsesConfig = {
  challenge: { acrValues: 'urn:mfa', maxAgeS: 300, errorDescription: 'Step up', browser: { mode: 'redirect', url: 'https://id.example/step-up', status: 303, returnParam: 'return_to' } },
  tagUpstream: true,
  reasonHeader: { upstream: false, client: false },
  rateLimitHeaders: { near: 0.8 },
};
const api: ReplyContext = { responses, spoofed: [], challengeAs: 'api', returnTo: '/orders/7?x=1' };
const ctx = (over: Partial<ReplyContext> = {}): ReplyContext => ({ ...api, ...over });
const allow: Decision = {
  action: 'allow',
  shadowAction: null,
  reasons: [],
  identityKind: 'jwt',
  retryAfterS: null,
  rateLimit: null,
  failOpen: null,
  creditUntilMs: 0,
  stepUpCleared: false,
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
  const r = replyToRequestHeaders(allow, api);
  assert.deepEqual(Object.keys(r), ['request_headers']);
  assert.deepEqual(r.request_headers, {});
});

test('allow strips client-sent x-vigil-* headers', () => {
  const r = replyToRequestHeaders(allow, ctx({ spoofed: ['x-vigil-action'] }));
  assert.deepEqual(r.request_headers?.response?.header_mutation?.remove_headers, ['x-vigil-action']);
});

test('throttle: 429 with retry-after and RateLimit fields, in raw_value', () => {
  const d: Decision = { ...allow, action: 'throttle', reasons: [reason], retryAfterS: 42, rateLimit: { policy: 'rate', limit: 130, remaining: 0, windowS: 60, resetS: 42 } };
  const r = replyToRequestHeaders(d, api);
  assert.equal(r.immediate_response?.status?.code, 429);
  const h = headerMap(r.immediate_response?.headers?.set_headers);
  assert.equal(h['retry-after'], '42');
  assert.equal(h['ratelimit-policy'], '"rate";q=130;w=60');
  assert.equal(h['ratelimit'], '"rate";r=0;t=42');
  assert.equal(r.immediate_response?.details, 'vigil_throttle');
  assert.deepEqual(JSON.parse(Buffer.from(r.immediate_response!.body!).toString()), { error: 'rate_limited', retry_after: 42 });
});

test('challenge: 401 with an RFC 9470 WWW-Authenticate', () => {
  const r = replyToRequestHeaders({ ...allow, action: 'challenge', reasons: [{ ...reason, action: 'challenge' }] }, api);
  assert.equal(r.immediate_response?.status?.code, 401);
  const h = headerMap(r.immediate_response?.headers?.set_headers);
  assert.equal(
    h['www-authenticate'],
    'Bearer error="insufficient_user_authentication", error_description="Step up", acr_values="urn:mfa", max_age="300"',
  );
});

test('shadow: allowed, with x-vigil-shadow-action for the upstream', () => {
  const r = replyToRequestHeaders({ ...allow, shadowAction: 'throttle', reasons: [{ ...reason, shadow: true }] }, api);
  const h = headerMap(r.request_headers?.response?.header_mutation?.set_headers);
  assert.deepEqual(h, { 'x-vigil-shadow-action': 'throttle', 'x-vigil-shadow-detectors': 'rate' });
});

test('challenge for a browser: 303 to the step-up URL with the return location encoded', () => {
  const r = replyToRequestHeaders({ ...allow, action: 'challenge', reasons: [{ ...reason, action: 'challenge' }] }, ctx({ challengeAs: 'browser' }));
  assert.equal(r.immediate_response?.status?.code, 303);
  const h = headerMap(r.immediate_response?.headers?.set_headers);
  assert.equal(h['location'], 'https://id.example/step-up?return_to=%2Forders%2F7%3Fx%3D1');
  assert.equal(h['cache-control'], 'no-store');
  const json = replyToRequestHeaders(
    { ...allow, action: 'challenge', reasons: [{ ...reason, action: 'challenge' }] },
    ctx({ challengeAs: 'browser', responses: { ...responses, challenge: { ...responses.challenge, browser: { mode: 'json' } } } }),
  );
  assert.equal(json.immediate_response?.status?.code, 401, 'browser mode json: the 401 with a JSON body');
  assert.deepEqual(JSON.parse(Buffer.from(json.immediate_response!.body!).toString()), {
    error: 'insufficient_user_authentication',
    error_description: 'Step up',
    acr_values: 'urn:mfa',
    max_age: 300,
  });
});

test('fail-open: the upstream is told the decision was degraded', () => {
  const r = replyToRequestHeaders({ ...allow, failOpen: 'breaker-open' }, api);
  assert.deepEqual(headerMap(r.request_headers?.response?.header_mutation?.set_headers), { 'x-vigil-degraded': 'breaker-open' });
});

test('x-vigil-reason: to the upstream and to the client only when the policy says so', () => {
  const tagged: Decision = { ...allow, action: 'tag', reasons: [{ ...reason, action: 'tag', detector: 'scraping', signal: 'distinct-endpoints' }] };
  const off = headerMap(replyToRequestHeaders(tagged, api).request_headers?.response?.header_mutation?.set_headers);
  assert.equal(off['x-vigil-reason'], undefined);
  const on = headerMap(
    replyToRequestHeaders(tagged, ctx({ responses: { ...responses, reasonHeader: { upstream: true, client: false } } })).request_headers?.response?.header_mutation?.set_headers,
  );
  assert.equal(on['x-vigil-reason'], 'scraping; signal=distinct-endpoints; value=200; baseline=5; threshold=3; score=9; window=60s; action=tag');
  const throttled: Decision = { ...allow, action: 'throttle', reasons: [{ ...reason, level: 1 }], retryAfterS: 5 };
  assert.equal(headerMap(replyToRequestHeaders(throttled, api).immediate_response?.headers?.set_headers)['x-vigil-reason'], undefined, 'off toward the client by default');
  const toClient = headerMap(
    replyToRequestHeaders(throttled, ctx({ responses: { ...responses, reasonHeader: { upstream: false, client: true } } })).immediate_response?.headers?.set_headers,
  );
  assert.match(toClient['x-vigil-reason']!, /^rate; signal=rate-z; .*action=throttle; level=1$/);
});

test('soft limits: RateLimit fields on the response once the caller has used `near` of the limit', () => {
  const near: Decision = { ...allow, rateLimit: { policy: 'rate', limit: 100, remaining: 15, windowS: 60, resetS: 20 } };
  const h = headerMap(replyToResponseHeaders(near, responses, null).response_headers?.response?.header_mutation?.set_headers);
  assert.deepEqual(h, { 'ratelimit-policy': '"rate";q=100;w=60', ratelimit: '"rate";r=15;t=20' });
  const far: Decision = { ...near, rateLimit: { ...near.rateLimit!, remaining: 50 } };
  assert.deepEqual(replyToResponseHeaders(far, responses, null), { response_headers: {} });
  assert.deepEqual(replyToResponseHeaders(near, { ...responses, rateLimitHeaders: null }, null), { response_headers: {} }, 'off in the policy');
  const stripped = replyToResponseHeaders(far, responses, 'x-step-up-ok');
  assert.deepEqual(stripped.response_headers?.response?.header_mutation?.remove_headers, ['x-step-up-ok']);
});
