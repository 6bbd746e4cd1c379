/**
 * Roles from traffic: which template groups are static assets, logins, object reads or exports, each
 * with the evidence that decided it (written into the policy as comments and shown in the report).
 *
 *   static       reads of asset files: by extension (.css, .js, images, fonts, media) or by response
 *                content type; the evidence adds cacheability (Cache-Control) and how many callers.
 *                All static groups become one `static` rule, a whole top-level folder (`/assets/**`)
 *                when every read under it is an asset.
 *   login        writes to a credential form or JSON body (a password-like field), or to a login-like
 *                path (/login, /signin, /logon, /auth, /session, wp-login.php,
 *                /administrator/index.php). How failure shows, in this order: 401/403 answers; 200
 *                answers when other attempts were redirected (a form that re-renders on failure and
 *                redirects on success); otherwise every attempt counts (the upstream gives no signal
 *                vigil can read: all 200, or redirects both ways).
 *   object_read  reads whose template has an id segment with many distinct values per caller.
 *   export       reads whose responses are large (median ≥ 1 MiB).
 */
import type { Observation } from './observe.js';
import { groupByTemplate, patternOf, ruleName } from './templates.js';
import type { TemplateGroup } from './templates.js';

export type Role = 'static' | 'login' | 'object_read' | 'export';

export type LoginFailure = { status: number[] } | { every_attempt: true };

export interface LoginLearned {
  username: { kind: 'form' | 'json'; field: string; seen: boolean };
  failure: LoginFailure;
  /** Which evidence decided the failure signal, in a sentence. */
  failureEvidence: string;
  attempts: number;
}

export interface LearnedEndpoint {
  name: string;
  role: Role;
  methods: string[];
  paths: string[];
  /** Templates it covers, for the thresholds. */
  templates: string[];
  requests: number;
  callers: number;
  evidence: string[];
  login?: LoginLearned;
}

const ASSET_EXT = /\.(css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|bmp|woff2?|ttf|otf|eot|mp4|webm|mp3|ogg|wav)$/i;
const ASSET_TYPE = /^(text\/css|(application|text)\/(x-)?javascript|image\/|font\/|application\/(x-)?font|video\/|audio\/)/;
const LOGIN_PATH = /(^|\/)([^/]*(log-?in|sign-?in|log-?on)[^/]*|auth|session|sessions|wp-login\.php|administrator\/index\.php)(\/|$)/i;
const PASSWORD_FIELD = /^(password|passwd|pass|pwd|__ac_password|user_password)$/i;
const USERNAME_FIELDS = ['username', 'user', 'email', 'login', 'log', 'user_name', 'userid', '__ac_name', 'name'];
const EXPORT_BYTES = 1024 * 1024;

const pct = (part: number, whole: number): string => `${whole === 0 ? 0 : Math.round((100 * part) / whole)} %`;
const count = (n: number): string => n.toLocaleString('en-US');

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

function staticEvidence(g: TemplateGroup): string | null {
  const os = g.observations;
  // By the paths, not the template: a numbered photo (`/img/1234.jpg`) has the template `/img/{id}`.
  const withExt = os.map((o) => ASSET_EXT.exec(o.path)).filter((m) => m !== null);
  const byExt = withExt.length / os.length >= 0.9 ? withExt[0]! : null;
  const types = os.map((o) => o.contentType).filter((t): t is string => t !== null);
  const assetTypes = types.filter((t) => ASSET_TYPE.test(t));
  const byType = types.length > 0 && assetTypes.length / types.length >= 0.9;
  if (!byExt && !byType) return null;
  const parts = [byExt ? `extension .${byExt[1]!.toLowerCase()}` : `content type ${assetTypes[0]}`];
  const cache = os.map((o) => o.cacheable).filter((c): c is boolean => c !== null);
  if (cache.length > 0) parts.push(`${pct(cache.filter(Boolean).length, cache.length)} cacheable`);
  parts.push(`${count(os.length)} requests from ${count(g.callers)} callers`);
  return `${g.template}: ${parts.join(', ')}`;
}

