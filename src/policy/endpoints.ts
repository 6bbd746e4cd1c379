/**
 * Endpoint rules: which requests are which, by method and path pattern, and the roles that tell
 * detectors what an endpoint is for. The first rule that matches wins; unmatched requests belong to
 * the group `other`.
 *
 * `match.path` is one pattern or a list (any may match). Patterns match the normalised path
 * (request/endpoint.ts) segment by segment, and their literal text is normalised the same way first,
 * so a pattern may be written as a person reads the path: `/files/annual report.pdf` and `/café`
 * match the percent-encoded `/files/annual%20report.pdf` and `/caf%C3%A9` that arrive (non-ASCII
 * characters as their UTF-8 bytes), and `%7E` in a pattern is `~`. A pattern that could never match
 * is refused: one with `?` or `#` (the query is not part of the path), or a `.` or `..` segment
 * (a normalised path has none).
 *
 *   literal     `orders` matches that segment exactly (case-sensitive);
 *   `{name}`    any one segment, captured as a parameter (e.g. for object_read.id);
 *   `*`         any one segment; a segment with `*` inside (`v*`, `*.js`) is a glob within the segment;
 *   `**`        as the last segment: zero or more further segments.
 */
import { normaliseSegment, pathSegments } from '../request/endpoint.js';
import type { Endpoint } from '../request/types.js';
import { Fields } from './fields.js';

export type UsernameSource = { from: 'json'; field: string } | { from: 'form'; field: string } | { from: 'header'; name: string };

/** What counts as a failed login: statuses, a response header (optionally with a value), or every attempt. */
export type FailureSignal =
  | { kind: 'status'; statuses: number[] }
  | { kind: 'header'; name: string; value: string | null }
  | { kind: 'every-attempt' };

export interface LoginRole {
  username: UsernameSource;
  failure: FailureSignal;
}

export interface ObjectReadRole {
  /** Where the object id is: a path parameter of the pattern, a query parameter, or the last id-like segment. */
  id: { from: 'param'; name: string } | { from: 'query'; name: string } | { from: 'auto' };
}

export interface EndpointRule {
  name: string;
  methods: string[] | null;
  /** The patterns as written (one or several; any may match). */
  paths: string[];
  /** Thresholds of detectors are divided by this on the endpoint (2 = fires at half the threshold). */
  sensitivity: number;
  login: LoginRole | null;
  objectRead: ObjectReadRole | null;
  /** Large responses expected: exfiltration byte budgets are multiplied by exportAllowance here. */
  export: { sampleBody: boolean } | null;
  /** Excluded from behaviour: no detector runs, nothing is counted or inspected. */
  static: boolean;
  /**
   * On a static endpoint: whether a caller's standing throttle or block penalty (set elsewhere) still
   * applies here ('enforce', the default: one store read of the caller's penalty) or not ('ignore': no
   * store call at all). A challenge never applies on a static path: a step-up page needs its assets.
   * 'ignore' on scored endpoints, where penalties are part of the decision anyway.
   */
  staticPenalties: 'enforce' | 'ignore';
  /** How a challenge is answered here: api (RFC 9470 401), browser (redirect or JSON), or null (by the request's headers). */
  challenge: 'api' | 'browser' | null;
  /** Where users complete the step-up (an MFA page or API): challenges are not enforced here, so they can. */
  stepUp: boolean;
  readonly match: (segments: string[]) => Record<string, string> | null;
}

export interface EndpointMatch {
  rule: EndpointRule | null;
  /** The rule's name, or `other`. */
  group: string;
  params: Record<string, string>;
  /** The object id this request reads (object_read endpoints only), else null. */
  objectId: string | null;
  sensitivity: number;
}

export const OTHER_GROUP = 'other';
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const METHOD = /^[A-Z]{1,16}$/;
const HEADER = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const MAX_SEGMENTS = 64;

export function matchEndpoint(rules: readonly EndpointRule[], endpoint: Endpoint): EndpointMatch {
  const segments = pathSegments(endpoint.path);
  for (const rule of rules) {
    if (rule.methods && !rule.methods.includes(endpoint.method)) continue;
    const params = rule.match(segments);
    if (!params) continue;
    return { rule, group: rule.name, params, objectId: objectIdOf(rule, params, endpoint), sensitivity: rule.sensitivity };
  }
  return { rule: null, group: OTHER_GROUP, params: {}, objectId: null, sensitivity: 1 };
}

function objectIdOf(rule: EndpointRule, params: Record<string, string>, endpoint: Endpoint): string | null {
  const id = rule.objectRead?.id;
  if (!id) return null;
  switch (id.from) {
    case 'param':
      return params[id.name] ?? null;
    case 'query':
      return queryParam(endpoint.query, id.name);
    case 'auto':
      return endpoint.objectIds[endpoint.objectIds.length - 1] ?? null;
  }
}

