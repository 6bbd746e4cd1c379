import type { Detector } from '../detectors/types.js';
import type { Cidr } from '../request/cidr.js';
import type { IdentityConfig } from '../request/types.js';
import type { EndpointRule } from './endpoints.js';

/** Traffic that is never scored (health checks, internal monitors): allowed without state. */
export interface Allowlist {
  cidrs: Cidr[];
  /** Identity pseudonyms as vigil logs them (`api-key:…`); `vigil pseudonym` computes one. */
  identities: ReadonlySet<string>;
}

/** How vigil answers when it acts. */
export interface ResponsesConfig {
  challenge: {
    /** RFC 9470 acr_values asked for in the WWW-Authenticate challenge (space-separated), or ''. */
    acrValues: string;
    /** RFC 9470 max_age in seconds, or null. */
    maxAgeS: number | null;
    errorDescription: string;
  };
  /** Tag allowed requests for the upstream with x-vigil-* headers when a tag detector fires. */
  tagUpstream: boolean;
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
  endpoints: readonly EndpointRule[];
  allow: Allowlist;
  detectors: readonly Detector[];
}
