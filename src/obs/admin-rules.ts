/**
 * The operator API's manual rules (docs/admin.md): GET /admin/rules, PUT and DELETE
 * /admin/rules/<target>. Validates what the caller sends, keeps the rule in the store, refreshes this
 * replica's table at once, and logs and counts each change with `by`. Authentication, routing and
 * error mapping are admin-api.ts's.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import { parseTarget, TARGET_HELP } from '../decision/manual-target.js';
import { MANUAL_ACTIONS } from '../state/manual-rules.js';
import type { ManualAction, ManualRule, ManualRuleStore } from '../state/manual-rules.js';
import { HttpError, iso } from './admin-http.js';
import type { Logger } from './logger.js';

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

export interface RulesRouteContext {
  req: IncomingMessage;
  path: string;
  query: URLSearchParams;
  /** The PUT body, read by admin-api.ts before authentication (so it is drained either way). */
  body: Promise<string> | null;
  nowMs: number;
  manual: ManualRulesAccess | undefined;
  logger: Logger;
  changes: Counter<'change' | 'action'>;
}

/** Answers the `rules` (list) and `rule` (set, remove) routes: [status, body]. */
export async function rulesRoute(route: 'rules' | 'rule', c: RulesRouteContext, allow: (methods: string) => void): Promise<[number, unknown]> {
  const { req, path, query, nowMs, logger, changes } = c;
  const manual = c.manual;
  if (!manual) throw new HttpError(404, 'manual rules are not available on this server');
  if (route === 'rules') {
    allow('GET, HEAD');
    const rules = await timed(manual.store.list(nowMs));
    return [200, { rules: rules.map((r) => ruleView(r, nowMs)) }];
  }
  allow('PUT, DELETE');
  const { target, kind } = targetFrom(path);
  const remote = req.socket.remoteAddress ?? null;
  if (req.method === 'PUT') {
    const input = ruleInput(await c.body!);
    const rule: ManualRule = { target, kind, action: input.action, untilMs: nowMs + input.forS * 1000, sinceMs: nowMs, reason: input.reason, by: input.by };
    const replaced = await timed(manual.store.put(rule, nowMs));
    await timed(manual.refresh(true)).catch(() => undefined);
    changes.inc({ change: 'set', action: rule.action });
    logger.info(
      { target, kind, action: rule.action, until: iso(rule.untilMs), reason: rule.reason, by: rule.by, replaced: replaced ? { action: replaced.action, by: replaced.by, until: iso(replaced.untilMs) } : null, remoteAddress: remote },
      'manual rule set',
    );
    return [200, { rule: ruleView(rule, nowMs), replaced: replaced ? ruleView(replaced, nowMs) : null }];
  }
  const by = query.get('by') ?? '';
  if (by !== '' && !BY.test(by)) throw new HttpError(400, `by: ${BY_HELP}`);
  const removed = await timed(manual.store.remove(target, nowMs));
  if (!removed) return [404, { error: `no active manual rule for ${target}` }];
  await timed(manual.refresh(true)).catch(() => undefined);
  changes.inc({ change: 'removed', action: removed.action });
  logger.info({ target, kind, action: removed.action, by: by || null, setBy: removed.by, reason: removed.reason, remoteAddress: remote }, 'manual rule removed');
  return [200, { removed: ruleView(removed, nowMs) }];
}

const BY_HELP = 'who is making the change: 1 to 64 of letters, digits and . _ @ : + - (e.g. alice or alice@ops-laptop)';

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
export function readBody(req: IncomingMessage, res: ServerResponse): Promise<string> {
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

export function manualChangesCounter(registry: Registry): Counter<'change' | 'action'> {
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
