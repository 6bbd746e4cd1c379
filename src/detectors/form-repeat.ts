import { createHash } from 'node:crypto';
import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import type { CountOp, OpResult } from '../state/store.js';
import { appliesTo } from './applies.js';
import { ratioRule, signal, subjectFor } from './signal.js';
import { subjectOf } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, Plan, Signal } from './types.js';

/**
 * Form repeat: a form hammered by one caller, found without the endpoint being declared a login.
 * Per subject and form (method and path template, among `methods:`, default POST), over a sliding
 * window, the response phase counts the answers and the answers *alike this one* (same status, body
 * size in the same ~19 % class, see answerClass). It fires when at least max_attempts / sensitivity
 * answers came back and more than alike_ratio of them were alike this one: the same form, hundreds
 * of times, one and the same answer ("wrong password"), is guessing. A person resubmitting a form a
 * few times never reaches the volume; a document saved every few seconds stays under it (the volume
 * is an upper bound on honest repetition); a search or comment form answering differently each time
 * is not alike. Declared login endpoints are left to the login detectors. Reasoning: docs/detectors.md.
 */
export interface FormRepeatConfig extends DetectorBase {
  type: 'form-repeat';
  windowMs: number;
  maxAttempts: number;
  alikeRatio: number;
  methods: string[];
}

/** The size class of an answer: ⌊4·log2(bytes + 1)⌋, so one class spans a factor 2^(1/4) ≈ 1.19; `c` when unknown (chunked). */
export function answerClass(status: number, contentLength: number | null): string {
  const size = contentLength === null ? 'c' : String(Math.floor(4 * Math.log2(contentLength + 1)));
  return `${status}:${size}`;
}

export class FormRepeatDetector implements Detector {
  constructor(readonly config: FormRepeatConfig) {}

  private applies(x: Exchange): boolean {
    return appliesTo(this.config, x) && !x.endpoint.rule?.login && this.config.methods.includes(x.facts.endpoint.method);
  }

  /** 16 hex of the form (method and template): a fixed-length, bounded state name. */
  private form(x: Exchange): string {
    const { method, template } = x.facts.endpoint;
    return createHash('sha256').update(`${method} ${template}`).digest('hex').slice(0, 16);
  }

  private perAtLeast(x: Exchange): number {
    return Math.ceil(this.config.maxAttempts / x.endpoint.sensitivity);
  }

  plan(x: Exchange, phase: Phase): Plan | null {
    const c = this.config;
    if (phase !== 'response' || !x.response || !this.applies(x)) return null;
    const subject = subjectOf(c.subject, x);
    if (subject === null) return null;
    const form = this.form(x);
    const all: CountOp = { kind: 'count', name: `${c.name}:n:${form}`, windowMs: c.windowMs, by: 1, sliding: true };
    const alike: CountOp = { kind: 'count', name: `${c.name}:a:${form}:${answerClass(x.response.status, x.response.contentLength)}`, windowMs: c.windowMs, by: 1, sliding: true };
    return { subject, ops: [all, alike], rules: [{ op: 1, per: 0, above: c.alikeRatio, perAtLeast: this.perAtLeast(x) }] };
  }

  evaluate(results: OpResult[][], x: Exchange): Signal | null {
    const [all, alike] = results[0] ?? [];
    if (all?.kind !== 'count' || alike?.kind !== 'count') return null;
    const c = this.config;
    const { score, fired } = ratioRule(alike.score, all.score, c.alikeRatio, this.perAtLeast(x));
    return signal(c, { signal: 'alike-answers', value: alike.count, baseline: all.count, threshold: c.alikeRatio, score, windowMs: c.windowMs, fired });
  }
}

const METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'GET'];

function readMethods(f: Fields): string[] {
  if (!f.has('methods')) return ['POST'];
  const out: string[] = [];
  f.list('methods').forEach((v, i) => {
    if (typeof v !== 'string' || !METHODS.includes(v)) f.problems.push(`${f.where}.methods[${i}]: must be one of ${METHODS.join(', ')}`);
    else out.push(v);
  });
  if (Array.isArray(f.raw('methods')) && f.list('methods').length === 0) f.problems.push(`${f.where}.methods: must list at least one method`);
  return out.length > 0 ? out : ['POST'];
}

export const formRepeatFactory: DetectorFactory<FormRepeatConfig> = {
  type: 'form-repeat',
  summary: 'one caller sending the same form (method and path template, POST by default) hundreds of times in a window with nearly every answer alike: guessing on an undeclared login',
  parse(f: Fields, base: DetectorBase): FormRepeatConfig {
    return {
      ...base,
      type: 'form-repeat',
      subject: subjectFor(f, base, ['identity', 'client-ip', 'ip-prefix'], 'identity'),
      windowMs: f.duration('window', 10 * 60_000, 60_000, 86_400_000),
      maxAttempts: f.number('max_attempts', 300, 2, 1e6, true),
      alikeRatio: f.number('alike_ratio', 0.9, 0.5, 0.999),
      methods: readMethods(f),
    };
  },
  create: (config) => new FormRepeatDetector(config),
};
