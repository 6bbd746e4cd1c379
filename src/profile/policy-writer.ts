/**
 * The learned policy as YAML, commented with the evidence behind every choice. It starts from a base
 * policy's text (policy/default.yaml, or the user's with `--from`), keeping everything it does not
 * learn (identity, responses, escalation, step-up, allowlist, the detectors and their comments):
 *
 *   without --from  the endpoints are replaced by the learned ones; a detector's `endpoints:` list
 *                   naming a base endpoint is pointed at the learned endpoints of the same role, and a
 *                   detector left with none is removed (said in the header);
 *   with --from     the user's endpoints are kept as they are; a learned endpoint is added (after
 *                   them, so it changes no match of theirs) only when none of their rules matches its
 *                   requests; one their rules already match is reported, not changed.
 *
 * Learned thresholds replace the detectors' values in place, with the rule and the figures as a comment.
 * Every change is also returned as one line, for the report and `--json`.
 */
import { parseDocument, YAMLMap, YAMLSeq } from 'yaml';
import type { Document, Scalar } from 'yaml';
import { matchEndpoint } from '../policy/endpoints.js';
import type { Policy } from '../policy/policy.js';
import { normaliseEndpoint } from '../request/endpoint.js';
import type { LearnedEndpoint, Role } from './roles.js';
import type { Recommendation } from './thresholds.js';

export interface WrittenPolicy {
  text: string;
  /** One line per change from the base: `+ endpoint …`, `~ detector …`, `- detector …`, `= …` (kept). */
  changes: string[];
}

export interface WriteOptions {
  base: Policy;
  /** true with --from: keep the base's endpoints, only add. */
  keepEndpoints: boolean;
  endpoints: readonly LearnedEndpoint[];
  thresholds: readonly Recommendation[];
  /** The header's first line: what was profiled. */
  header: string;
}

function roleOf(rule: Policy['endpoints'][number]): Role | null {
  if (rule.static) return 'static';
  if (rule.login) return 'login';
  if (rule.objectRead) return 'object_read';
  if (rule.export) return 'export';
  return null;
}

function endpointNode(doc: Document, e: LearnedEndpoint): YAMLMap {
  const obj: Record<string, unknown> = { name: e.name, match: { methods: e.methods, path: e.paths.length === 1 ? e.paths[0] : e.paths } };
  if (e.role === 'static') obj['static'] = true;
  if (e.role === 'object_read') obj['object_read'] = { id: e.paths[0]!.includes('{id}') ? 'param:id' : 'auto' };
  if (e.role === 'export') obj['export'] = { sample_body: false };
  if (e.role === 'login') {
    const l = e.login!;
    obj['login'] = { username: { [l.username.kind]: l.username.field }, failure: l.failure };
  }
  const node = doc.createNode(obj) as YAMLMap;
  const match = node.get('match') as YAMLMap;
  (match.get('methods') as YAMLSeq).flow = true;
  const login = node.get('login') as YAMLMap | undefined;
  if (login) {
    (login.get('username') as YAMLMap).flow = true;
    (login.get('failure') as YAMLMap).flow = true;
  }
  const oneLine = (s: string): string => s.replace(/[\r\n]+/g, ' ');
  node.commentBefore = [` ${e.role}: ${e.requests.toLocaleString('en-US')} requests from ${e.callers.toLocaleString('en-US')} callers`, ...e.evidence.map((l) => `   ${oneLine(l)}`)].join('\n');
  return node;
}

/** Whether a rule of `rules` already matches the requests of a learned endpoint. */
function coveredBy(base: Policy, e: LearnedEndpoint): string | null {
  for (const t of e.templates) {
    const path = t.replace(/\{id\}/g, '1');
    for (const m of e.methods) {
      const hit = matchEndpoint(base.endpoints, normaliseEndpoint(m, path));
      if (hit.rule) return hit.rule.name;
    }
  }
  return null;
}