/** First value of a query parameter, percent-decoded when valid, capped at 256 chars. */
export function queryParam(query: string, name: string): string | null {
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (safeDecode(key) !== name) continue;
    const value = eq < 0 ? '' : safeDecode(pair.slice(eq + 1));
    return value === '' ? null : value.slice(0, 256);
  }
  return null;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}

/** A pattern's literal text as a request path with it arrives, normalised: non-ASCII as UTF-8 bytes, escapes as request/endpoint.ts writes them. */
function asArrives(text: string): string {
  return normaliseSegment(Buffer.from(text, 'utf8').toString('latin1'));
}

/** Compiles a path pattern; returns the problem text when it is invalid. */
export function compilePattern(pattern: string): ((segments: string[]) => Record<string, string> | null) | string {
  if (!pattern.startsWith('/')) return 'must start with /';
  if (/[?#]/.test(pattern)) return 'has ? or #: a pattern matches the path only, never the query or fragment, so it would never match';
  const parts = pattern === '/' ? [] : pattern.slice(1).split('/');
  if (parts.length > MAX_SEGMENTS) return `has more than ${MAX_SEGMENTS} segments`;
  const steps: Array<{ literal?: string; param?: string; glob?: RegExp; rest?: boolean }> = [];
  for (const [i, p] of parts.entries()) {
    if (p === '') return 'has an empty segment';
    if (p === '**') {
      if (i !== parts.length - 1) return '** is only allowed as the last segment';
      steps.push({ rest: true });
    } else if (/^\{[a-z_][a-z0-9_]*\}$/i.test(p)) {
      steps.push({ param: p.slice(1, -1) });
    } else if (p.includes('{') || p.includes('}')) {
      return `segment "${p}": a parameter is {name} alone in its segment`;
    } else if (p.includes('*')) {
      const re = p.split('*').map((s) => asArrives(s).replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*');
      steps.push({ glob: new RegExp(`^${re}$`) });
    } else {
      const literal = asArrives(p);
      if (literal === '.' || literal === '..') return `segment "${p}": a normalised path has no . or .. segments, so it would never match`;
      steps.push({ literal });
    }
  }
  return (segments) => {
    const params: Record<string, string> = {};
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if (step.rest) return params;
      const seg = segments[i];
      if (seg === undefined) return null;
      if (step.literal !== undefined && seg !== step.literal) return null;
      if (step.glob && !step.glob.test(seg)) return null;
      if (step.param) params[step.param] = seg;
    }
    return segments.length === steps.length ? params : null;
  };
}

/** Reads `endpoints:` (a list) into rules; problems name the file, endpoint and field. */
export function readEndpoints(list: unknown[], where: string, problems: string[]): EndpointRule[] {
  const rules: EndpointRule[] = [];
  const names = new Set<string>();
  list.forEach((raw, i) => {
    const label = typeof (raw as { name?: unknown })?.name === 'string' ? ` (${(raw as { name: string }).name})` : '';
    const f = new Fields(raw, `${where}: endpoints[${i}]${label}`, problems);
    const before = problems.length;
    const name = f.string('name', undefined, NAME);
    if (name === 'other') problems.push(`${f.where}.name: "other" is reserved for requests no endpoint matches`);
    if (names.has(name)) problems.push(`${f.where}.name: duplicate endpoint name "${name}"`);
    names.add(name);
    const m = new Fields(f.raw('match'), `${f.where}.match`, problems);
    const rawPaths = m.raw('path');
    const paths: string[] = typeof rawPaths === 'string' ? [rawPaths] : Array.isArray(rawPaths) ? rawPaths.filter((p): p is string => typeof p === 'string') : [];
    if (paths.length === 0 || (Array.isArray(rawPaths) && paths.length !== rawPaths.length)) {
      problems.push(`${m.where}.path: must be a path pattern or a list of them, such as /api/orders/{id}`);
    }
    const matchers: Array<(segments: string[]) => Record<string, string> | null> = [];
    for (const path of paths) {
      const compiled = compilePattern(path);
      if (typeof compiled === 'string') problems.push(`${m.where}.path: "${path}" ${compiled}`);
      else matchers.push(compiled);
    }
    let methods: string[] | null = null;
    if (m.has('methods')) {
      methods = [];
      for (const [j, v] of m.list('methods').entries()) {
        if (typeof v !== 'string' || !METHOD.test(v)) problems.push(`${m.where}.methods[${j}]: must be an upper-case HTTP method such as GET`);
        else methods.push(v);
      }
    }
    m.done();
    const login = f.has('login') ? readLogin(new Fields(f.raw('login'), `${f.where}.login`, problems)) : null;
    const objectRead = f.has('object_read') ? readObjectRead(new Fields(f.raw('object_read'), `${f.where}.object_read`, problems), paths) : null;
    let exp: EndpointRule['export'] = null;
    if (f.has('export')) {
      const e = new Fields(f.raw('export'), `${f.where}.export`, problems);
      exp = { sampleBody: e.bool('sample_body', false) };
      e.done();
    }
    const isStatic = f.bool('static', false);
    if (isStatic && (login || objectRead || exp)) problems.push(`${f.where}.static: a static endpoint takes no other role`);
    const staticPenalties = f.has('penalties') ? f.oneOf('penalties', ['enforce', 'ignore'] as const) : isStatic ? 'enforce' : 'ignore';
    if (f.has('penalties') && !isStatic) problems.push(`${f.where}.penalties: only for static endpoints (a scored endpoint always applies penalties)`);
    const sensitivity = f.number('sensitivity', 1, 0.01, 100);
    const challenge = f.has('challenge') ? f.oneOf('challenge', ['api', 'browser'] as const) : null;
    const stepUp = f.bool('step_up', false);
    if (isStatic && stepUp) problems.push(`${f.where}.step_up: a static endpoint is never scored, so it needs no step_up`);
    f.done();
    if (problems.length !== before) return;
    const match = (segments: string[]) => {
      for (const m of matchers) {
        const params = m(segments);
        if (params) return params;
      }
      return null;
    };
    rules.push({ name, methods, paths, sensitivity, login, objectRead, export: exp, static: isStatic, staticPenalties, challenge, stepUp, match });
  });
  return rules;
}

function readLogin(f: Fields): LoginRole {
  const u = new Fields(f.raw('username'), `${f.where}.username`, f.problems);
  const keys = ['json', 'form', 'header'].filter((k) => u.has(k));
  let username: UsernameSource = { from: 'header', name: 'x-username' };
  if (keys.length !== 1) {
    f.problems.push(`${u.where}: give exactly one of json (a field path such as user.email), form (a field name) or header`);
  } else if (keys[0] === 'json') {
    username = { from: 'json', field: u.string('json', undefined, /^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/) };
  } else if (keys[0] === 'form') {
    username = { from: 'form', field: u.string('form') };
  } else {
    username = { from: 'header', name: u.string('header', undefined, HEADER) };
  }
  u.done();
  const fl = new Fields(f.raw('failure'), `${f.where}.failure`, f.problems);
  const kinds = ['status', 'header', 'every_attempt'].filter((k) => fl.has(k));
  let failure: FailureSignal = { kind: 'every-attempt' };
  if (kinds.length !== 1) {
    f.problems.push(`${fl.where}: give exactly one of status (a list of codes), header (name, optional value) or every_attempt: true`);
  } else if (kinds[0] === 'status') {
    const statuses: number[] = [];
    for (const [i, v] of fl.list('status').entries()) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 100 || v > 599) f.problems.push(`${fl.where}.status[${i}]: must be an HTTP status from 100 to 599`);
      else statuses.push(v);
    }
    if (statuses.length === 0 && fl.list('status').length === 0) f.problems.push(`${fl.where}.status: must list at least one status`);
    failure = { kind: 'status', statuses };
  } else if (kinds[0] === 'header') {
    const h = new Fields(fl.raw('header'), `${fl.where}.header`, f.problems);
    failure = { kind: 'header', name: h.string('name', undefined, HEADER), value: h.has('value') ? h.string('value') : null };
    h.done();
  } else {
    if (fl.raw('every_attempt') !== true) f.problems.push(`${fl.where}.every_attempt: must be true when given`);
    failure = { kind: 'every-attempt' };
  }
  fl.done();
  f.done();
  return { username, failure };
}

function readObjectRead(f: Fields, paths: string[]): ObjectReadRole {
  const spec = f.has('id') ? f.string('id') : 'auto';
  f.done();
  if (spec === 'auto') return { id: { from: 'auto' } };
  const m = /^(param|query):([A-Za-z0-9_.-]{1,64})$/.exec(spec);
  if (!m) {
    f.problems.push(`${f.where}.id: "${spec}" must be auto, param:<name> (a {name} of the path) or query:<name>`);
    return { id: { from: 'auto' } };
  }
  const missing = paths.find((path) => !path.split('/').includes(`{${m[2]}}`));
  if (m[1] === 'param' && missing !== undefined) {
    f.problems.push(`${f.where}.id: the path ${missing} has no {${m[2]}}`);
  }
  return { id: { from: m[1] as 'param' | 'query', name: m[2]! } };
}
