import { ConfigError } from './errors.js';
import { defaultPolicyPath } from './paths.js';
import { checkGrpcTlsFiles, checkRedisTlsFiles, isLoopbackHost, type GrpcTlsFiles, type RedisTlsFiles } from './tls-files.js';

/**
 * The only reader of process.env (house style, habit 3). Every variable, its default and meaning is in
 * the README's settings table; `parseSettings` reports every problem at once.
 */
export interface Settings {
  grpcAddress: { host: string; port: number };
  /** mTLS on the ext_proc port (server certificate and key, client CA); null = plaintext. */
  grpcTls: GrpcTlsFiles | null;
  /** Plaintext on a non-loopback VIGIL_GRPC_ADDRESS was allowed explicitly (VIGIL_GRPC_INSECURE). */
  grpcInsecure: boolean;
  adminAddress: { host: string; port: number };
  /** Unset → the embedded memory store. */
  redisUrl: string | null;
  /** REDIS_URL names a seed node of a Redis Cluster. */
  redisCluster: boolean;
  /** TLS files for rediss:// (and a cluster's nodes); null = none set (Node's roots, NODE_EXTRA_CA_CERTS). */
  redisTls: RedisTlsFiles | null;
  shadowMode: boolean;
  /** Null when unset; main decides (required with Redis, generated with a warning on the embedded store). */
  keySecret: Buffer | null;
  /** A policy file, or a directory holding `policy.yaml` (a Kubernetes ConfigMap volume). */
  policyPath: string;
  /** Period of the policy file's content-hash poll, the fallback to watching its directory; 0 = no polling. */
  policyPollMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Serve /metrics as OpenMetrics, with exemplars on non-allow decisions. */
  metricsExemplars: boolean;
  /** Per-call deadline for the state store; far below Envoy's message_timeout (200 ms by default). */
  storeTimeoutMs: number;
  /** Breaker: open after this share of failed calls … */
  breakerErrorPercent: number;
  /** … and try again (half-open) after this long. */
  breakerResetMs: number;
  /** Largest body vigil keeps per direction for inspection; beyond it the rest passes uninspected. */
  maxBodyBytes: number;
  /** Concurrent ext_proc streams; past it new streams get RESOURCE_EXHAUSTED (Envoy fails open with failure_mode_allow). */
  maxStreams: number;
  /** Largest gRPC message accepted (grpc-js defaults to 4 MiB; a BUFFERED body may be larger). */
  maxMessageBytes: number;
  /** Grace period for in-flight streams on SIGTERM. */
  drainTimeoutMs: number;
  /** Bearer token of the operator API under /admin/; null (unset) disables it. A secret: never logged. */
  adminToken: string | null;
  /** With Redis: interval of the sync between the in-process tier and Redis (vigil's clock). */
  syncMs: number;
  /** With Redis: subjects the in-process tier holds (least recently used beyond it are dropped once synced). */
  tierMaxSubjects: number;
  /** Worker processes sharing the ext_proc port (node:cluster); more than 1 needs Redis. */
  workers: number;
  /** Decision log lines carry the request's path besides its template (paths can hold tokens and personal data). */
  logRawPaths: boolean;
  /** Decision log lines carry every evaluated signal, and near misses of allowed requests are logged (near-miss-sampler.ts). */
  logSignals: boolean;
  /** Each HTTP/2 connection from Envoy is pinged this often; one that misses a ping is closed and counted. 0 = off. */
  connectionPingMs: number;
}

