import type { Decision } from '../decision/types.js';
import type { ResponsesConfig } from '../policy/policy.js';
import type { HeaderMutation, HeaderValueOption, ProcessingMode, ProcessingResponse } from './messages.js';

/**
 * Decision → the ext_proc reply to request headers. Header values go in raw_value only (Envoy reads
 * nothing else; docs/protocol.md). Allowed requests lose any client-sent x-vigil-* header, so the
 * upstream can trust the ones vigil adds.
 */

export function header(key: string, value: string): HeaderValueOption {
  return { header: { key, raw_value: Buffer.from(value, 'latin1') } };
}

/** The message kinds a decision can answer: request headers, or the request body/trailers of a login. */
export type RequestReplyKind = 'request_headers' | 'request_body' | 'request_trailers';

/**
 * Continue with an optional header mutation, in the reply shape of `which`. A trailers reply can only
 * mutate trailers, so request headers cannot be tagged there and the mutation is dropped.
 */
export function continueWith(which: RequestReplyKind, mutation?: HeaderMutation): ProcessingResponse {
  if (!mutation || which === 'request_trailers') return { [which]: {} };
  return { [which]: { response: { header_mutation: mutation } } };
}

export function replyToRequestHeaders(decision: Decision, responses: ResponsesConfig, spoofed: string[], mode?: ProcessingMode): ProcessingResponse {
  const reply = replyToRequest('request_headers', decision, responses, spoofed);
  if (mode && !reply.immediate_response) reply.mode_override = mode;
  return reply;
}

export function replyToRequest(which: RequestReplyKind, decision: Decision, responses: ResponsesConfig, spoofed: string[]): ProcessingResponse {
  switch (decision.action) {
    case 'throttle':
      return throttle(decision);
    case 'challenge':
      return challenge(responses);
    case 'block':
      return immediate(403, [header('content-type', 'application/json')], { error: 'forbidden' }, 'vigil_block');
    case 'allow':
    case 'tag':
      return allow(which, decision, responses, spoofed);
  }
}

function allow(which: RequestReplyKind, decision: Decision, responses: ResponsesConfig, spoofed: string[]): ProcessingResponse {
  const set: HeaderValueOption[] = [];
  const names = (shadowOnly: boolean) =>
    [...new Set(decision.reasons.filter((r) => r.shadow === shadowOnly).map((r) => r.detector))].join(',');
  if (decision.action === 'tag' && responses.tagUpstream) {
    set.push(header('x-vigil-action', 'tag'), header('x-vigil-detectors', names(false)));
  }
  if (decision.shadowAction) {
    set.push(header('x-vigil-shadow-action', decision.shadowAction), header('x-vigil-shadow-detectors', names(true)));
  }
  const remove = spoofed.filter((h) => !set.some((s) => s.header?.key === h));
  if (set.length === 0 && remove.length === 0) return continueWith(which);
  return continueWith(which, { set_headers: set, remove_headers: remove });
}

/** 429 with Retry-After and the IETF RateLimit-Policy / RateLimit fields (draft-ietf-httpapi-ratelimit-headers). */
function throttle(d: Decision): ProcessingResponse {
  const retry = d.retryAfterS ?? 1;
  const headers = [header('retry-after', String(retry)), header('content-type', 'application/json')];
  if (d.rateLimit) {
    const p = `"${d.rateLimit.policy}"`;
    headers.push(
      header('ratelimit-policy', `${p};q=${d.rateLimit.limit};w=${d.rateLimit.windowS}`),
      header('ratelimit', `${p};r=0;t=${retry}`),
    );
  }
  return immediate(429, headers, { error: 'rate_limited', retry_after: retry }, 'vigil_throttle');
}

/** 401 step-up challenge per RFC 9470. */
function challenge(responses: ResponsesConfig): ProcessingResponse {
  const c = responses.challenge;
  const params = [`error="insufficient_user_authentication"`, `error_description="${c.errorDescription}"`];
  if (c.acrValues) params.push(`acr_values="${c.acrValues}"`);
  if (c.maxAgeS !== null) params.push(`max_age="${c.maxAgeS}"`);
  const headers = [header('www-authenticate', `Bearer ${params.join(', ')}`), header('content-type', 'application/json')];
  return immediate(401, headers, { error: 'insufficient_user_authentication', error_description: c.errorDescription }, 'vigil_challenge');
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
