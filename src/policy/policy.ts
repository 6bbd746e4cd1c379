import type { Detector } from '../detectors/types.js';
import type { Escalation } from '../state/store.js';
import type { Cidr } from '../request/cidr.js';
import type { IdentityConfig } from '../request/types.js';
import type { EndpointRule } from './endpoints.js';

/** Traffic that is never scored (health checks, internal monitors): allowed without state. */
export interface Allowlist {
  cidrs: Cidr[];
  /** Identity pseudonyms as vigil logs them (`api-key:…`); `vigil pseudonym` computes one. */
  identities: ReadonlySet<string>;
}

/** The MFA step-up challenge: RFC 9470 for API clients, a redirect or JSON for browsers. */
export interface ChallengeConfig {
  /** RFC 9470 acr_values asked for in the WWW-Authenticate challenge (space-separated), or ''. */
  acrValues: string;
  /** RFC 9470 max_age in seconds, or null. */
  maxAgeS: number | null;
  errorDescription: string;
  /** Browsers (a session, `accept: text/html`): a redirect to the step-up page, or the 401 with a JSON body. */
  browser: { mode: 'redirect'; url: string; status: 302 | 303; returnParam: string } | { mode: 'json' };
}

/** How vigil answers when it acts. */
export interface ResponsesConfig {
  challenge: ChallengeConfig;
  /** Tag allowed requests for the upstream with x-vigil-* headers when a tag detector fires. */
  tagUpstream: boolean;
  /** x-vigil-reason (the deciding reason, one line): to the upstream on allowed requests, to the client on vigil's own replies. */
  reasonHeader: { upstream: boolean; client: boolean };
  /**
   * Soft limits: the IETF RateLimit-Policy / RateLimit fields on the response of an allowed request once
   * the caller has used `near` (0–1) of a rate limit; null = off.
   */
  rateLimitHeaders: { near: number } | null;
}

/**
 * Clearing a challenge (docs/mitigation.md): verified claims that meet acr/amr (either list may be
 * empty; both empty = claims never clear), with an auth_time after the challenge; or the upstream's
 * confirmation header on the response. Then the identity gets credit: creditMs during which its
 * thresholds are multiplied by relax and challenges are not raised against it.
 */
export interface StepUpConfig {
  acr: readonly string[];
  amr: readonly string[];
  clockSkewMs: number;
  confirmHeader: { name: string; value: string | null } | null;
  creditMs: number;
  relax: number;
}

/** A compiled policy: validated once, immutable, swapped whole. */
export interface Policy {
  format: 1;
  /** Where it was read from. */
  source: string;
  /** sha256 of the file's bytes (first 16 hex chars), shown in /debug/policy and decision logs. */
  checksum: string;
  text: string;
  identity: IdentityConfig;
  responses: ResponsesConfig;
  /** Repeat offences step up the ladder; null = every penalty is the rule's own action and duration. */
  escalation: Escalation | null;
  stepUp: StepUpConfig;
  endpoints: readonly EndpointRule[];
  allow: Allowlist;
  detectors: readonly Detector[];
  /**
   * `allow_no_detectors: true`: a reload may swap in this policy although it has no detectors and the
   * live one has some. Without it such a reload is refused (an emptied or half-written file looks so).
   */
  allowNoDetectors: boolean;
}