export function writePolicy(opts: WriteOptions): WrittenPolicy {
  const { base } = opts;
  const doc = parseDocument(base.text, { keepSourceTokens: false });
  const changes: string[] = [];
  const endpoints = opts.keepEndpoints && doc.get('endpoints') instanceof YAMLSeq ? (doc.get('endpoints') as YAMLSeq) : new YAMLSeq();
  const taken = new Set(opts.keepEndpoints ? base.endpoints.map((r) => r.name) : []);
  const added: LearnedEndpoint[] = [];
  for (const learned of opts.endpoints) {
    let e = learned;
    if (opts.keepEndpoints) {
      const by = coveredBy(base, e);
      if (by !== null) {
        const rule = base.endpoints.find((r) => r.name === by)!;
        const role = roleOf(rule);
        changes.push(role === e.role ? `= endpoint ${e.name} (${e.role}): already your rule "${by}"` : `? endpoint ${e.name} looks ${e.role} (${e.evidence[0]}) but your rule "${by}" matches it as ${role ?? 'no role'}: not changed`);
        continue;
      }
      let name = e.name;
      for (let i = 2; taken.has(name); i++) name = `${e.name}-${i}`;
      e = { ...e, name };
    }
    taken.add(e.name);
    endpoints.items.push(endpointNode(doc, e));
    added.push(e);
    changes.push(`+ endpoint ${e.name} (${e.role}): ${e.methods.join(',')} ${e.paths.slice(0, 3).join(' ')}${e.paths.length > 3 ? ` … (${e.paths.length} paths)` : ''}`);
  }
  if (!opts.keepEndpoints) {
    for (const r of base.endpoints) changes.push(`- endpoint ${r.name} (of the base policy; replaced by the learned ones)`);
  }
  doc.set('endpoints', endpoints);

  const detectors = doc.get('detectors') as YAMLSeq | undefined;
  const maps = detectors ? (detectors.items as YAMLMap[]) : [];
  if (!opts.keepEndpoints) {
    // Point endpoint lists at the learned endpoints of the same role; drop a detector left with none.
    const baseRoles = new Map(base.endpoints.map((r) => [r.name, roleOf(r)]));
    for (const m of [...maps]) {
      const list = m.get('endpoints');
      if (!(list instanceof YAMLSeq)) continue;
      const names = new Set<string>();
      for (const item of list.items) {
        const old = String((item as Scalar).value ?? item);
        if (old === 'other') names.add('other');
        const role = baseRoles.get(old);
        for (const a of added) if (role && a.role === role) names.add(a.name);
      }
      const name = String(m.get('name'));
      if (names.size === 0) {
        detectors!.items.splice(detectors!.items.indexOf(m), 1);
        changes.push(`- detector ${name}: its endpoints (${list.items.map((i) => String((i as Scalar).value ?? i)).join(', ')}) have no learned counterpart`);
      } else {
        const seq = doc.createNode([...names]) as YAMLSeq;
        seq.flow = true;
        m.set('endpoints', seq);
      }
    }
  }
  for (const r of opts.thresholds) {
    const m = maps.find((x) => x.get('name') === r.detector);
    if (!m) continue;
    const d = r.all;
    const figures = `${r.what} per ${r.window} per caller: p50 ${d.p50}, p99 ${d.p99}, max ${d.max} (${d.callers} callers)`;
    if (r.recommended === r.current) {
      changes.push(`= detector ${r.detector}.${r.key} ${r.current}: ${r.margin}`);
      continue;
    }
    m.set(r.key, r.recommended);
    (m.get(r.key, true) as Scalar).comment = ` learned: ${figures}; ${r.margin}`;
    changes.push(`~ detector ${r.detector}.${r.key}: ${r.current} → ${r.recommended} (${figures}; ${r.margin})`);
  }
  const removed = changes.filter((c) => c.startsWith('- detector'));
  const header = [
    ` ${opts.header}`,
    ` Base: ${base.source}${opts.keepEndpoints ? ' (--from: your endpoints kept, learned ones added)' : ''}. Every learned choice is commented with its evidence.`,
    ` Read \`vigil profile\`'s report (the cost diff) before enforcing it; docs/profile.md explains each rule.`,
    ...removed.map((c) => ` Removed: ${c.slice(2)}`),
  ].join('\n');
  doc.commentBefore = doc.commentBefore ? `${header}\n\n${doc.commentBefore}` : header;
  return { text: tightBrackets(doc.toString({ lineWidth: 0 })), changes };
}

/**
 * `[ a, b ]` → `[a, b]`, as policies are written by hand (the yaml library pads flow sequences and maps
 * alike, and the default policy writes `[a, b]` and `{ a: b }`): so a diff against the base shows what
 * changed, not the spacing. Comments are left alone.
 */
function tightBrackets(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const hash = line.search(/(^|\s)#/);
      const code = hash === -1 ? line : line.slice(0, hash);
      return code.replace(/\[ ([^\[\]]*?) \]/g, '[$1]').replace(/\[ \]/g, '[]') + (hash === -1 ? '' : line.slice(hash));
    })
    .join('\n');
}
