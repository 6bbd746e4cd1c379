import { decidingReason, reasonHeaderValue } from '../decision/explain.js';
import type { Decision } from '../decision/types.js';
import type { ResponsesConfig } from '../policy/policy.js';
import type { HeaderMutation, HeaderValueOption, ProcessingMode, ProcessingResponse, RequestCase } from './messages.js';

/**
 * Decision → the ext_proc reply to the request (docs/mitigation.md shows every answer). Header values
 * go in raw_value only (Envoy reads nothing else; docs/protocol.md). Allowed requests lose any
 * client-sent x-vigil-* header, so the upstream can trust the ones vigil adds.
 */

export function header(key: string, value: string): HeaderValueOption {
  return { header: { key, raw_value: Buffer.from(value, 'latin1') } };
}

/** The message kinds a decision can answer: request headers, or the request body/trailers of a login. */
export type RequestReplyKind = 'request_headers' | 'request_body' | 'request_trailers';

/** What a reply needs besides the decision. */
export interface ReplyContext {
  responses: ResponsesConfig;
  /** Client-sent x-vigil-* header names, removed from allowed requests. */
  spoofed: readonly string[];
  /** How a challenge is answered: api (RFC 9470 401) or browser (the policy's redirect or JSON). */
  challengeAs: 'api' | 'browser';
  /** Where a browser returns after the step-up: the request's path and query. */
  returnTo: string;
}

/**
 * The reply that lets a message through unchanged, per message kind: built once and shared, so it is
 * frozen (a reply is never changed after it is built; mode_override makes a new one).
 */
export const CONTINUE: Readonly<Record<RequestCase, ProcessingResponse>> = {
  request_headers: Object.freeze({ request_headers: Object.freeze({}) }),
  response_headers: Object.freeze({ response_headers: Object.freeze({}) }),
  request_body: Object.freeze({ request_body: Object.freeze({}) }),
  response_body: Object.freeze({ response_body: Object.freeze({}) }),
  request_trailers: Object.freeze({ request_trailers: Object.freeze({}) }),
  response_trailers: Object.freeze({ response_trailers: Object.freeze({}) }),
};

/**
 * Continue with an optional header mutation, in the reply shape of `which`. A trailers reply can only
 * mutate trailers, so request headers cannot be tagged there and the mutation is dropped.
 */
export function continueWith(which: RequestReplyKind, mutation?: HeaderMutation): ProcessingResponse {
  if (!mutation || which === 'request_trailers') return CONTINUE[which];
  return { [which]: { response: { header_mutation: mutation } } };
}

export function replyToRequestHeaders(decision: Decision, ctx: ReplyContext, mode?: ProcessingMode): ProcessingResponse {
  const reply = replyToRequest('request_headers', decision, ctx);
  return mode && !reply.immediate_response ? { ...reply, mode_override: mode } : reply;
}

export function replyToRequest(which: RequestReplyKind, decision: Decision, ctx: ReplyContext): ProcessingResponse {
  switch (decision.action) {
    case 'throttle':
      return throttle(decision, ctx);
    case 'challenge':
      return ctx.challengeAs === 'browser' && ctx.responses.challenge.browser.mode === 'redirect' ? redirect(decision, ctx) : challenge(decision, ctx);
    case 'block':
      return immediate(403, withReason([header('content-type', 'application/json')], decision, ctx), { error: 'forbidden' }, 'vigil_block');
    case 'allow':
    case 'tag':
      return allow(which, decision, ctx);
  }
}

/**
 * The response-headers reply of an allowed exchange: soft limits (the RateLimit fields once the caller
 * has used `near` of a limit), and the removal of the upstream's step-up confirmation header, which
 * is meant for vigil, not the client.
 */
export function replyToResponseHeaders(decision: Decision | null, responses: ResponsesConfig, removeHeader: string | null): ProcessingResponse {
  const set: HeaderValueOption[] = [];
  const soft = responses.rateLimitHeaders;
  const q = decision?.rateLimit;
  if (soft && q && (decision.action === 'allow' || decision.action === 'tag') && q.limit > 0 && q.limit - q.remaining >= soft.near * q.limit) {
    set.push(...rateLimitFields(q.policy, q.limit, q.windowS, q.remaining, q.resetS));
  }
  if (set.length === 0 && removeHeader === null) return CONTINUE.response_headers;
  return { response_headers: { response: { header_mutation: { set_headers: set, remove_headers: removeHeader === null ? [] : [removeHeader] } } } };
}

