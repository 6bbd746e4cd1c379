/**
 * What vigil knows about one HTTP exchange, growing phase by phase as Envoy's messages arrive:
 *
 *   request        request headers: facts and the endpoint rule (every scored exchange);
 *   login          login endpoints: the attempt with its username, at the request headers when the
 *                  username is in a header (or the request has no body), else when the body arrives;
 *   response       response headers: status and size;
 *   response-body  the end of a sampled response body (export endpoints with sample_body).
 *
 * Detectors plan state updates for the phases they care about (detectors/types.ts); request and
 * login phases produce decisions, response phases only update state (a penalty they set applies to
 * the next request).
 */
import type { EndpointMatch, FailureSignal } from '../policy/endpoints.js';
import type { ResponseFacts } from './login.js';
import type { RequestFacts } from './types.js';

export type Phase = 'request' | 'login' | 'response' | 'response-body';
export const PHASES: readonly Phase[] = ['request', 'login', 'response', 'response-body'];

export interface LoginAttempt {
  /** `user:<hex>` pseudonym, or null when the request carried no username. */
  username: string | null;
  failure: FailureSignal;
}

export interface BodySample {
  /** Bytes sampled (at most the sample cap). */
  bytes: number;
  /** Total response bytes seen (may exceed the sample). */
  totalBytes: number;
  /** Shannon entropy of the sample in bits per byte (0–8). */
  entropy: number;
}

export interface Exchange {
  facts: RequestFacts;
  endpoint: EndpointMatch;
  /** Set on login endpoints once the attempt is known (login phase). */
  login: LoginAttempt | null;
  response: ResponseFacts | null;
  sample: BodySample | null;
}

/** Shannon entropy in bits per byte of a buffer (0 for an empty one). */
export function shannonEntropy(buf: Uint8Array): number {
  if (buf.length === 0) return 0;
  const counts = new Uint32Array(256);
  for (let i = 0; i < buf.length; i++) counts[buf[i]!]!++;
  let h = 0;
  for (let i = 0; i < 256; i++) {
    const c = counts[i]!;
    if (c === 0) continue;
    const p = c / buf.length;
    h -= p * Math.log2(p);
  }
  return h;
}
