/**
 * Public shapes of envoy-sim: Envoy's ext_proc HTTP filter played as a grpc-js client.
 * Config fields are snake_case like Envoy's `ExternalProcessor` YAML (docs/envoy-ext-proc.md §2.2).
 */
import type { ProcessingMode } from '../extproc/messages.js';

export type { ProcessingMode };

/** Header list in wire order; keys as given (the sim lower-cases what it sends, §1.2). */
export type HeaderPairs = Array<[string, string]>;

/** `envoy.config.common.mutation_rules.v3.HeaderMutationRules` (§2.8). Regexes are full-match. */
export interface MutationRulesConfig {
  allow_all_routing?: boolean;
  allow_envoy?: boolean;
  disallow_system?: boolean;
  disallow_all?: boolean;
  allow_expression?: string;
  disallow_expression?: string;
  disallow_is_error?: boolean;
}

/** Envoy versions whose differences the sim reproduces (§3): spurious replies, protocol_config, status_on_error, early close. */
export type EnvoyVersion = '1.34' | '1.37';

export interface SimFilterConfig {
  /** Defaults: headers SEND, bodies NONE, trailers SKIP (§2.1). FULL_DUPLEX_STREAMED and GRPC are not supported. */
  processing_mode?: ProcessingMode;
  /** Per-message timeout, default 200 ms; 0 fires immediately (§2.3). */
  message_timeout_ms?: number;
  /** Upper bound for `override_message_timeout`; default 0 = overrides ignored (§1.3). */
  max_message_timeout_ms?: number;
  /** Fail open on stream errors, timeouts and (≥1.35) spurious messages (§2.2, §2.4, §2.7). */
  failure_mode_allow?: boolean;
  allow_mode_override?: boolean;
  allowed_override_modes?: ProcessingMode[];
  mutation_rules?: MutationRulesConfig;
  /** "Send and go": never wait, ignore replies (§2.9). */
  observability_mode?: boolean;
  /** Observability mode only: keep the side stream this long after the exchange ends; default 5000 (§2.2). */
  deferred_close_timeout_ms?: number;
  /** Treat `immediate_response` as spurious (§2.7). */
  disable_immediate_response?: boolean;
  /** Status of error local replies instead of 500; Envoy ≥1.36 only (§2.2). */
  status_on_error?: number;
  /** CEL attribute names sent once per direction under `attributes['envoy.filters.http.ext_proc']` (§1.2). */
  request_attributes?: string[];
  response_attributes?: string[];
  /** Default '1.37'. */
  envoy_version?: EnvoyVersion;
  /**
   * Envoy's runtime guard `envoy.reloadable_features.ext_proc_graceful_grpc_close` (1.34+, off by
   * default): close the side stream by half-closing and waiting up to 1 s for the server's status
   * before resetting, instead of half-close then an immediate reset (docs/protocol.md §11).
   */
  graceful_grpc_close?: boolean;
  /** The connection buffer limit: BUFFERED bodies above it get 413 (request) / 500 (response). Default 1 MiB, Envoy's default. */
  buffer_limit_bytes?: number;
}

export interface UpstreamReply {
  status: number;
  headers?: HeaderPairs;
  body?: Buffer | Buffer[];
  trailers?: HeaderPairs;
  /**
   * Answer as soon as the request headers arrive, without waiting for the request body (an upstream that
   * does not read the body). Lets response processing interleave with request-body processing (§1.8).
   */
  early?: boolean;
  /** Upstream latency: wait this long before answering. Default 0. */
  delayMs?: number;
}

export interface HttpExchange {
  method: string;
  path: string;
  /** `:authority`; defaults to a `host` header if given, else 'localhost'. */
  authority?: string;
  /** `:scheme`, default 'http'. */
  scheme?: string;
  /** Sent as given (lower-cased); add content-length yourself if your client would. */
  headers?: HeaderPairs;
  /** One buffer or several chunks (each chunk is one `decodeData` call). */
  body?: Buffer | Buffer[];
  trailers?: HeaderPairs;
  /** For the `source.address` attribute, e.g. '203.0.113.7:51234'. */
  sourceAddress?: string;
  /** Default: 200, no headers, empty body. */
  upstream?: UpstreamReply;
}

export type SimOutcome = 'passed' | 'local-reply' | 'immediate-response' | 'reset';

export interface SimResponse {
  status: number;
  /** Response headers without `:status`. */
  headers: HeaderPairs;
  body: Buffer;
  trailers?: HeaderPairs;
}

export interface SimUpstreamRequest {
  /** Request headers as forwarded, pseudo-headers included. */
  headers: HeaderPairs;
  body: Buffer;
  trailers?: HeaderPairs;
}

export interface SimResult {
  outcome: SimOutcome;
  /** What the downstream client receives. */
  client: SimResponse;
  /** What reached the upstream (after mutations); null if nothing did. */
  upstreamRequest: SimUpstreamRequest | null;
  /** Envoy's response code details: 'via_upstream', 'ext_proc_error_per-message_timeout_exceeded', … */
  details?: string;
  /** This exchange's stat increments (§2.10), every name present. */
  stats: Record<StatName, number>;
}

export const STAT_NAMES = [
  'streams_started',
  'stream_msgs_sent',
  'stream_msgs_received',
  'spurious_msgs_received',
  'streams_closed',
  'streams_failed',
  'failure_mode_allowed',
  'message_timeouts',
  'rejected_header_mutations',
  'override_message_timeout_received',
  'override_message_timeout_ignored',
  'clear_route_cache_ignored',
  'immediate_responses_sent',
  'server_half_closed',
] as const;

export type StatName = (typeof STAT_NAMES)[number];

export function emptyStats(): Record<StatName, number> {
  const stats = {} as Record<StatName, number>;
  for (const name of STAT_NAMES) stats[name] = 0;
  return stats;
}
