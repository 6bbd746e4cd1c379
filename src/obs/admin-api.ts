/**
 * The operator API under /admin/ on the admin HTTP server: list active penalties, lift one, look up
 * what the store holds for a subject or a client IP. JSON in and out, `cache-control: no-store`.
 *
 *   GET    /admin/penalties[?limit=N]      active penalties, soonest expiry first (N ≤ 1000, default 100)
 *   DELETE /admin/penalties/<subject>      lift a penalty (its strikes, and the subject's state of the
 *                                          detector that set it: `reset`); 404 when none is active
 *   GET    /admin/subjects/<subject>       everything the store holds for one subject
 *   GET    /admin/subjects?ip=<address>    the same for the identity, client-ip and ip-prefix subjects of an IP,
 *                                          and the manual rule that applies to the address (`manual`)
 *   GET    /admin/rules                    active manual rules (block/allow of an IP, CIDR or identity), by target
 *   PUT    /admin/rules/<target>           set one: JSON body {action, forS, reason, by}; replaces the target's rule
 *   DELETE /admin/rules/<target>[?by=who]  remove one; 404 when the target has none
 *
 * Every route needs `Authorization: Bearer <VIGIL_ADMIN_TOKEN>` (compared in constant time over SHA-256
 * digests); without the setting every /admin/ path answers 404. Subjects are pseudonyms or derived ids
 * (`jwt:<hex>`, `cip:1.2.3.4`, `pfx:10.0.0.0/24`, `ep:<group>` …), URL-encoded in the path; never a raw
 * credential. A lift is logged at info (`penalty lifted`, with the caller's address) and counted; so is
 * every manual rule set or removed (`manual rule set` / `manual rule removed`, with `by`: who the
 * caller says they are, and its address). Manual rules: docs/admin.md.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { StoreUnavailableError } from '../errors.js';
import { ipPrefix } from '../request/cidr.js';
import { canonicalIp } from '../request/client-ip.js';
import type { Pseudonymizer } from '../request/keyed-hash.js';
import type { ListedPenalty, Penalty, StateStore, SubjectState } from '../state/store.js';
import { parseTarget, TARGET_HELP } from '../decision/manual-target.js';
import { ManualTable } from '../decision/manual-table.js';
import { MANUAL_ACTIONS, ManualRulesFullError } from '../state/manual-rules.js';
import type { ManualAction, ManualRule, ManualRuleStore } from '../state/manual-rules.js';
import type { Logger } from './logger.js';

export const ADMIN_PREFIX = '/admin';
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;
/** Longest subject accepted in a path (pseudonyms are ~40 characters, IPv6 prefixes ~50). */
export const MAX_SUBJECT_CHARS = 256;
/** The API reads no request body; one larger than this is not even drained: the connection is closed. */
const MAX_DRAINED_BODY_BYTES = 64 * 1024;

/**
 * Subjects as vigil builds them: letters, digits and `: . / - _ ~ + = @`. Everything else (Redis glob
 * characters `* ? [ ]`, hash-tag braces, spaces, control characters) is refused before the store sees it.
 */
const SUBJECT = /^[A-Za-z0-9:./_~+=@-]+$/;

export const DISABLED_MESSAGE = 'admin API disabled: set VIGIL_ADMIN_TOKEN';

/** The metric's `route` label: a fixed set, never the path. */
export type AdminRoute = 'penalties' | 'lift' | 'subject' | 'lookup' | 'rules' | 'rule' | 'other';

/** A manual rule lasts this long when the request does not say (forS), and at most MAX_RULE_S. */
export const DEFAULT_RULE_S = 3600;
export const MAX_RULE_S = 365 * 86_400;
export const MAX_REASON_CHARS = 200;
/** `by`: a user name, user@host or a service name; shown in logs and the x-vigil-reason header. */
export const BY = /^[A-Za-z0-9._@:+-]{1,64}$/;
/** Largest request body read (PUT /admin/rules/<target>); a larger one is answered 413. */
const MAX_RULE_BODY_BYTES = 4096;
/** A manual-rules call that takes longer than this is answered 503 (the store is frozen or away). */
const MANUAL_STORE_TIMEOUT_MS = 3000;