export const SETTINGS_DOC: ReadonlyArray<{ name: string; default: string; meaning: string }> = [
  { name: 'VIGIL_GRPC_ADDRESS', default: '127.0.0.1:50051', meaning: 'ext_proc gRPC listen address; plaintext only on loopback, elsewhere it needs mTLS (VIGIL_GRPC_TLS_*) or VIGIL_GRPC_INSECURE=true' },
  { name: 'VIGIL_GRPC_TLS_CERT', default: '(unset)', meaning: 'PEM certificate (chain) of the ext_proc port; with VIGIL_GRPC_TLS_KEY and VIGIL_GRPC_TLS_CLIENT_CA it turns on mTLS there (all three or none)' },
  { name: 'VIGIL_GRPC_TLS_KEY', default: '(unset)', meaning: 'PEM private key (unencrypted) of VIGIL_GRPC_TLS_CERT' },
  { name: 'VIGIL_GRPC_TLS_CLIENT_CA', default: '(unset)', meaning: 'PEM CA bundle that clients (Envoy) must present a certificate from; a client without one is refused' },
  { name: 'VIGIL_GRPC_INSECURE', default: 'false', meaning: 'true = allow plaintext ext_proc on a non-loopback VIGIL_GRPC_ADDRESS (only on a network you trust); without it vigil refuses to start there unless mTLS is set' },
  { name: 'VIGIL_ADMIN_ADDRESS', default: '127.0.0.1:9464', meaning: 'admin HTTP listen address: /metrics, /healthz, /readyz, /debug/policy, and the operator API under /admin/' },
  { name: 'REDIS_URL', default: '(unset)', meaning: 'redis:// or rediss:// URL; unset = embedded memory store (single replica)' },
  { name: 'VIGIL_REDIS_CLUSTER', default: 'false', meaning: 'true = REDIS_URL is a seed node of a Redis Cluster (the other nodes are discovered)' },
  { name: 'VIGIL_REDIS_TLS_CA', default: '(unset)', meaning: "with a rediss:// REDIS_URL: PEM CA bundle Redis's certificate must chain to (unset = Node's roots and NODE_EXTRA_CA_CERTS); the certificate is always verified" },
  { name: 'VIGIL_REDIS_TLS_CERT', default: '(unset)', meaning: 'with rediss://: PEM client certificate for a Redis that requires one (tls-auth-clients); with VIGIL_REDIS_TLS_KEY' },
  { name: 'VIGIL_REDIS_TLS_KEY', default: '(unset)', meaning: 'with rediss://: PEM private key (unencrypted) of VIGIL_REDIS_TLS_CERT' },
  { name: 'VIGIL_REDIS_TLS_SERVERNAME', default: '(unset)', meaning: "with rediss://: name checked against Redis's certificate (and sent as SNI) instead of REDIS_URL's host; applies to every cluster node" },
  { name: 'VIGIL_SHADOW_MODE', default: 'false', meaning: 'true = decide, log and count, but always allow (x-vigil-shadow-action tells the upstream)' },
  { name: 'VIGIL_KEY_SECRET', default: '(unset)', meaning: 'secret (≥ 16 bytes; hex:… or base64:… accepted) keying identity pseudonyms; required with Redis' },
  { name: 'VIGIL_POLICY', default: 'policy/default.yaml', meaning: 'policy file, or a directory holding policy.yaml (e.g. a ConfigMap volume); reloaded when it changes' },
  { name: 'VIGIL_POLICY_POLL_MS', default: '2000', meaning: 'how often the policy file is re-read to catch changes its directory watch missed; 0 = watch only' },
  { name: 'VIGIL_METRICS_EXEMPLARS', default: 'false', meaning: 'true = /metrics speaks OpenMetrics and non-allow decisions carry an exemplar (identity pseudonym, policy checksum)' },
  { name: 'VIGIL_LOG_LEVEL', default: 'info', meaning: 'fatal, error, warn, info, debug, trace or silent' },
  { name: 'VIGIL_STORE_TIMEOUT_MS', default: '50', meaning: 'deadline of the Redis calls made off the sync loop (population merges, health checks); the request path never waits on Redis' },
  { name: 'VIGIL_SYNC_MS', default: '50', meaning: 'with Redis: how often the in-process tier sends its changes to Redis and reads the merged state back (1–50 ms)' },
  { name: 'VIGIL_WORKERS', default: '1', meaning: 'worker processes sharing the ext_proc port (node:cluster), each with its own in-process tier synced through Redis; more than 1 needs REDIS_URL' },
  { name: 'VIGIL_TIER_MAX_SUBJECTS', default: '20000', meaning: 'with Redis: subjects held in the in-process tier; beyond it the least recently used are dropped once synced' },
  { name: 'VIGIL_LOG_RAW_PATHS', default: 'false', meaning: 'true = decision log lines carry the request path too; by default only a template (paths can hold tokens and personal data)' },
  { name: 'VIGIL_LOG_SIGNALS', default: 'false', meaning: 'true = decision log lines carry every evaluated signal (fired or not), and allowed requests that came near a threshold are logged too (a few lines a caller a minute)' },
  { name: 'VIGIL_BREAKER_ERROR_PERCENT', default: '50', meaning: 'store breaker opens when this % of recent calls fail' },
  { name: 'VIGIL_BREAKER_RESET_MS', default: '5000', meaning: 'open breaker retries the store after this long' },
  { name: 'VIGIL_MAX_BODY_BYTES', default: '1048576', meaning: 'body bytes kept per direction for inspection' },
  { name: 'VIGIL_MAX_STREAMS', default: '10000', meaning: 'concurrent ext_proc streams; beyond it new streams get RESOURCE_EXHAUSTED (Envoy fails open with failure_mode_allow)' },
  { name: 'VIGIL_MAX_MESSAGE_BYTES', default: '16777216', meaning: 'largest gRPC message accepted' },
  { name: 'VIGIL_DRAIN_TIMEOUT_MS', default: '5000', meaning: 'on SIGTERM, time given to in-flight streams before they are closed' },
  { name: 'VIGIL_CONNECTION_PING_MS', default: '10000', meaning: 'each HTTP/2 connection from Envoy is pinged this often; one still silent at the next ping is closed and counted (vigil_connection_drops_total); 0 = no pings' },
  { name: 'VIGIL_ADMIN_TOKEN', default: '(unset)', meaning: 'bearer token (≥ 16 visible ASCII characters, no spaces) of the operator API under /admin/ (list and lift penalties, look subjects up, manual block/allow rules; vigil admin); unset = that API is off' },
];

