/** Validates a SimFilterConfig and fills Envoy's defaults (docs/envoy-ext-proc.md §2.1, §2.2). */
import { ConfigError } from '../errors.js';
import type { BodySendMode, HeaderSendMode } from '../extproc/messages.js';
import type { EnvoyVersion, MutationRulesConfig, ProcessingMode, SimFilterConfig } from './types.js';

/** A ProcessingMode with every field as an enum name; unset header/trailer modes stay DEFAULT, like the proto. */
export interface Mode {
  request_header_mode: HeaderSendMode;
  response_header_mode: HeaderSendMode;
  request_body_mode: BodySendMode;
  response_body_mode: BodySendMode;
  request_trailer_mode: HeaderSendMode;
  response_trailer_mode: HeaderSendMode;
}

export interface ResolvedConfig {
  mode: Mode;
  messageTimeoutMs: number;
  maxMessageTimeoutMs: number;
  failureModeAllow: boolean;
  allowModeOverride: boolean;
  allowedOverrideModes: Mode[];
  rules: MutationRulesConfig;
  observability: boolean;
  deferredCloseTimeoutMs: number;
  disableImmediateResponse: boolean;
  statusOnError: number;
  requestAttributes: string[];
  responseAttributes: string[];
  version: EnvoyVersion;
  bufferLimitBytes: number;
  gracefulClose: boolean;
}

const HEADER_MODES: HeaderSendMode[] = ['DEFAULT', 'SEND', 'SKIP'];
const BODY_MODES: BodySendMode[] = ['NONE', 'STREAMED', 'BUFFERED', 'BUFFERED_PARTIAL', 'FULL_DUPLEX_STREAMED', 'GRPC'];
const KNOWN_KEYS = new Set([
  'processing_mode', 'message_timeout_ms', 'max_message_timeout_ms', 'failure_mode_allow', 'allow_mode_override',
  'allowed_override_modes', 'mutation_rules', 'observability_mode', 'deferred_close_timeout_ms',
  'disable_immediate_response', 'status_on_error', 'request_attributes', 'response_attributes', 'envoy_version',
  'buffer_limit_bytes', 'graceful_grpc_close',
]);
const MODE_KEYS = ['request_header_mode', 'response_header_mode', 'request_body_mode', 'response_body_mode',
  'request_trailer_mode', 'response_trailer_mode'] as const;
const RULE_BOOLS = ['allow_all_routing', 'allow_envoy', 'disallow_system', 'disallow_all', 'disallow_is_error'] as const;

export function headerMode(v: unknown): HeaderSendMode | undefined {
  if (v === undefined || v === null) return 'DEFAULT';
  if (typeof v === 'number') return HEADER_MODES[v];
  return HEADER_MODES.find((m) => m === v);
}

export function bodyMode(v: unknown): BodySendMode | undefined {
  if (v === undefined || v === null) return 'NONE';
  if (typeof v === 'number') return BODY_MODES[v];
  return BODY_MODES.find((m) => m === v);
}

/** Normalises a ProcessingMode (names or numbers) into enum names; reports bad values into `problems`. */
export function normaliseMode(raw: ProcessingMode | undefined, where: string, problems: string[]): Mode {
  const m = (raw ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = {};
  for (const key of MODE_KEYS) {
    const value = key.includes('body') ? bodyMode(m[key]) : headerMode(m[key]);
    if (value === undefined) problems.push(`${where}.${key}: unknown mode ${JSON.stringify(m[key])}`);
    out[key] = value ?? (key.includes('body') ? 'NONE' : 'DEFAULT');
  }
  for (const key of Object.keys(m)) {
    if (!(MODE_KEYS as readonly string[]).includes(key)) problems.push(`${where}.${key}: unknown field`);
  }
  return out as unknown as Mode;
}

function checkNumber(problems: string[], name: string, v: unknown, min: number, max: number): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    problems.push(`${name}: must be an integer from ${min} to ${max}`);
  }
}

function checkBool(problems: string[], name: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'boolean') problems.push(`${name}: must be true or false`);
}

function checkRegex(problems: string[], name: string, v: unknown): void {
  if (v === undefined) return;
  if (typeof v !== 'string') return void problems.push(`${name}: must be a string`);
  try {
    new RegExp(v);
  } catch {
    problems.push(`${name}: invalid regular expression`);
  }
}

