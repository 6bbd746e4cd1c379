/**
 * `vigil admin`: the operator API under /admin/ (obs/admin-api.ts) from the command line, so operators
 * need not write curl: list, inspect and lift penalties; set, list and remove manual block and allow
 * rules (docs/admin.md). A thin client: every check that matters is the server's; this file parses
 * arguments, sends one or two requests, and prints the answer (a table, or the API's JSON with --json).
 */
import { hostname, userInfo } from 'node:os';
import { isIP } from 'node:net';
import { DEFAULT_RULE_S, MAX_RULE_S } from '../obs/admin-rules.js';
import { human, inspectText, json, penaltiesTable, rulesTable } from './admin-format.js';
import type { PenaltyView, RuleView } from './admin-format.js';

export const ADMIN_HELP = `vigil admin — operate a running vigil through its admin API (/admin/)

Usage: vigil admin COMMAND [ARGUMENTS] [OPTIONS]

Penalties (set by detectors):
  list                        active penalties, soonest expiry first (--limit N, default 100, at most 1000)
  inspect SUBJECT             what the store holds for a subject (jwt:<hex>, cip:<ip>, pfx:<net>/<bits> …)
  inspect IP                  the same for every subject of a client IP, and the manual rule that applies
  lift SUBJECT [DETECTOR]     lift the subject's penalty and reset that detector's state for it; with
                              DETECTOR, only when that detector set it (checked first; exit 3 if not)

Manual rules (kept in the store, so every replica enforces them within about a second):
  block TARGET [--for D] [--reason TEXT]   answer every request from TARGET with 403 until D from now
  allow TARGET [--for D] [--reason TEXT]   exempt TARGET from every detector until D from now
  unblock TARGET              remove TARGET's manual rule (a block or an allow)
  rules                       active manual rules

  TARGET is an IP address (203.0.113.7, 2001:db8::1), a CIDR range (10.0.0.0/8, 2001:db8::/32) or an
  identity pseudonym such as api-key:<32 hex> (vigil pseudonym prints it; never a raw key). One rule
  per target: a new one replaces the old. The most specific rule wins: an identity's over an IP's, a
  longer prefix over a shorter one. D is a duration such as 90s, 15m, 1h, 2d or 1h30m (default 1h,
  at most 365d); bare digits are seconds.

Options:
  --url URL       the admin address (default $VIGIL_ADMIN_URL, else http://127.0.0.1:9464)
  --token TOKEN   the admin token (default $VIGIL_ADMIN_TOKEN; prefer the environment: a flag shows
                  in process lists)
  --by WHO        who makes the change, logged with it (default $VIGIL_ADMIN_BY, else user@host)
  --reason TEXT   why (block, allow; at most 200 characters)
  --for D         how long (block, allow)
  --limit N       list: at most N penalties
  --json          print the API's JSON answer instead of text
  --timeout S     give up on the admin API after S seconds (default 10)
  -h, --help      this help

Exit status: 0 done; 1 the request failed (vigil unreachable, not an admin API, server error, or a
refusal such as an invalid target); 2 wrong usage (nothing was sent); 3 nothing to do (no active
penalty or rule there, or DETECTOR did not set it); 4 not allowed (wrong token, or the admin API is
off on that vigil: set VIGIL_ADMIN_TOKEN there).
`;

const COMMANDS = ['list', 'inspect', 'lift', 'block', 'allow', 'unblock', 'rules'] as const;
type Command = (typeof COMMANDS)[number];
const VALUE_OPTIONS = ['--url', '--token', '--by', '--reason', '--for', '--limit', '--timeout'] as const;
const DEFAULT_URL = 'http://127.0.0.1:9464';
const BY = /^[A-Za-z0-9._@:+-]{1,64}$/;

class UsageError extends Error {}
/** An answer that ends the command with `code`. */
class Outcome extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface Options {
  url: string;
  token: string;
  by: string;
  reason: string;
  forS: number;
  limit: string | null;
  json: boolean;
  timeoutMs: number;
}

export interface AdminCliIo {
  env: NodeJS.ProcessEnv;
  out: (text: string) => void;
  err: (text: string) => void;
}

const processIo: AdminCliIo = { env: process.env, out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };

export async function runAdminCli(argv: string[], io: AdminCliIo = processIo): Promise<number> {
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h') || argv[0] === 'help') {
    (argv.length === 0 ? io.err : io.out)(ADMIN_HELP);
    return argv.length === 0 ? 2 : 0;
  }
  let command: Command;
  let args: string[];
  let opts: Options;
  try {
    ({ command, args, opts } = parse(argv, io.env));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`vigil admin: ${err.message} (see vigil admin --help)\n`);
    return 2;
  }
  try {
    const text = await run(command, args, opts);
    io.out(text.endsWith('\n') ? text : `${text}\n`);
    return 0;
  } catch (err) {
    if (err instanceof Outcome) {
      io.err(`vigil admin ${command}: ${err.message}\n`);
      return err.code;
    }
    throw err;
  }
}