/** VIGIL_ADMIN_TOKEN's minimum length. */
export const MIN_ADMIN_TOKEN_CHARS = 16;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

type Env = Record<string, string | undefined>;

export function parseSettings(env: Env = process.env): Settings {
  const problems: string[] = [];
  const str = (name: string, dflt: string): string => {
    const v = env[name];
    return v === undefined || v.trim() === '' ? dflt : v.trim();
  };
  const address = (name: string, dflt: string) => {
    const raw = str(name, dflt);
    const parsed = parseAddress(raw);
    if (!parsed) {
      problems.push(`${name}: "${raw}" is not HOST:PORT (port 0–65535; IPv6 as [::1]:PORT)`);
      return parseAddress(dflt)!;
    }
    return parsed;
  };
  const int = (name: string, dflt: number, min: number, max: number): number => {
    const raw = str(name, String(dflt));
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      problems.push(`${name}: "${raw}" must be an integer from ${min} to ${max}`);
      return dflt;
    }
    return Number(raw);
  };
  const bool = (name: string, dflt: boolean): boolean => {
    const raw = str(name, String(dflt)).toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name}: "${raw}" must be true or false`);
    return dflt;
  };

  /** 0 (off) or a period of at least 100 ms: polling faster than fs events settle only burns CPU. */
  const pollMs = (name: string, dflt: number): number => {
    const raw = str(name, String(dflt));
    if (!/^\d+$/.test(raw) || (Number(raw) !== 0 && (Number(raw) < 100 || Number(raw) > 3_600_000))) {
      problems.push(`${name}: "${raw}" must be 0 (off) or an integer from 100 to 3600000`);
      return dflt;
    }
    return Number(raw);
  };

  const redisRaw = str('REDIS_URL', '');
  let redisUrl: string | null = null;
  if (redisRaw !== '') {
    try {
      const u = new URL(redisRaw);
      if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error('scheme');
      redisUrl = redisRaw;
    } catch {
      problems.push('REDIS_URL: must be a redis:// or rediss:// URL');
    }
  }

  let keySecret: Buffer | null = null;
  const secretRaw = env.VIGIL_KEY_SECRET;
  if (secretRaw !== undefined && secretRaw !== '') {
    const decoded = decodeSecret(secretRaw);
    if ('problem' in decoded) problems.push(`VIGIL_KEY_SECRET: ${decoded.problem}`);
    else keySecret = decoded.secret;
  }
  if (redisUrl && !keySecret && !problems.some((p) => p.startsWith('VIGIL_KEY_SECRET'))) {
    problems.push('VIGIL_KEY_SECRET: required when REDIS_URL is set (replicas must share identity pseudonyms)');
  }

  // A secret: the problem never quotes it.
  let adminToken: string | null = null;
  const tokenRaw = (env.VIGIL_ADMIN_TOKEN ?? '').trim();
  if (tokenRaw !== '') {
    if (tokenRaw.length < MIN_ADMIN_TOKEN_CHARS || !/^[\x21-\x7e]+$/.test(tokenRaw)) {
      problems.push(`VIGIL_ADMIN_TOKEN: must be at least ${MIN_ADMIN_TOKEN_CHARS} characters of visible ASCII, without spaces (a bearer token)`);
    } else {
      adminToken = tokenRaw;
    }
  }

  const logLevel = str('VIGIL_LOG_LEVEL', 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    problems.push(`VIGIL_LOG_LEVEL: "${logLevel}" must be one of ${LOG_LEVELS.join(', ')}`);
  }

  const file = (name: string): string | null => {
    const v = str(name, '');
    return v === '' ? null : v;
  };

  // ext_proc mTLS: all three files or none; plaintext only on loopback unless allowed.
  const grpcAddress = address('VIGIL_GRPC_ADDRESS', '127.0.0.1:50051');
  const grpcInsecure = bool('VIGIL_GRPC_INSECURE', false);
  const grpcFiles = { certFile: file('VIGIL_GRPC_TLS_CERT'), keyFile: file('VIGIL_GRPC_TLS_KEY'), clientCaFile: file('VIGIL_GRPC_TLS_CLIENT_CA') };
  let grpcTls: GrpcTlsFiles | null = null;
  const grpcSet = Object.values(grpcFiles).filter((v) => v !== null).length;
  if (grpcSet === 3) {
    grpcTls = grpcFiles as GrpcTlsFiles;
    problems.push(...checkGrpcTlsFiles(grpcTls));
  } else if (grpcSet > 0) {
    const missing = [['VIGIL_GRPC_TLS_CERT', grpcFiles.certFile], ['VIGIL_GRPC_TLS_KEY', grpcFiles.keyFile], ['VIGIL_GRPC_TLS_CLIENT_CA', grpcFiles.clientCaFile]]
      .filter(([, v]) => v === null)
      .map(([n]) => n);
    problems.push(`VIGIL_GRPC_TLS_*: mTLS needs all of VIGIL_GRPC_TLS_CERT, VIGIL_GRPC_TLS_KEY and VIGIL_GRPC_TLS_CLIENT_CA; missing ${missing.join(', ')}`);
  } else if (!isLoopbackHost(grpcAddress.host) && !grpcInsecure) {
    problems.push(
      `VIGIL_GRPC_ADDRESS: ${formatAddress(grpcAddress)} is not a loopback address and ext_proc would be plaintext: ` +
        'set VIGIL_GRPC_TLS_CERT, VIGIL_GRPC_TLS_KEY and VIGIL_GRPC_TLS_CLIENT_CA (mTLS), ' +
        'or VIGIL_GRPC_INSECURE=true to allow plaintext on a network you trust',
    );
  }

  // Redis TLS files: only with rediss://; certificate and key together.
  const redisFiles: RedisTlsFiles = {
    caFile: file('VIGIL_REDIS_TLS_CA'),
    certFile: file('VIGIL_REDIS_TLS_CERT'),
    keyFile: file('VIGIL_REDIS_TLS_KEY'),
    servername: file('VIGIL_REDIS_TLS_SERVERNAME'),
  };
  let redisTls: RedisTlsFiles | null = null;
  const redisSet = Object.entries(redisFiles).filter(([, v]) => v !== null).map(([k]) => k);
  if (redisSet.length > 0) {
    const names = redisSet.map((k) => `VIGIL_REDIS_TLS_${k === 'caFile' ? 'CA' : k === 'certFile' ? 'CERT' : k === 'keyFile' ? 'KEY' : 'SERVERNAME'}`);
    if (redisRaw === '') {
      problems.push(`${names.join(', ')}: set, but REDIS_URL is not (the embedded store has no connection to secure)`);
    } else if (redisUrl !== null && new URL(redisUrl).protocol !== 'rediss:') {
      problems.push(`${names.join(', ')}: set, but REDIS_URL is redis:// (plaintext); use rediss:// for TLS`);
    }
    if ((redisFiles.certFile === null) !== (redisFiles.keyFile === null)) {
      problems.push(`VIGIL_REDIS_TLS_CERT and VIGIL_REDIS_TLS_KEY: a client certificate needs both (only ${redisFiles.certFile !== null ? 'VIGIL_REDIS_TLS_CERT' : 'VIGIL_REDIS_TLS_KEY'} is set)`);
    }
    redisTls = redisFiles;
    problems.push(...checkRedisTlsFiles(redisFiles));
  }

  const settings: Settings = {
    grpcAddress,
    grpcTls,
    grpcInsecure,
    adminAddress: address('VIGIL_ADMIN_ADDRESS', '127.0.0.1:9464'),
    redisUrl,
    redisCluster: bool('VIGIL_REDIS_CLUSTER', false),
    redisTls,
    shadowMode: bool('VIGIL_SHADOW_MODE', false),
    keySecret,
    policyPath: str('VIGIL_POLICY', defaultPolicyPath),
    policyPollMs: pollMs('VIGIL_POLICY_POLL_MS', 2000),
    metricsExemplars: bool('VIGIL_METRICS_EXEMPLARS', false),
    logLevel: (LOG_LEVELS as readonly string[]).includes(logLevel) ? (logLevel as Settings['logLevel']) : 'info',
    storeTimeoutMs: int('VIGIL_STORE_TIMEOUT_MS', 50, 1, 10_000),
    breakerErrorPercent: int('VIGIL_BREAKER_ERROR_PERCENT', 50, 1, 100),
    breakerResetMs: int('VIGIL_BREAKER_RESET_MS', 5000, 100, 3_600_000),
    maxBodyBytes: int('VIGIL_MAX_BODY_BYTES', 1_048_576, 0, 1 << 30),
    maxStreams: int('VIGIL_MAX_STREAMS', 10_000, 1, 1_000_000),
    maxMessageBytes: int('VIGIL_MAX_MESSAGE_BYTES', 16_777_216, 65_536, 1 << 30),
    drainTimeoutMs: int('VIGIL_DRAIN_TIMEOUT_MS', 5000, 0, 600_000),
    adminToken,
    syncMs: int('VIGIL_SYNC_MS', 50, 1, 50),
    tierMaxSubjects: int('VIGIL_TIER_MAX_SUBJECTS', 20_000, 100, 10_000_000),
    workers: int('VIGIL_WORKERS', 1, 1, 64),
    logRawPaths: bool('VIGIL_LOG_RAW_PATHS', false),
    logSignals: bool('VIGIL_LOG_SIGNALS', false),
    connectionPingMs: pollMs('VIGIL_CONNECTION_PING_MS', 10_000),
  };
  if (settings.workers > 1 && !settings.redisUrl) {
    problems.push('VIGIL_WORKERS: more than 1 worker needs REDIS_URL (the embedded store lives in one process, so each worker would see only its share of the traffic)');
  }
  if (sharesPort(settings.grpcAddress, settings.adminAddress)) {
    problems.push(
      `VIGIL_ADMIN_ADDRESS: ${formatAddress(settings.adminAddress)} is the same port as VIGIL_GRPC_ADDRESS ${formatAddress(settings.grpcAddress)} (the ext_proc gRPC server and the admin HTTP server each need a port of their own)`,
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}

export function parseAddress(raw: string): { host: string; port: number } | null {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(raw);
  if (!m) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? m[2] ?? '', port };
}