function allow(which: RequestReplyKind, decision: Decision, ctx: ReplyContext): ProcessingResponse {
  const set: HeaderValueOption[] = [];
  if (decision.action === 'tag' && ctx.responses.tagUpstream) {
    set.push(header('x-vigil-action', 'tag'), header('x-vigil-detectors', detectorNames(decision, false)));
  }
  if (decision.shadowAction) {
    set.push(header('x-vigil-shadow-action', decision.shadowAction), header('x-vigil-shadow-detectors', detectorNames(decision, true)));
  }
  const degraded = decision.failOpen ?? decision.degraded;
  if (degraded) set.push(header('x-vigil-degraded', degraded));
  if (ctx.responses.reasonHeader.upstream) {
    const r = decidingReason(decision);
    if (r) set.push(header('x-vigil-reason', reasonHeaderValue(r)));
  }
  const remove = ctx.spoofed.filter((h) => !set.some((s) => s.header?.key === h));
  if (set.length === 0 && remove.length === 0) return continueWith(which);
  return continueWith(which, { set_headers: set, remove_headers: remove });
}

/** The detectors behind a decision's shadowed (or enforced) reasons, once each, comma-separated. */
function detectorNames(decision: Decision, shadowOnly: boolean): string {
  return [...new Set(decision.reasons.filter((r) => r.shadow === shadowOnly && !r.excused).map((r) => r.detector))].join(',');
}

/** The IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers). */
function rateLimitFields(policy: string, limit: number, windowS: number, remaining: number, resetS: number): HeaderValueOption[] {
  const p = `"${policy}"`;
  return [header('ratelimit-policy', `${p};q=${limit};w=${windowS}`), header('ratelimit', `${p};r=${remaining};t=${resetS}`)];
}

/** 429 with Retry-After and the RateLimit fields. */
function throttle(d: Decision, ctx: ReplyContext): ProcessingResponse {
  const retry = d.retryAfterS ?? 1;
  const headers = [header('retry-after', String(retry)), header('content-type', 'application/json')];
  if (d.rateLimit) headers.push(...rateLimitFields(d.rateLimit.policy, d.rateLimit.limit, d.rateLimit.windowS, 0, retry));
  return immediate(429, withReason(headers, d, ctx), { error: 'rate_limited', retry_after: retry }, 'vigil_throttle');
}

/** 401 step-up challenge per RFC 9470 (API clients, and browsers when the policy asks for JSON). */
function challenge(d: Decision, ctx: ReplyContext): ProcessingResponse {
  const c = ctx.responses.challenge;
  const params = [`error="insufficient_user_authentication"`, `error_description="${c.errorDescription}"`];
  if (c.acrValues) params.push(`acr_values="${c.acrValues}"`);
  if (c.maxAgeS !== null) params.push(`max_age="${c.maxAgeS}"`);
  const headers = [header('www-authenticate', `Bearer ${params.join(', ')}`), header('content-type', 'application/json'), header('cache-control', 'no-store')];
  const body: Record<string, unknown> = { error: 'insufficient_user_authentication', error_description: c.errorDescription };
  if (c.acrValues) body.acr_values = c.acrValues;
  if (c.maxAgeS !== null) body.max_age = c.maxAgeS;
  return immediate(401, withReason(headers, d, ctx), body, 'vigil_challenge');
}

/** A browser's step-up: 302/303 to the policy's URL, with where to come back to as a query parameter. */
function redirect(d: Decision, ctx: ReplyContext): ProcessingResponse {
  const b = ctx.responses.challenge.browser;
  if (b.mode !== 'redirect') return challenge(d, ctx);
  const location = `${b.url}${b.url.includes('?') ? '&' : '?'}${b.returnParam}=${encodeURIComponent(ctx.returnTo)}`;
  const headers = [header('location', location), header('cache-control', 'no-store'), header('content-type', 'application/json')];
  return immediate(b.status, withReason(headers, d, ctx), { error: 'insufficient_user_authentication', step_up: location }, 'vigil_challenge');
}

function withReason(headers: HeaderValueOption[], d: Decision, ctx: ReplyContext): HeaderValueOption[] {
  if (!ctx.responses.reasonHeader.client) return headers;
  const r = decidingReason(d);
  return r ? [...headers, header('x-vigil-reason', reasonHeaderValue(r))] : headers;
}

function immediate(status: number, headers: HeaderValueOption[], body: unknown, details: string): ProcessingResponse {
  return {
    immediate_response: {
      status: { code: status },
      headers: { set_headers: headers },
      body: Buffer.from(JSON.stringify(body) + '\n'),
      details,
    },
  };
}