function parse(argv: string[], env: NodeJS.ProcessEnv): { command: Command; args: string[]; opts: Options } {
  const [first, ...rest] = argv;
  if (!(COMMANDS as readonly string[]).includes(first!)) throw new UsageError(`unknown command "${first}": expected one of ${COMMANDS.join(', ')}`);
  const command = first as Command;
  const values = new Map<string, string>();
  let json = false;
  const args: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (a === '--json') json = true;
    else if ((VALUE_OPTIONS as readonly string[]).includes(a)) {
      const v = rest[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      values.set(a, v);
    } else if (a.startsWith('--') && a.includes('=') && (VALUE_OPTIONS as readonly string[]).includes(a.slice(0, a.indexOf('=')))) {
      values.set(a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1));
    } else if (a.startsWith('-') && a.length > 1 && !isIP(a)) throw new UsageError(`unknown option ${a}`);
    else args.push(a);
  }
  const arity: Record<Command, [number, number]> = { list: [0, 0], rules: [0, 0], inspect: [1, 1], lift: [1, 2], block: [1, 1], allow: [1, 1], unblock: [1, 1] };
  const [min, max] = arity[command];
  if (args.length < min || args.length > max) {
    throw new UsageError(`${command} takes ${min === max ? min : `${min} or ${max}`} argument${max === 1 ? '' : 's'}, got ${args.length}${args.length > 0 ? ` (${args.join(' ')})` : ''}`);
  }
  const allowedOptions: Record<Command, string[]> = {
    list: ['--limit'],
    rules: [],
    inspect: [],
    lift: ['--by'],
    block: ['--for', '--reason', '--by'],
    allow: ['--for', '--reason', '--by'],
    unblock: ['--by'],
  };
  for (const k of values.keys()) {
    if (!['--url', '--token', '--timeout', ...allowedOptions[command]].includes(k)) throw new UsageError(`${k} does not apply to ${command}`);
  }

  const url = (values.get('--url') ?? env.VIGIL_ADMIN_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--url: "${url}" is not a URL such as http://127.0.0.1:9464`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`--url: must be http:// or https://, got ${parsed.protocol}`);
  const token = (values.get('--token') ?? env.VIGIL_ADMIN_TOKEN ?? '').trim();
  if (token === '') throw new UsageError('no admin token: set VIGIL_ADMIN_TOKEN (the one vigil runs with) or give --token');
  const by = values.get('--by') ?? env.VIGIL_ADMIN_BY ?? defaultBy();
  if (!BY.test(by)) throw new UsageError(`--by: "${by}" must be 1 to 64 of letters, digits and . _ @ : + -`);
  const reason = values.get('--reason') ?? '';
  if (reason.length > 200) throw new UsageError('--reason: at most 200 characters');
  const forS = values.has('--for') ? parseDuration(values.get('--for')!) : DEFAULT_RULE_S;
  const timeout = values.get('--timeout') ?? '10';
  if (!/^\d+(\.\d+)?$/.test(timeout) || Number(timeout) <= 0 || Number(timeout) > 3600) throw new UsageError('--timeout: seconds, more than 0 and at most 3600');
  const limit = values.get('--limit') ?? null;
  if (limit !== null && !/^\d+$/.test(limit)) throw new UsageError('--limit: a whole number from 1 to 1000');
  return { command, args, opts: { url, token, by, reason, forS, limit, json, timeoutMs: Number(timeout) * 1000 } };
}