/** The manual rules: where they are kept, and this replica's table (refreshed at once after a change). */
export interface ManualRulesAccess {
  store: ManualRuleStore;
  refresh(force: boolean): Promise<void>;
  readonly rules: readonly ManualRule[];
}

export interface AdminApiDeps {
  /** VIGIL_ADMIN_TOKEN; null disables the API. Never logged. */
  token: string | null;
  store: Pick<StateStore, 'liftPenalty' | 'listPenalties' | 'inspect'>;
  clock: Clock;
  pseudonymize: Pseudonymizer;
  logger: Logger;
  registry: Registry;
  /** Manual rules; absent: the /admin/rules routes answer 404. */
  manual?: ManualRulesAccess;
}

/** A penalty as the API shows it. */
export interface PenaltyView {
  subject: string;
  action: Penalty['action'];
  detector: string;
  score: number;
  level: number;
  since: string | null;
  until: string | null;
  expiresInS: number;
}

export type AdminApi = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** Whether admin.ts should hand this path to the API: `/admin` and everything under `/admin/`. */
export function isAdminApiPath(path: string): boolean {
  return path === ADMIN_PREFIX || path.startsWith(`${ADMIN_PREFIX}/`);
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function createAdminApi(deps: AdminApiDeps): AdminApi {
  const { store, clock, pseudonymize, logger } = deps;
  const expected = deps.token === null ? null : digest(deps.token);
  const requests = adminRequestsCounter(deps.registry);
  const lifted = liftedCounter(deps.registry);
  const changes = manualChangesCounter(deps.registry);

  return async (req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const route = routeOf(path);
    const body = route === 'rule' && req.method === 'PUT' ? readBody(req, res) : (ignoreBody(req, res), null);
    // Read before the checks below, awaited only by the route: a refused request's body must not be an unhandled rejection.
    body?.catch(() => undefined);
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      requests.inc({ route, status: String(status) });
      sendJson(res, status, body, headers);
    };

    if (expected === null) return reply(404, { error: DISABLED_MESSAGE });
    if (!authorized(req.headers.authorization, expected)) {
      return reply(401, { error: 'unauthorized' }, { 'www-authenticate': 'Bearer realm="vigil-admin"' });
    }
    try {
      const nowMs = clock.nowMs();
      switch (route) {
        case 'penalties': {
          allow(req, 'GET, HEAD');
          const limit = parseLimit(query.get('limit'));
          const listed = await store.listPenalties(nowMs, limit);
          return reply(200, { penalties: listed.map((p) => penaltyView(p, nowMs)) });
        }
        case 'lift': {
          allow(req, 'DELETE');
          const subject = subjectFrom(path, '/admin/penalties/');
          const p = await store.liftPenalty(subject, nowMs);
          if (!p) return reply(404, { error: `no active penalty for ${subject}` });
          const view = penaltyView({ ...p, subject }, nowMs);
          lifted.inc({ detector: p.detector, action: p.action });
          // `escalationLevel`, not `level`: pino's own `level` field would be overwritten by it.
          logger.info(
            { subject, action: p.action, detector: p.detector, escalationLevel: p.level, until: view.until, reset: p.reset, remoteAddress: req.socket.remoteAddress ?? null },
            'penalty lifted',
          );
          // `reset`: the subject's state of that detector, cleared so the burst does not fire it again.
          return reply(200, { lifted: view, reset: p.reset });
        }
        case 'subject': {
          allow(req, 'GET, HEAD');
          const subject = subjectFrom(path, '/admin/subjects/');
          return reply(200, subjectView(await store.inspect(subject, nowMs), nowMs));
        }
        case 'lookup': {
          allow(req, 'GET, HEAD');
          const raw = query.get('ip');
          if (raw === null) throw new HttpError(400, 'give ?ip=<address>, or look a subject up at /admin/subjects/<subject>');
          const ip = isIP(raw.trim()) ? canonicalIp(raw.trim()) : null;
          if (ip === null) throw new HttpError(400, 'ip: not a valid IPv4 or IPv6 address');
          const subjects = [pseudonymize('ip', ip), `cip:${ip}`, `pfx:${ipPrefix(ip)}`];
          const states = await Promise.all(subjects.map((s) => store.inspect(s, nowMs)));
          const rule = deps.manual ? new ManualTable(deps.manual.rules).match(subjects[0]!, ip, nowMs) : null;
          return reply(200, { ip, subjects: states.map((s) => subjectView(s, nowMs)), manual: rule ? ruleView(rule, nowMs) : null });
        }
        case 'rules': {
          allow(req, 'GET, HEAD');
          const manual = manualOf(deps);
          const rules = await timed(manual.store.list(nowMs));
          return reply(200, { rules: rules.map((r) => ruleView(r, nowMs)) });
        }
        case 'rule': {
          allow(req, 'PUT, DELETE');
          const manual = manualOf(deps);
          const { target, kind } = targetFrom(path);
          const remote = req.socket.remoteAddress ?? null;
          if (req.method === 'PUT') {
            const input = ruleInput(await body!);
            const rule: ManualRule = { target, kind, action: input.action, untilMs: nowMs + input.forS * 1000, sinceMs: nowMs, reason: input.reason, by: input.by };
            const replaced = await timed(manual.store.put(rule, nowMs));
            await timed(manual.refresh(true)).catch(() => undefined);
            changes.inc({ change: 'set', action: rule.action });
            logger.info(
              { target, kind, action: rule.action, until: iso(rule.untilMs), reason: rule.reason, by: rule.by, replaced: replaced ? { action: replaced.action, by: replaced.by, until: iso(replaced.untilMs) } : null, remoteAddress: remote },
              'manual rule set',
            );
            return reply(200, { rule: ruleView(rule, nowMs), replaced: replaced ? ruleView(replaced, nowMs) : null });
          }
          const by = query.get('by') ?? '';
          if (by !== '' && !BY.test(by)) throw new HttpError(400, `by: ${BY_HELP}`);
          const removed = await timed(manual.store.remove(target, nowMs));
          if (!removed) return reply(404, { error: `no active manual rule for ${target}` });
          await timed(manual.refresh(true)).catch(() => undefined);
          changes.inc({ change: 'removed', action: removed.action });
          logger.info({ target, kind, action: removed.action, by: by || null, setBy: removed.by, reason: removed.reason, remoteAddress: remote }, 'manual rule removed');
          return reply(200, { removed: ruleView(removed, nowMs) });
        }
        case 'other':
          throw new HttpError(404, 'not found: the admin API has /admin/penalties, /admin/penalties/<subject>, /admin/subjects/<subject>, /admin/subjects?ip=<address>, /admin/rules, /admin/rules/<target>');
      }
    } catch (err) {
      if (err instanceof HttpError) return reply(err.status, { error: err.message }, err.headers);
      if (err instanceof ManualRulesFullError) return reply(409, { error: err.message });
      if (route === 'rules' || route === 'rule') {
        logger.warn({ route, err: String(err) }, 'admin API: manual rules unavailable');
        return reply(503, { error: `state store unavailable (${err instanceof Error ? err.message : 'error'})` }, { 'retry-after': '5' });
      }
      if (err instanceof StoreUnavailableError) {
        logger.warn({ route, reason: err.reason, err: err.message }, 'admin API: state store unavailable');
        return reply(503, { error: `state store unavailable (${err.reason})` }, { 'retry-after': '5' });
      }
      logger.error({ route, err: String(err) }, 'admin API request failed');
      return reply(500, { error: 'internal error' });
    }
  };
}

