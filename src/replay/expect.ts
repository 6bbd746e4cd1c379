/**
 * `vigil replay --expect FILE`: assertions on a replay's decisions, for CI. A YAML file:
 *
 *   format: 1
 *   checks:
 *     - name: the flood is throttled within its first 100 requests
 *       clients: [192.0.2.50]        # client IPs or identity pseudonyms (ip:…, jwt:…)
 *       reaches: throttle             # this action or a stronger one
 *       within: 100                   # among each client's first N requests (default: any)
 *       by: [request-rate]            # optional: one of these detectors must be behind it
 *     - name: shoppers are left alone
 *       clients: [192.0.2.10, 192.0.2.11]
 *       never: tag                    # no action this strong or stronger
 *     - name: nobody is challenged at login
 *       paths: [/api/login, /auth/**]   # path patterns as in the policy's endpoints
 *       never: challenge
 *     - name: few callers flagged
 *       max_flagged: 3                # callers with any non-allow decision (optionally among clients/paths)
 *
 * Actions are what vigil decided, enforced or shadowed alike (record.ts `decided`), so one file serves a
 * shadow replay too; `by` holds when one of its detectors gave the action, enforced or shadowed.
 * A check fails with a sentence that says what happened instead. An assertion about nothing fails too:
 * every client listed must have made a request, every path pattern must match one, and the check's
 * selection as a whole must hold at least one (a typo in `clients:` must not pass `never` vacuously).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Action } from '../decision/types.js';
import { ACTION_ORDER } from '../decision/types.js';
import { ConfigError } from '../errors.js';
import { compilePattern } from '../policy/endpoints.js';
import { Fields } from '../policy/fields.js';
import { normaliseEndpoint, pathSegments } from '../request/endpoint.js';
import { callerOf, decided, decidingDetectors, force } from './record.js';
import type { ReplayRecord } from './record.js';
import { isoOf } from './summary.js';

type Matcher = (segments: string[]) => Record<string, string> | null;

export interface Check {
  name: string;
  clients: string[];
  paths: Array<{ text: string; match: Matcher }>;
  reaches: Action | null;
  within: number | null;
  by: string[];
  never: Action | null;
  maxFlagged: number | null;
  minFlagged: number | null;
}

export interface CheckResult {
  name: string;
  ok: boolean;
  /** What was found (on failure, what happened instead). */
  detail: string;
}

const FLAGGING: readonly Action[] = ACTION_ORDER.filter((a) => a !== 'allow');

function readCheck(raw: unknown, where: string, problems: string[]): Check | null {
  const given = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>)['name'] : undefined;
  const label = typeof given === 'string' && given !== '' ? `${where} (${given})` : where;
  const f = new Fields(raw, label, problems);
  const before = problems.length;
  const name = f.string('name', '');
  const strings = (key: string): string[] => {
    const list = f.list(key);
    if (list.some((v) => typeof v !== 'string' || v === '')) problems.push(`${label}.${key}: must be a list of non-empty strings`);
    return list.filter((v): v is string => typeof v === 'string' && v !== '');
  };
  const clients = strings('clients');
  const paths = strings('paths').flatMap((text) => {
    const match = compilePattern(text);
    if (typeof match === 'string') {
      problems.push(`${label}.paths: "${text}" ${match}`);
      return [];
    }
    return [{ text, match }];
  });
  const reaches = f.has('reaches') ? f.oneOf('reaches', FLAGGING) : null;
  const within = f.has('within') ? f.number('within', undefined, 1, 1e12, true) : null;
  const by = strings('by');
  const never = f.has('never') ? f.oneOf('never', FLAGGING) : null;
  const maxFlagged = f.has('max_flagged') ? f.number('max_flagged', undefined, 0, 1e12, true) : null;
  const minFlagged = f.has('min_flagged') ? f.number('min_flagged', undefined, 0, 1e12, true) : null;
  f.done();
  const asserts = [reaches, never, maxFlagged, minFlagged].filter((v) => v !== null).length;
  if (asserts !== 1) problems.push(`${label}: needs exactly one of reaches, never, max_flagged, min_flagged`);
  if (reaches !== null && clients.length === 0) problems.push(`${label}.reaches: needs clients (each of them must reach the action)`);
  if ((within !== null || by.length > 0) && reaches === null) problems.push(`${label}: within and by go with reaches`);
  if (problems.length > before) return null;
  return { name: name || `checks[${where.replace(/.*\[(\d+)\]$/, '$1')}]`, clients, paths, reaches, within, by, never, maxFlagged, minFlagged };
}