const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '0:0:0:0:0:0:0:0']);

/** Two listen addresses that would collide: the same fixed port, on the same host or where either binds every interface. */
function sharesPort(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  return a.host.toLowerCase() === b.host.toLowerCase() || WILDCARD_HOSTS.has(a.host) || WILDCARD_HOSTS.has(b.host);
}

export function formatAddress(a: { host: string; port: number }): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** The least bytes a key secret must have. */
export const MIN_SECRET_BYTES = 16;

/**
 * A key secret: `hex:…`, `base64:…` (or base64url) or plain text, at least MIN_SECRET_BYTES once decoded.
 * A problem says what is wrong without ever quoting the secret.
 */
export function decodeSecret(raw: string): { secret: Buffer } | { problem: string } {
  let secret: Buffer;
  if (raw.startsWith('hex:')) {
    const hex = raw.slice(4);
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) return { problem: 'invalid hex after "hex:" (expected pairs of the digits 0-9, a-f)' };
    secret = Buffer.from(hex, 'hex');
  } else if (raw.startsWith('base64:')) {
    const b64 = raw.slice(7);
    if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(b64) || b64.replace(/=+$/, '').length % 4 === 1) {
      return { problem: 'invalid base64 after "base64:" (expected the characters A-Z, a-z, 0-9, +, / or -, _, and = padding)' };
    }
    secret = Buffer.from(b64, 'base64');
  } else {
    secret = Buffer.from(raw, 'utf8');
  }
  if (secret.length < MIN_SECRET_BYTES) {
    return { problem: `must be at least ${MIN_SECRET_BYTES} bytes (plain text, hex:…, or base64:…); it decodes to ${secret.length}` };
  }
  return { secret };
}