/** The route label of a path; the method is checked later (a wrong one is a 405 on the same route). */
function routeOf(path: string): AdminRoute {
  if (path === '/admin/penalties') return 'penalties';
  if (path.startsWith('/admin/penalties/') && path.length > '/admin/penalties/'.length) return 'lift';
  if (path === '/admin/subjects') return 'lookup';
  if (path.startsWith('/admin/subjects/') && path.length > '/admin/subjects/'.length) return 'subject';
  if (path === '/admin/rules') return 'rules';
  if (path.startsWith('/admin/rules/') && path.length > '/admin/rules/'.length) return 'rule';
  return 'other';
}

function allow(req: IncomingMessage, methods: string): void {
  if (!methods.split(', ').includes(req.method ?? '')) throw new HttpError(405, `method not allowed: use ${methods}`, { allow: methods });
}

/**
 * The URL-decoded subject after `prefix`. An ip-prefix subject holds a `/`: `pfx%3A10.0.0.0%2F24` is
 * the documented form, and the unencoded `pfx:10.0.0.0/24` is accepted too (nothing else follows it).
 */
function subjectFrom(path: string, prefix: string): string {
  let subject: string;
  try {
    subject = decodeURIComponent(path.slice(prefix.length));
  } catch {
    throw new HttpError(400, 'subject: malformed URL encoding');
  }
  if (subject.length === 0 || subject.length > MAX_SUBJECT_CHARS || !SUBJECT.test(subject)) {
    throw new HttpError(400, `subject: expected a pseudonym or subject id such as jwt:<hex>, cip:<ip> or pfx:<network>/<bits> (at most ${MAX_SUBJECT_CHARS} characters)`);
  }
  return subject;
}

