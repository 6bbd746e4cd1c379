import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { detectorRegistry } from '../detectors/registry.js';
import { DETECTOR_ACTIONS, SUBJECT_KINDS } from '../detectors/types.js';
import type { Detector, DetectorBase } from '../detectors/types.js';
import { ConfigError } from '../errors.js';
import type { IdentityKind } from '../request/types.js';
import { defaultIdentityConfig } from '../request/types.js';
import { parseCidr } from '../request/cidr.js';
import type { Cidr } from '../request/cidr.js';
import { readEndpoints, OTHER_GROUP } from './endpoints.js';
import { Fields } from './fields.js';
import type { Allowlist, ChallengeConfig, Policy, ResponsesConfig, StepUpConfig } from './policy.js';
import { ENFORCING_ORDER, suspicionKeepMs, type Escalation } from '../state/store.js';

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const IDENTITY_KINDS: readonly IdentityKind[] = ['jwt', 'api-key', 'session', 'ip'];

/** Reads, validates and compiles a policy file. Throws ConfigError listing every problem. */
export function loadPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([`${path}: cannot read policy (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  return compilePolicy(text, path);
}

export function compilePolicy(text: string, source: string): Policy {
  const file = basename(source);
  let doc: unknown;
  try {
    doc = parseYaml(text, { strict: true, uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([`${file}: invalid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  const problems: string[] = [];
  const top = new Fields(doc, file, problems);
  const format = top.raw('format');
  if (format !== 1) problems.push(`${file}.format: must be 1 (the policy format this vigil reads)`);

  const identity = readIdentity(new Fields(top.raw('identity'), `${file}: identity`, problems));
  const responses = readResponses(new Fields(top.raw('responses'), `${file}: responses`, problems));
  const escalation = top.has('escalation') ? readEscalation(new Fields(top.raw('escalation'), `${file}: escalation`, problems)) : null;
  const stepUp = readStepUp(new Fields(top.raw('step_up'), `${file}: step_up`, problems));
  const endpoints = readEndpoints(top.list('endpoints'), file, problems);
  const groups = new Set([...endpoints.map((e) => e.name), OTHER_GROUP]);
  const allow = readAllow(new Fields(top.raw('allow'), `${file}: allow`, problems));
  const detectors: Detector[] = [];
  const names = new Set<string>();
  top.list('detectors').forEach((raw, i) => {
    const label = typeof (raw as { name?: unknown })?.name === 'string' ? ` (${(raw as { name: string }).name})` : '';
    const f = new Fields(raw, `${file}: detectors[${i}]${label}`, problems);
    const before = problems.length;
    const base: DetectorBase = {
      name: f.string('name', undefined, NAME),
      type: f.string('type'),
      subject: f.oneOf('subject', SUBJECT_KINDS, 'identity'),
      action: f.oneOf('action', DETECTOR_ACTIONS),
      penaltyMs: f.duration('penalty', 5 * 60_000, 1000, 7 * 86_400_000),
      shadow: f.bool('shadow', false),
      enforcePercent: f.number('enforce_percent', 100, 0, 100),
      endpoints: readGroups(f, groups),
    };
    if (names.has(base.name)) problems.push(`${f.where}.name: duplicate detector name "${base.name}"`);
    names.add(base.name);
    const factory = detectorRegistry.get(base.type);
    if (!factory) {
      if (base.type !== '') problems.push(`${f.where}.type: unknown detector type "${base.type}" (known: ${[...detectorRegistry.keys()].join(', ')})`);
      return;
    }
    const config = factory.parse(f, base);
    f.done();
    if (problems.length === before) detectors.push(factory.create(config));
  });
  const allowNoDetectors = top.bool('allow_no_detectors', false);
  top.done();
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    format: 1,
    source,
    checksum: createHash('sha256').update(text).digest('hex').slice(0, 16),
    text,
    identity,
    responses,
    escalation,
    stepUp,
    endpoints,
    allow,
    detectors,
    allowNoDetectors,
  };
}