export function parseExpectations(text: string, file: string): Check[] {
  const problems: string[] = [];
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError([`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
  const top = new Fields(doc, file, problems);
  const format = top.number('format', undefined, 1, 1, true);
  const list = top.list('checks');
  top.done();
  if (format === 1 && list.length === 0 && problems.length === 0) problems.push(`${file}.checks: must list at least one check`);
  const checks = list.map((raw, i) => readCheck(raw, `${file}: checks[${i}]`, problems));
  if (problems.length > 0) throw new ConfigError(problems);
  return checks.filter((c): c is Check => c !== null);
}

export function loadExpectations(file: string): Check[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  return parseExpectations(text, file);
}

const isClient = (client: string, r: ReplayRecord): boolean => r.clientIp === client || r.identity?.id === client;
/** The record's path normalised as vigil matches endpoint rules (the same patterns, the same paths). */
const segmentsOf = (r: ReplayRecord): string[] => pathSegments(normaliseEndpoint(r.method, r.path).path);

function selected(check: Check, r: ReplayRecord): boolean {
  if (check.clients.length > 0 && !check.clients.some((c) => isClient(c, r))) return false;
  if (check.paths.length > 0) {
    const segments = segmentsOf(r);
    if (!check.paths.some((p) => p.match(segments) !== null)) return false;
  }
  return true;
}

/** Why the check would assert about nothing (a client or path that matched no request), or null. */
function aboutNothing(check: Check, records: readonly ReplayRecord[], mine: readonly ReplayRecord[]): string | null {
  const noRequests = check.clients.filter((c) => !records.some((r) => isClient(c, r)));
  const noMatch = check.paths.filter((p) => !records.some((r) => p.match(segmentsOf(r)) !== null)).map((p) => p.text);
  const why: string[] = [];
  if (noRequests.length > 0) why.push(`clients ${noRequests.join(', ')} made no requests`);
  if (noMatch.length > 0) why.push(`paths ${noMatch.join(', ')} matched no request`);
  if (why.length === 0 && mine.length === 0) {
    why.push(check.clients.length > 0 && check.paths.length > 0 ? 'its clients and paths together matched no request' : 'the replay has no exchanges');
  }
  return why.length > 0 ? `the filter matched nothing, so the check would hold for nothing: ${why.join('; ')}` : null;
}

const describe = (r: ReplayRecord): string =>
  `${r.method} ${r.path} from ${r.clientIp} at ${isoOf(r.tsUs)} (exchange ${r.i}${decidingDetectors(r).length ? `; ${decidingDetectors(r).join(', ')}` : ''})`;

/** The exchange got `action` or stronger, enforced or shadowed, from one of `by` (any detector when empty). */
function reached(r: ReplayRecord, action: Action, by: readonly string[]): boolean {
  const from = (a: Action | 'error' | null, names: readonly string[]) => a !== null && force(a) >= force(action) && (by.length === 0 || names.some((d) => by.includes(d)));
  return from(r.action, r.detectors) || from(r.shadowAction, r.shadowDetectors);
}

function checkReaches(check: Check, records: ReplayRecord[]): CheckResult {
  const misses: string[] = [];
  const hits: string[] = [];
  for (const client of check.clients) {
    const own = records.filter((r) => r.clientIp === client || r.identity?.id === client);
    const at = own.findIndex((r) => reached(r, check.reaches!, check.by));
    const how = check.by.length > 0 ? `${check.reaches} by ${check.by.join(' or ')}` : check.reaches!;
    if (own.length === 0) misses.push(`${client} made no requests`);
    else if (at === -1) {
      const strongest = own.reduce<Action | 'error'>((s, r) => (force(decided(r)) > force(s) ? decided(r) : s), 'allow');
      misses.push(`${client} never reached ${how} in its ${own.length} requests (strongest: ${strongest})`);
    } else if (check.within !== null && at + 1 > check.within) {
      misses.push(`${client} reached ${how} only at its request ${at + 1}, not within ${check.within} (${describe(own[at]!)})`);
    } else hits.push(`${client} at its request ${at + 1}`);
  }
  return misses.length > 0 ? { name: check.name, ok: false, detail: misses.join('; ') } : { name: check.name, ok: true, detail: `reached ${check.reaches}: ${hits.join(', ')}` };
}

export function runChecks(checks: readonly Check[], records: readonly ReplayRecord[]): CheckResult[] {
  return checks.map((check) => {
    const mine = records.filter((r) => selected(check, r));
    const nothing = aboutNothing(check, records, mine);
    if (nothing !== null) return { name: check.name, ok: false, detail: nothing };
    if (check.reaches) return checkReaches(check, mine);
    if (check.never) {
      const bad = mine.filter((r) => force(decided(r)) >= force(check.never!));
      if (bad.length === 0) return { name: check.name, ok: true, detail: `no ${check.never} or stronger in ${mine.length} exchanges` };
      return { name: check.name, ok: false, detail: `${bad.length} of ${mine.length} exchanges got ${check.never} or stronger; first: ${decided(bad[0]!)}, ${describe(bad[0]!)}` };
    }
    const flagged = [...new Set(mine.filter((r) => force(decided(r)) > 0).map(callerOf))];
    const list = flagged.slice(0, 5).join(', ') + (flagged.length > 5 ? ', …' : '');
    if (check.maxFlagged !== null && flagged.length > check.maxFlagged) {
      return { name: check.name, ok: false, detail: `${flagged.length} callers flagged, more than ${check.maxFlagged}: ${list}` };
    }
    if (check.minFlagged !== null && flagged.length < check.minFlagged) {
      return { name: check.name, ok: false, detail: `${flagged.length} callers flagged, fewer than ${check.minFlagged}${flagged.length ? `: ${list}` : ''}` };
    }
    return { name: check.name, ok: true, detail: `${flagged.length} callers flagged` };
  });
}

export function formatResults(results: readonly CheckResult[]): string {
  const failed = results.filter((r) => !r.ok).length;
  const lines = results.map((r) => `${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}`);
  lines.push(failed === 0 ? `expectations: all ${results.length} passed` : `expectations: ${failed} of ${results.length} failed`);
  return `${lines.join('\n')}\n`;
}