function checkStrings(problems: string[], name: string, v: unknown): void {
  if (v !== undefined && (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))) {
    problems.push(`${name}: must be a list of strings`);
  }
}

/** Throws ConfigError listing every problem; returns the config with Envoy's defaults filled in. */
export function resolveConfig(config: SimFilterConfig = {}): ResolvedConfig {
  const problems: string[] = [];
  const c = config as Record<string, unknown>;
  for (const key of Object.keys(c)) if (!KNOWN_KEYS.has(key)) problems.push(`${key}: unknown field`);
  const mode = normaliseMode(config.processing_mode, 'processing_mode', problems);
  for (const key of ['request_body_mode', 'response_body_mode'] as const) {
    // FULL_DUPLEX_STREAMED (§2.1) and the API-only GRPC mode are left out of the sim.
    if (mode[key] === 'FULL_DUPLEX_STREAMED' || mode[key] === 'GRPC') {
      problems.push(`processing_mode.${key}: ${mode[key]} is not supported by envoy-sim`);
    }
  }
  checkNumber(problems, 'message_timeout_ms', c['message_timeout_ms'], 0, 3_600_000);
  checkNumber(problems, 'max_message_timeout_ms', c['max_message_timeout_ms'], 0, 3_600_000);
  checkNumber(problems, 'deferred_close_timeout_ms', c['deferred_close_timeout_ms'], 0, 3_600_000);
  checkNumber(problems, 'status_on_error', c['status_on_error'], 100, 599);
  checkNumber(problems, 'buffer_limit_bytes', c['buffer_limit_bytes'], 1, Number.MAX_SAFE_INTEGER);
  for (const key of ['failure_mode_allow', 'allow_mode_override', 'observability_mode', 'disable_immediate_response', 'graceful_grpc_close']) {
    checkBool(problems, key, c[key]);
  }
  checkStrings(problems, 'request_attributes', c['request_attributes']);
  checkStrings(problems, 'response_attributes', c['response_attributes']);
  const version = config.envoy_version ?? '1.37';
  if (version !== '1.34' && version !== '1.37') problems.push(`envoy_version: must be '1.34' or '1.37'`);
  // status_on_error exists since 1.36 (§2.2); an older Envoy rejects the unknown field.
  if (version === '1.34' && config.status_on_error !== undefined) {
    problems.push('status_on_error: needs envoy_version 1.36 or later');
  }
  const rules = (config.mutation_rules ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(rules)) {
    if (!(RULE_BOOLS as readonly string[]).includes(key) && key !== 'allow_expression' && key !== 'disallow_expression') {
      problems.push(`mutation_rules.${key}: unknown field`);
    }
  }
  for (const key of RULE_BOOLS) checkBool(problems, `mutation_rules.${key}`, rules[key]);
  checkRegex(problems, 'mutation_rules.allow_expression', rules['allow_expression']);
  checkRegex(problems, 'mutation_rules.disallow_expression', rules['disallow_expression']);
  const allowed = config.allowed_override_modes ?? [];
  if (!Array.isArray(allowed)) problems.push('allowed_override_modes: must be a list');
  const allowedOverrideModes = Array.isArray(allowed)
    ? allowed.map((m, i) => normaliseMode(m, `allowed_override_modes[${i}]`, problems))
    : [];
  if (problems.length > 0) throw new ConfigError(problems.map((p) => `envoy-sim config: ${p}`));
  return {
    mode,
    messageTimeoutMs: config.message_timeout_ms ?? 200,
    maxMessageTimeoutMs: config.max_message_timeout_ms ?? 0,
    failureModeAllow: config.failure_mode_allow ?? false,
    allowModeOverride: config.allow_mode_override ?? false,
    allowedOverrideModes,
    rules: config.mutation_rules ?? {},
    observability: config.observability_mode ?? false,
    deferredCloseTimeoutMs: config.deferred_close_timeout_ms ?? 5000,
    disableImmediateResponse: config.disable_immediate_response ?? false,
    statusOnError: config.status_on_error ?? 500,
    requestAttributes: config.request_attributes ?? [],
    responseAttributes: config.response_attributes ?? [],
    version,
    bufferLimitBytes: config.buffer_limit_bytes ?? 1024 * 1024,
    gracefulClose: config.graceful_grpc_close ?? false,
  };
}