function readGroups(f: Fields, groups: ReadonlySet<string>): string[] | null {
  if (!f.has('endpoints')) return null;
  const out: string[] = [];
  for (const [i, v] of f.list('endpoints').entries()) {
    if (typeof v !== 'string' || !groups.has(v)) f.problems.push(`${f.where}.endpoints[${i}]: "${String(v)}" is not an endpoint of this policy (known: ${[...groups].join(', ')})`);
    else out.push(v);
  }
  return out;
}

function readCidrs(f: Fields, key: string): Cidr[] {
  const out: Cidr[] = [];
  for (const [i, v] of f.list(key).entries()) {
    const c = typeof v === 'string' ? parseCidr(v) : null;
    if (!c) f.problems.push(`${f.where}.${key}[${i}]: "${String(v)}" is not an IPv4 or IPv6 address or CIDR range`);
    else out.push(c);
  }
  return out;
}

function readAllow(f: Fields): Allowlist {
  const cidrs = readCidrs(f, 'cidrs');
  const identities = new Set<string>();
  for (const [i, v] of f.list('identities').entries()) {
    if (typeof v !== 'string' || !/^(jwt|api-key|session|ip):[0-9a-f]{32}$/.test(v)) {
      f.problems.push(`${f.where}.identities[${i}]: must be an identity pseudonym such as api-key:<32 hex> (see vigil pseudonym --help)`);
    } else identities.add(v);
  }
  f.done();
  return { cidrs, identities };
}

function readIdentity(f: Fields) {
  const d = defaultIdentityConfig;
  const rawOrder = f.has('order') ? f.list('order') : d.order;
  const order: IdentityKind[] = [];
  for (const [i, k] of rawOrder.entries()) {
    if (typeof k !== 'string' || !(IDENTITY_KINDS as readonly string[]).includes(k)) {
      f.problems.push(`${f.where}.order[${i}]: must be one of ${IDENTITY_KINDS.join(', ')}`);
    } else if (order.includes(k as IdentityKind)) {
      f.problems.push(`${f.where}.order[${i}]: "${k}" listed twice`);
    } else order.push(k as IdentityKind);
  }
  if (order[order.length - 1] !== 'ip') f.problems.push(`${f.where}.order: must end with ip (every request has a client IP)`);
  const ip = new Fields(f.raw('client_ip'), `${f.where}.client_ip`, f.problems);
  const cfg = {
    order,
    jwtPayloadHeader: f.string('jwt_payload_header', d.jwtPayloadHeader, HEADER_NAME),
    jwtSubjectClaim: f.string('jwt_subject_claim', d.jwtSubjectClaim),
    apiKeyHeader: f.string('api_key_header', d.apiKeyHeader, HEADER_NAME),
    sessionCookie: f.string('session_cookie', d.sessionCookie, /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/),
    clientIpSource: ip.oneOf('source', ['envoy', 'xff'] as const, d.clientIpSource),
    trustedHops: ip.number('trusted_hops', d.trustedHops, 0, 16, true),
    trustedProxies: readCidrs(ip, 'trusted_proxies'),
  };
  ip.done();
  f.done();
  return cfg;
}

function readResponses(f: Fields): ResponsesConfig {
  const reason = new Fields(f.raw('reason_header'), `${f.where}.reason_header`, f.problems);
  const res: ResponsesConfig = {
    challenge: readChallenge(new Fields(f.raw('challenge'), `${f.where}.challenge`, f.problems)),
    tagUpstream: f.bool('tag_upstream', true),
    reasonHeader: { upstream: reason.bool('upstream', false), client: reason.bool('client', false) },
    rateLimitHeaders: readSoftLimits(f),
  };
  reason.done();
  f.done();
  return res;
}

/** `rate_limit_headers: false`, or `{ near: 0.8 }` (the default). */
function readSoftLimits(f: Fields): ResponsesConfig['rateLimitHeaders'] {
  if (f.raw('rate_limit_headers') === false) {
    f.bool('rate_limit_headers', false);
    return null;
  }
  const r = new Fields(f.raw('rate_limit_headers'), `${f.where}.rate_limit_headers`, f.problems);
  const near = r.number('near', 0.8, 0, 1);
  r.done();
  return { near };
}

const QUOTED = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/; // RFC 9110 quoted-string content without quotes or backslashes