/** Static groups → one rule; whole top-level folders when every read under them is an asset. */
function staticRule(groups: readonly TemplateGroup[], staticKeys: Set<string>, used: Set<string>): LearnedEndpoint | null {
  const statics = groups.filter((g) => staticKeys.has(g.key));
  if (statics.length === 0) return null;
  const reads = groups.filter((g) => !g.write);
  const folder = (t: string): string | null => (t.split('/').length > 2 ? t.split('/')[1]! : null);
  const wholeFolders = new Set<string>();
  for (const g of statics) {
    const f = folder(g.template);
    if (f === null || /[*{}]/.test(f)) continue;
    if (reads.filter((r) => folder(r.template) === f).every((r) => staticKeys.has(r.key))) wholeFolders.add(f);
  }
  const paths = new Set<string>([...wholeFolders].sort().map((f) => `/${f}/**`));
  const rest = new Map<string, string[]>();
  for (const g of statics) {
    const f = folder(g.template);
    if (f !== null && wholeFolders.has(f)) continue;
    const segs = g.template.split('/');
    const last = segs.pop()!;
    const ext = ASSET_EXT.exec(last)?.[1];
    const dir = segs.map((s) => (s === '{id}' ? '*' : s)).join('/');
    const k = ext && !/[*{}]/.test(dir) ? `${dir}/*.${ext}` : patternOf(g.template);
    if (k === null) continue;
    rest.set(k, [...(rest.get(k) ?? []), g.template]);
  }
  for (const [k, ts] of rest) paths.add(ts.length > 1 || k.includes('/*.') ? k : patternOf(ts[0]!)!);
  const evidence = statics
    .sort((a, b) => b.observations.length - a.observations.length)
    .slice(0, 5)
    .map((g) => staticEvidence(g)!);
  if (statics.length > 5) evidence.push(`… and ${count(statics.length - 5)} more asset templates`);
  return {
    name: ruleName('static', '', used),
    role: 'static',
    methods: ['GET', 'HEAD'],
    paths: [...paths].slice(0, 200),
    templates: statics.map((g) => g.template),
    requests: statics.reduce((s, g) => s + g.observations.length, 0),
    callers: new Set(statics.flatMap((g) => g.observations.map((o) => o.caller))).size,
    evidence,
  };
}

function loginWhy(g: TemplateGroup): string | null {
  const withPassword = g.observations.filter((o) => o.body?.fields.some((f) => PASSWORD_FIELD.test(f)));
  if (withPassword.length > 0) {
    const kind = withPassword[0]!.body!.kind;
    return `${count(withPassword.length)} of ${count(g.observations.length)} ${g.methods.join('/')}s carry a password field (${kind === 'json' ? 'JSON' : 'form'} body)`;
  }
  if (LOGIN_PATH.test(g.template)) return `the path ${g.template} is a login path`;
  return null;
}

function usernameOf(g: TemplateGroup, readsToo: boolean): LoginLearned['username'] {
  for (const o of g.observations) {
    if (!o.body) continue;
    const field = USERNAME_FIELDS.find((u) => o.body!.fields.some((f) => f.toLowerCase() === u)) ?? null;
    if (field !== null) return { kind: o.body.kind, field: o.body.fields.find((f) => f.toLowerCase() === field)!, seen: true };
  }
  const json = g.template.startsWith('/api/') || g.observations.some((o) => o.body?.kind === 'json');
  // A form page (a GET of the same path) or a site's path: a form; an API path: JSON.
  return { kind: json && !readsToo ? 'json' : 'form', field: 'username', seen: false };
}