const BY_HELP = 'who is making the change: 1 to 64 of letters, digits and . _ @ : + - (e.g. alice or alice@ops-laptop)';

function manualOf(deps: AdminApiDeps): ManualRulesAccess {
  if (!deps.manual) throw new HttpError(404, 'manual rules are not available on this server');
  return deps.manual;
}

/** The canonical target after /admin/rules/ (URL-decoded: a range's `/` may be written %2F or as is). */
function targetFrom(path: string): { target: string; kind: ManualRule['kind'] } {
  let raw: string;
  try {
    raw = decodeURIComponent(path.slice('/admin/rules/'.length));
  } catch {
    throw new HttpError(400, 'target: malformed URL encoding');
  }
  const t = parseTarget(raw);
  if (!t) throw new HttpError(400, `target: expected ${TARGET_HELP}`);
  return t;
}

/** The PUT body: {action, forS?, reason?, by}, every field checked. */
function ruleInput(text: string): { action: ManualAction; forS: number; reason: string; by: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body: expected JSON such as {"action":"block","forS":3600,"reason":"…","by":"alice"}');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'body: expected a JSON object');
  const b = value as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => !['action', 'forS', 'reason', 'by'].includes(k));
  if (unknown.length > 0) throw new HttpError(400, `body: unknown field ${unknown[0]} (expected action, forS, reason, by)`);
  if (!(MANUAL_ACTIONS as readonly unknown[]).includes(b.action)) throw new HttpError(400, 'action: must be "block" or "allow"');
  const forS = b.forS ?? DEFAULT_RULE_S;
  if (typeof forS !== 'number' || !Number.isInteger(forS) || forS < 1 || forS > MAX_RULE_S) {
    throw new HttpError(400, `forS: must be a whole number of seconds from 1 to ${MAX_RULE_S} (365 days)`);
  }
  const reason = b.reason ?? '';
  // Printable text only: it goes to logs and the API, never raw control characters.
  if (typeof reason !== 'string' || reason.length > MAX_REASON_CHARS || /[\u0000-\u001f\u007f]/.test(reason)) {
    throw new HttpError(400, `reason: must be text of at most ${MAX_REASON_CHARS} characters without control characters`);
  }
  if (typeof b.by !== 'string' || !BY.test(b.by)) throw new HttpError(400, `by: ${BY_HELP}`);
  return { action: b.action as ManualAction, forS, reason, by: b.by };
}

/** A manual-rules store call, bounded: a frozen store is a 503, not a hung request. */
function timed<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${MANUAL_STORE_TIMEOUT_MS} ms`)), MANUAL_STORE_TIMEOUT_MS);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Reads a small body; a larger one is a 413 (and the connection is closed after the reply). */
function readBody(req: IncomingMessage, res: ServerResponse): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let seen = 0;
    const tooLarge = (): void => {
      req.pause();
      res.shouldKeepAlive = false;
      res.once('finish', () => req.socket.destroy());
      reject(new HttpError(413, `body: at most ${MAX_RULE_BODY_BYTES} bytes`));
    };
    if (!(Number(req.headers['content-length'] ?? 0) <= MAX_RULE_BODY_BYTES)) return tooLarge();
    req.on('data', (c: Buffer) => {
      if (seen > MAX_RULE_BODY_BYTES) return;
      seen += c.length;
      if (seen > MAX_RULE_BODY_BYTES) return tooLarge();
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A manual rule as the API shows it. */
export function ruleView(r: ManualRule, nowMs: number) {
  return {
    target: r.target,
    kind: r.kind,
    action: r.action,
    reason: r.reason,
    by: r.by,
    since: iso(r.sinceMs),
    until: iso(r.untilMs),
    expiresInS: Math.max(0, Math.ceil((r.untilMs - nowMs) / 1000)),
  };
}

function parseLimit(raw: string | null): number {
  if (raw === null || raw === '') return DEFAULT_LIST_LIMIT;
  if (!/^\d{1,7}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_LIST_LIMIT) {
    throw new HttpError(400, `limit: must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  return Number(raw);
}