function readChallenge(c: Fields): ChallengeConfig {
  const maxAge = c.has('max_age') ? c.duration('max_age', undefined, 0, 30 * 86_400_000) : null;
  const b = new Fields(c.raw('browser'), `${c.where}.browser`, c.problems);
  const mode = b.oneOf('mode', ['redirect', 'json'] as const, 'json');
  let browser: ChallengeConfig['browser'] = { mode: 'json' };
  if (mode === 'redirect') {
    const url = b.string('url', undefined, /^(https?:\/\/[\x21-\x7e]+|\/[\x21-\x7e]*)$/);
    const status = b.number('status', 303, 302, 303, true);
    if (status !== 302 && status !== 303) b.problems.push(`${b.where}.status: must be 302 or 303`);
    browser = { mode, url, status: status === 302 ? 302 : 303, returnParam: b.string('return_param', 'return_to', /^[A-Za-z0-9_.-]{1,64}$/) };
  } else if (b.has('url')) {
    b.problems.push(`${b.where}.url: only used with mode: redirect`);
  }
  b.done();
  const cfg: ChallengeConfig = {
    acrValues: c.has('acr_values') ? c.string('acr_values', undefined, QUOTED) : '',
    maxAgeS: maxAge === null ? null : Math.floor(maxAge / 1000),
    errorDescription: c.string('error_description', 'A stronger authentication is required', QUOTED),
    browser,
  };
  c.done();
  return cfg;
}

function readEscalation(f: Fields): Escalation {
  const e: Escalation = {
    windowMs: f.duration('window', 3_600_000, 1000, 30 * 86_400_000),
    factor: f.number('factor', 2, 1, 10),
    maxAction: f.oneOf('max_action', ENFORCING_ORDER, 'challenge'),
    maxMs: f.duration('max_penalty', 86_400_000, 1000, 30 * 86_400_000),
  };
  // Suspicion (state/store.ts Suspicion): on by default; sensitivity 1 turns it off.
  const sp = new Fields(f.has('suspicion') ? f.raw('suspicion') : {}, `${f.where}.suspicion`, f.problems);
  const sensitivity = sp.number('sensitivity', DEFAULT_SUSPICION_SENSITIVITY, 1, 10);
  const halfLifeMs = sp.duration('half_life', DEFAULT_SUSPICION_HALF_LIFE_MS, 60_000, 7 * 86_400_000);
  sp.done();
  const keepMs = suspicionKeepMs(sensitivity, halfLifeMs);
  if (keepMs > 0) e.suspicion = { sensitivity, halfLifeMs, keepMs };
  f.done();
  return e;
}

/** Defaults of escalation.suspicion: docs/detectors.md "Suspicion" gives the reasoning. */
export const DEFAULT_SUSPICION_SENSITIVITY = 3;
export const DEFAULT_SUSPICION_HALF_LIFE_MS = 6 * 3_600_000;

function readStepUp(f: Fields): StepUpConfig {
  const words = (key: string): string[] => {
    const out: string[] = [];
    for (const [i, v] of f.list(key).entries()) {
      if (typeof v !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(v)) f.problems.push(`${f.where}.${key}[${i}]: must be a claim value without spaces`);
      else out.push(v);
    }
    return out;
  };
  let confirmHeader: StepUpConfig['confirmHeader'] = null;
  if (f.has('confirm_header')) {
    const h = new Fields(f.raw('confirm_header'), `${f.where}.confirm_header`, f.problems);
    const name = h.string('name', undefined, HEADER_NAME);
    if (name.startsWith('x-vigil-') || name.startsWith(':')) h.problems.push(`${h.where}.name: must not be a pseudo-header or an x-vigil-* header`);
    confirmHeader = { name, value: h.has('value') ? h.string('value', undefined, /^[\x20-\x7e]{1,256}$/) : null };
    h.done();
  }
  const cfg: StepUpConfig = {
    acr: words('acr'),
    amr: words('amr'),
    clockSkewMs: f.duration('clock_skew', 30_000, 0, 600_000),
    confirmHeader,
    creditMs: f.duration('credit', 15 * 60_000, 1000, 86_400_000),
    relax: f.number('relax', 2, 1, 10),
  };
  f.done();
  return cfg;
}
