/**
 * The operator API under /admin/ on the admin HTTP server: list active penalties, lift one, look up
 * what the store holds for a subject or a client IP. JSON in and out, `cache-control: no-store`.
 *
 *   GET    /admin/penalties[?limit=N]      active penalties (tag marks included), soonest expiry first (N ≤ 1000, default 100)
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
import { ManualTable } from '../decision/manual-table.js';
import { ManualRulesFullError } from '../state/manual-rules.js';
import { HttpError, iso } from './admin-http.js';
import { manualChangesCounter, readBody, ruleView, rulesRoute } from './admin-rules.js';
import type { ManualRulesAccess } from './admin-rules.js';
import type { Logger } from './logger.js';

export const ADMIN_PREFIX = '/admin';
export const DEFAULT_LIST_LIMIT = 100;
export const MAX_LIST_LIMIT = 1000;
/** Longest subject accepted in a path (pseudonyms are ~40 characters, IPv6 prefixes ~50). */
export const MAX_SUBJECT_CHARS = 256;
/** Routes other than PUT /admin/rules/<target> read no body; one larger than this is not even drained: the connection is closed. */
const MAX_DRAINED_BODY_BYTES = 64 * 1024;

/**
 * Subjects as vigil builds them: letters, digits and `: . / - _ ~ + = @`. Everything else (Redis glob
 * characters `* ? [ ]`, hash-tag braces, spaces, control characters) is refused before the store sees it.
 */
const SUBJECT = /^[A-Za-z0-9:./_~+=@-]+$/;

export const DISABLED_MESSAGE = 'admin API disabled: set VIGIL_ADMIN_TOKEN';

/** The metric's `route` label: a fixed set, never the path. */
export type AdminRoute = 'penalties' | 'lift' | 'subject' | 'lookup' | 'rules' | 'rule' | 'other';

export type { ManualRulesAccess } from './admin-rules.js';

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
        case 'rules':
        case 'rule': {
          const [status, answer] = await rulesRoute(route, { req, path, query, body, nowMs, manual: deps.manual, logger, changes }, (methods) => allow(req, methods));
          return reply(status, answer);
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