/** `90s`, `15m`, `1h`, `2d`, `1h30m`, or bare seconds → seconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  let s: number;
  if (/^\d+$/.test(t)) s = Number(t);
  else {
    const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(t);
    if (!m || t === '') throw new UsageError(`--for: "${text}" is not a duration such as 90s, 15m, 1h, 2d or 1h30m`);
    s = Number(m[1] ?? 0) * 86_400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
  }
  if (s < 1 || s > MAX_RULE_S) throw new UsageError(`--for: must be from 1s to 365d, got ${text}`);
  return s;
}

function defaultBy(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (some containers): keep 'unknown'.
  }
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._+-]/g, '');
  return `${clean(user) || 'unknown'}@${clean(hostname().split('.')[0] ?? '') || 'localhost'}`.slice(0, 64);
}

async function run(command: Command, args: string[], o: Options): Promise<string> {
  const enc = encodeURIComponent;
  switch (command) {
    case 'list': {
      const body = await call(o, 'GET', `/admin/penalties${o.limit ? `?limit=${o.limit}` : ''}`);
      return o.json ? json(body) : penaltiesTable(body.penalties as PenaltyView[]);
    }
    case 'inspect': {
      const ip = args[0]!.trim();
      const body = await call(o, 'GET', isIP(ip) ? `/admin/subjects?ip=${enc(ip)}` : `/admin/subjects/${enc(args[0]!)}`);
      return o.json ? json(body) : inspectText(body);
    }
    case 'lift': {
      const [subject, detector] = args as [string, string | undefined];
      if (detector !== undefined) {
        const state = await call(o, 'GET', `/admin/subjects/${enc(subject)}`);
        const p = (state.penalty ?? null) as PenaltyView | null;
        if (!p) throw new Outcome(3, `no active penalty for ${subject}`);
        if (p.detector !== detector) throw new Outcome(3, `the active penalty of ${subject} was set by ${p.detector}, not ${detector}: nothing lifted`);
      }
      const body = await call(o, 'DELETE', `/admin/penalties/${enc(subject)}`, undefined, 3);
      if (o.json) return json(body);
      const p = body.lifted as PenaltyView;
      const reset = (body.reset as string[]) ?? [];
      return `lifted ${p.action} of ${p.subject} (detector ${p.detector}, level ${p.level}, was until ${p.until})${reset.length ? `; reset ${reset.join(', ')}` : ''}`;
    }
    case 'block':
    case 'allow': {
      const body = await call(o, 'PUT', `/admin/rules/${enc(args[0]!)}`, { action: command, forS: o.forS, reason: o.reason, by: o.by });
      if (o.json) return json(body);
      const r = body.rule as RuleView;
      const old = body.replaced as RuleView | null;
      return `${r.action === 'block' ? 'blocked' : 'allowed'} ${r.target} (${r.kind}) until ${r.until} (${human(r.expiresInS)}) by ${r.by}${r.reason ? `: ${r.reason}` : ''}${old ? `\nreplaced: ${old.action} by ${old.by} until ${old.until}` : ''}`;
    }
    case 'unblock': {
      const body = await call(o, 'DELETE', `/admin/rules/${enc(args[0]!)}?by=${enc(o.by)}`, undefined, 3);
      if (o.json) return json(body);
      const r = body.removed as RuleView;
      return `removed ${r.action} of ${r.target} (${r.kind}, set by ${r.by}, was until ${r.until})`;
    }
    case 'rules': {
      const body = await call(o, 'GET', '/admin/rules');
      return o.json ? json(body) : rulesTable(body.rules as RuleView[]);
    }
  }
}

/**
 * One request to the admin API; the parsed JSON answer of a 2xx. Anything else is an Outcome: 404s
 * of "nothing there" → notFoundCode (when given), 401 and a disabled API → 4, the rest → 1.
 */
async function call(o: Options, method: string, path: string, body?: unknown, notFoundCode?: number): Promise<Record<string, any>> {
  const url = `${o.url}${path}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${o.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(o.timeoutMs),
      redirect: 'manual',
    });
  } catch (err) {
    throw new Outcome(1, `cannot reach the admin API at ${o.url}: ${why(err, o.timeoutMs)} (is vigil running, and is that its VIGIL_ADMIN_ADDRESS?)`);
  }
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw new Outcome(1, `the admin API at ${o.url} broke off its answer: ${why(err, o.timeoutMs)}`);
  }
  let answer: Record<string, any> | null = null;
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) answer = v as Record<string, any>;
  } catch {
    answer = null;
  }
  if (answer === null || (res.status >= 400 && typeof answer.error !== 'string')) {
    throw new Outcome(1, `${o.url} did not answer as vigil's admin API (HTTP ${res.status}${answer === null ? ', not JSON' : ''}): is it vigil's VIGIL_ADMIN_ADDRESS?`);
  }
  if (res.ok) return answer;
  const error = String(answer.error);
  if (res.status === 401) throw new Outcome(4, 'unauthorized: the token is not the VIGIL_ADMIN_TOKEN that vigil runs with');
  if (res.status === 404 && error.startsWith('admin API disabled')) throw new Outcome(4, `${error} on that vigil (it runs without an admin token)`);
  if (res.status === 404 && notFoundCode !== undefined && error.startsWith('no active')) throw new Outcome(notFoundCode, error);
  throw new Outcome(1, `${error} (HTTP ${res.status})`);
}

function why(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