function failureOf(g: TemplateGroup): { failure: LoginFailure; why: string } {
  const os = g.observations.filter((o) => o.status !== null);
  const by = (test: (s: number) => boolean): Observation[] => os.filter((o) => test(o.status!));
  const denied = [401, 403].filter((s) => os.some((o) => o.status === s));
  if (denied.length > 0) {
    return { failure: { status: denied }, why: `${count(by((s) => denied.includes(s)).length)} of ${count(os.length)} attempts were answered ${denied.join('/')}` };
  }
  const ok = by((s) => s >= 200 && s < 300);
  const redirects = by((s) => s >= 300 && s < 400);
  const backToForm = redirects.filter((o) => o.location !== null && o.location === o.path);
  if (ok.length > 0 && redirects.length > backToForm.length) {
    const oks = [...new Set(ok.map((o) => o.status!))].sort();
    const rs = [...new Set(redirects.map((o) => o.status!))].sort();
    return {
      failure: { status: oks },
      why: `${count(ok.length)} attempts were answered ${oks.join('/')} (the form shown again: failure) and ${count(redirects.length)} ${rs.join('/')} (a redirect: success)`,
    };
  }
  if (backToForm.length > 0) {
    return {
      failure: { every_attempt: true },
      why: `${count(backToForm.length)} attempts were redirected back to the form and ${count(redirects.length - backToForm.length)} elsewhere, which a status cannot tell apart: every attempt counts`,
    };
  }
  if (os.length === 0) return { failure: { every_attempt: true }, why: 'no responses in the input: every attempt counts' };
  const all = [...new Set(os.map((o) => o.status!))].sort();
  return { failure: { every_attempt: true }, why: `every attempt was answered ${all.join('/')}, the same for success and failure: every attempt counts` };
}

function distinctPerCaller(g: TemplateGroup): number[] {
  const ids = new Map<string, Set<string>>();
  for (const o of g.observations) {
    const id = o.objectIds[o.objectIds.length - 1];
    if (id === undefined) continue;
    let s = ids.get(o.caller);
    if (!s) ids.set(o.caller, (s = new Set()));
    s.add(id);
  }
  return [...ids.values()].map((s) => s.size);
}

/** Every learned endpoint: static first (one rule), then logins, object reads and exports by volume. */
export function learnRoles(observations: readonly Observation[]): LearnedEndpoint[] {
  const groups = groupByTemplate(observations);
  const used = new Set<string>();
  const staticKeys = new Set(groups.filter((g) => !g.write && staticEvidence(g) !== null).map((g) => g.key));
  const out: LearnedEndpoint[] = [];
  const st = staticRule(groups, staticKeys, used);
  if (st) out.push(st);
  const byVolume = [...groups].sort((a, b) => b.observations.length - a.observations.length);
  const base = (g: TemplateGroup, role: Role, suffix: string, evidence: string[]): LearnedEndpoint | null => {
    const pattern = patternOf(g.template);
    if (pattern === null) return null;
    return { name: ruleName(g.template, suffix, used), role, methods: g.methods, paths: [pattern], templates: [g.template], requests: g.observations.length, callers: g.callers, evidence };
  };
  for (const g of byVolume) {
    if (!g.write || staticKeys.has(g.key)) continue;
    const why = loginWhy(g);
    if (why === null) continue;
    const readsToo = groups.some((r) => !r.write && r.template === g.template);
    const { failure, why: failureWhy } = failureOf(g);
    const username = usernameOf(g, readsToo);
    const e = base(g, 'login', 'login', [why, `failure: ${failureWhy}`, username.seen ? `username: the ${username.kind} field "${username.field}"` : `username: no body in the input, ${username.kind} field "username" assumed: check it`]);
    if (e) out.push({ ...e, login: { username, failure, failureEvidence: failureWhy, attempts: g.observations.length } });
  }
  for (const g of byVolume) {
    if (g.write || staticKeys.has(g.key) || !g.template.includes('{id}')) continue;
    const perCaller = distinctPerCaller(g);
    const distinct = new Set(g.observations.map((o) => o.objectIds[o.objectIds.length - 1])).size;
    const max = Math.max(0, ...perCaller);
    if (distinct < 5 || max < 3) continue;
    const e = base(g, 'object_read', 'read', [`${count(distinct)} distinct ids in the last id segment; per caller median ${median(perCaller)}, max ${max} (${count(perCaller.length)} callers)`]);
    if (e) out.push(e);
  }
  for (const g of byVolume) {
    if (g.write || staticKeys.has(g.key) || out.some((e) => e.templates.includes(g.template) && e.role === 'object_read')) continue;
    const sizes = g.observations.filter((o) => o.status !== null && o.status < 300).map((o) => o.responseBytes);
    if (sizes.length < 2 || median(sizes) < EXPORT_BYTES) continue;
    const e = base(g, 'export', 'export', [`responses: median ${count(median(sizes))} bytes, max ${count(Math.max(...sizes))} (${count(sizes.length)} answered)`]);
    if (e) out.push(e);
  }
  return out;
}
