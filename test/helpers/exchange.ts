/**
 * Exchanges built by hand for detector unit tests: facts from a method, path, client IP and optional
 * identity, the endpoint matched against a compiled policy, and helpers that run an exchange's phases
 * through the real engine (evaluateDetectors) at an explicit nowMs. Identities and usernames are
 * readable stand-ins (`api-key:alice`, `user:bob`), not keyed hashes.
 */
import { decide } from '../../src/decision/decide.js';
import type { Decision } from '../../src/decision/types.js';
import { evaluateDetectors, type Evaluation } from '../../src/detectors/engine.js';
import { stepUpFor } from '../../src/decision/step-up.js';
import { matchEndpoint } from '../../src/policy/endpoints.js';
import { compilePolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/policy.js';
import { normaliseEndpoint } from '../../src/request/endpoint.js';
import type { Exchange, Phase } from '../../src/request/exchange.js';
import { HeaderList } from '../../src/request/headers.js';
import type { StateStore } from '../../src/state/store.js';

export interface ExchangeInit {
  method?: string;
  /** Path with optional query, e.g. `/api/orders/42`. */
  path: string;
  /** Client IP; default 192.0.2.1. */
  ip?: string;
  /** An API key's stand-in pseudonym (`api-key:<identity>`); without it the identity is the IP. */
  identity?: string;
  /** On login endpoints: the username tried (`user:<username>`), or null for none. */
  username?: string | null;
  /** The user-agent header; default none. */
  userAgent?: string;
}

export function policyFrom(yaml: string, source = 'policy.yaml'): Policy {
  return compilePolicy(yaml, source);
}

export function buildExchange(policy: Policy, init: ExchangeInit): Exchange {
  const ip = init.ip ?? '192.0.2.1';
  const endpoint = normaliseEndpoint(init.method ?? 'GET', init.path);
  const match = matchEndpoint(policy.endpoints, endpoint);
  const login = match.rule?.login;
  return {
    facts: {
      identity: init.identity !== undefined ? { kind: 'api-key', id: `api-key:${init.identity}` } : { kind: 'ip', id: `ip:${ip}` },
      clientIp: ip,
      endpoint,
      authority: 'api.example',
      contentLength: null,
      userAgent: init.userAgent ?? '',
      claims: null,
      bearer: true,
    },
    endpoint: match,
    login: login ? { username: init.username == null ? null : `user:${init.username}`, failure: login.failure } : null,
    response: null,
    sample: null,
  };
}

/** Sets the upstream's response on an exchange. */
export function withResponse(x: Exchange, status: number, headers: Array<[string, string]> = []): Exchange {
  x.response = { status, contentLength: null, headers: new HeaderList([[':status', String(status)], ...headers]) };
  return x;
}

/** The deciding phases of an exchange (request, plus login on login endpoints), in one round trip. */
export function decidingPhases(x: Exchange): Phase[] {
  return x.login ? ['request', 'login'] : ['request'];
}

export interface Played {
  x: Exchange;
  /** The request (and login) phases' evaluation. */
  request: Evaluation;
  /** The response phase's evaluation, when a status was given. */
  response: Evaluation | null;
  decision: Decision;
}

/**
 * One exchange as vigil sees it: the deciding phases at nowMs, the decision, then (when `status` is
 * given and the decision let it through) the response phase at the same nowMs.
 */
export async function play(policy: Policy, store: StateStore, init: ExchangeInit, nowMs: number, status?: number, headers?: Array<[string, string]>): Promise<Played> {
  const x = buildExchange(policy, init);
  const request = await evaluateDetectors(policy.detectors, x, decidingPhases(x), store, nowMs, {
    readIdentity: true,
    escalation: policy.escalation,
    stepUp: stepUpFor(x.facts.claims, policy.stepUp),
  });
  const decision = decide({
    evaluation: request,
    detectors: policy.detectors,
    globalShadow: false,
    identityKind: x.facts.identity.kind,
    identityId: x.facts.identity.id,
    stepUpEndpoint: x.endpoint.rule?.stepUp === true,
    policyChecksum: policy.checksum,
    nowMs,
  });
  let response: Evaluation | null = null;
  if (status !== undefined && (decision.action === 'allow' || decision.action === 'tag')) {
    withResponse(x, status, headers);
    response = await evaluateDetectors(policy.detectors, x, ['response'], store, nowMs, { readIdentity: false, escalation: policy.escalation });
  }
  return { x, request, response, decision };
}
