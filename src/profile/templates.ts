/**
 * Endpoints from traffic: observations grouped by path template and method group. The template is
 * vigil's own (request/endpoint.ts: digits, UUIDs, long hex, opaque tokens and numbered slugs become
 * `{id}`), so a learned rule matches exactly the requests it was learned from. Reads (GET, HEAD) and
 * writes (every other method) of one template are separate groups: a login form is a GET that shows it
 * and a POST that submits it. Also: a template as a policy path pattern, and rule names.
 */
import type { Observation } from './observe.js';

export interface TemplateGroup {
  /** `read /orders/{id}` or `write /login`. */
  key: string;
  template: string;
  write: boolean;
  methods: string[];
  observations: Observation[];
  callers: number;
}

const READS = new Set(['GET', 'HEAD']);

export function isWrite(method: string): boolean {
  return !READS.has(method);
}

/** Groups in order of first appearance. */
export function groupByTemplate(observations: readonly Observation[]): TemplateGroup[] {
  const groups = new Map<string, { g: TemplateGroup; methods: Set<string>; callers: Set<string> }>();
  for (const o of observations) {
    const write = isWrite(o.method);
    const key = `${write ? 'write' : 'read'} ${o.template}`;
    let e = groups.get(key);
    if (!e) {
      e = { g: { key, template: o.template, write, methods: [], observations: [], callers: 0 }, methods: new Set(), callers: new Set() };
      groups.set(key, e);
    }
    e.g.observations.push(o);
    e.methods.add(o.method);
    e.callers.add(o.caller);
  }
  return [...groups.values()].map(({ g, methods, callers }) => ({ ...g, methods: [...methods].sort(), callers: callers.size }));
}

/**
 * The template as a policy path pattern: `{id}` segments become `{id}`, `{id2}`, … (each a captured
 * parameter), the last one named `id`; null when a literal segment holds a character that patterns
 * read specially (`*`, `{`, `}`), which a learned rule then cannot name exactly.
 */
export function patternOf(template: string): string | null {
  const segs = template === '/' ? [] : template.slice(1).split('/');
  const ids = segs.filter((s) => s === '{id}').length;
  let seen = 0;
  const out: string[] = [];
  for (const s of segs) {
    if (s === '{id}') {
      seen++;
      out.push(seen === ids ? '{id}' : `{id${seen}}`);
    } else if (/[*{}]/.test(s)) return null;
    else out.push(s);
  }
  return `/${out.join('/')}`;
}

/** A rule name from a template: lower-case letters, digits and `-`, unique among `used`. */
export function ruleName(template: string, suffix: string, used: Set<string>): string {
  const words = template
    .toLowerCase()
    .replace(/\{id\}/g, 'id')
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== '' && w !== 'id' && !/^\d+$/.test(w));
  const last = words.slice(-3);
  let base = [...last, ...(last[last.length - 1]?.includes(suffix) && suffix !== '' ? [] : [suffix])].filter((w) => w !== '').join('-').slice(0, 50).replace(/^-+|-+$/g, '') || suffix;
  if (!/^[a-z0-9]/.test(base)) base = `e-${base}`;
  if (base === 'other') base = 'other-endpoint';
  let name = base;
  for (let i = 2; used.has(name); i++) name = `${base}-${i}`;
  used.add(name);
  return name;
}