/** `Authorization: Bearer <token>` against the expected digest, in constant time. */
function authorized(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  const given = digest(m?.[1] ?? '');
  // Compare even when the header is missing or malformed, so every refusal takes the same time.
  return timingSafeEqual(given, expected) && m !== null;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function iso(ms: number): string | null {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : null;
}

export function penaltyView(p: ListedPenalty, nowMs: number): PenaltyView {
  return {
    subject: p.subject,
    action: p.action,
    detector: p.detector,
    score: p.score,
    level: p.level,
    since: iso(p.sinceMs),
    until: iso(p.untilMs),
    expiresInS: Math.max(0, Math.ceil((p.untilMs - nowMs) / 1000)),
  };
}

/** The store's SubjectState, its absolute times also as ISO 8601 strings. */
function subjectView(s: SubjectState, nowMs: number) {
  return {
    subject: s.subject,
    penalty: s.penalty ? { ...s.penalty, ...penaltyView({ ...s.penalty, subject: s.subject }, nowMs) } : null,
    strikes: s.strikes ? { ...s.strikes, last: iso(s.strikes.lastMs) } : null,
    creditUntilMs: s.creditUntilMs,
    creditUntil: s.creditUntilMs > 0 ? iso(s.creditUntilMs) : null,
    state: s.state,
  };
}

/**
 * The API reads no body: a small one is drained and dropped (so the connection can be reused), a
 * larger one is not read at all and the connection closes after the reply.
 */
function ignoreBody(req: IncomingMessage, res: ServerResponse): void {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (!(declared <= MAX_DRAINED_BODY_BYTES)) {
    res.shouldKeepAlive = false;
    res.once('finish', () => req.socket.destroy());
    return;
  }
  let seen = 0;
  const onData = (chunk: Buffer): void => {
    seen += chunk.length;
    if (seen <= MAX_DRAINED_BODY_BYTES) return;
    req.off('data', onData);
    req.pause();
    res.shouldKeepAlive = false;
    if (res.writableFinished) req.socket.destroy();
    else res.once('finish', () => req.socket.destroy());
  };
  req.on('data', onData);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body) + '\n');
}

function adminRequestsCounter(registry: Registry): Counter<'route' | 'status'> {
  const name = 'vigil_admin_requests_total';
  return (
    (registry.getSingleMetric(name) as Counter<'route' | 'status'> | undefined) ??
    new Counter({
      name,
      help: 'Admin API (/admin/) requests by route (penalties, lift, subject, lookup, other) and HTTP status',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    })
  );
}

function manualChangesCounter(registry: Registry): Counter<'change' | 'action'> {
  const name = 'vigil_manual_changes_total';
  return (
    (registry.getSingleMetric(name) as Counter<'change' | 'action'> | undefined) ??
    new Counter({
      name,
      help: 'Manual rules set or removed through the admin API, by change (set, removed) and action (block, allow)',
      labelNames: ['change', 'action'] as const,
      registers: [registry],
    })
  );
}

function liftedCounter(registry: Registry): Counter<'detector' | 'action'> {
  const name = 'vigil_penalties_lifted_total';
  return (
    (registry.getSingleMetric(name) as Counter<'detector' | 'action'> | undefined) ??
    new Counter({
      name,
      help: 'Penalties lifted by an operator through the admin API, by the detector that set them and their action',
      labelNames: ['detector', 'action'] as const,
      registers: [registry],
    })
  );
}
