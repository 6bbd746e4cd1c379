import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import type { OpResult } from '../state/store.js';
import { appliesTo } from './applies.js';
import { signal, subjectFor } from './signal.js';
import { subjectOf } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, Plan, Signal } from './types.js';

/**
 * Page rate: sustained automation under the per-minute burst floor. Requests of one subject to one
 * page (method and path, query excluded) counted over a long sliding window (default 10 minutes);
 * fires above max_requests / sensitivity. A script driving one page at 90 a minute never reaches a
 * per-minute floor of 120, but makes 900 requests to that page in ten minutes; a person using a
 * single-page app spreads its calls over many paths and pauses, and a dashboard polling a URL every
 * 5 s makes 120. Counting per path (not per template) keeps a crawler walking /products/{id} — one
 * template, a new path each time — out of it. Reasoning: docs/detectors.md.
 *
 * State is bounded: pages are hashed into PAGE_SLOTS counters per subject (a collision only adds two
 * pages' counts, each far below the threshold for anything but a hammered page).
 */
export interface PageRateConfig extends DetectorBase {
  type: 'page-rate';
  windowMs: number;
  maxRequests: number;
}

/** Counters per subject: the page's slot is a byte of FNV-1a over `method path`. */
export const PAGE_SLOTS = 256;

/**
 * The page's slot, two hex digits. A plain hash, not a keyed one: the counters are the subject's own,
 * so a caller who makes its pages collide only adds up its own counts (and is flagged sooner).
 */
export function pageSlot(method: string, path: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < method.length; i++) h = Math.imul(h ^ method.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0x20, 0x01000193);
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 0x01000193);
  return ((h ^ (h >>> 8) ^ (h >>> 16) ^ (h >>> 24)) & 0xff).toString(16).padStart(2, '0');
}

export class PageRateDetector implements Detector {
  constructor(readonly config: PageRateConfig) {}

  private above(x: Exchange): number {
    return this.config.maxRequests / x.endpoint.sensitivity;
  }

  plan(x: Exchange, phase: Phase): Plan | null {
    const c = this.config;
    if (phase !== 'request' || !appliesTo(c, x)) return null;
    const subject = subjectOf(c.subject, x);
    if (subject === null) return null;
    const { method, path } = x.facts.endpoint;
    return {
      subject,
      ops: [{ kind: 'count', name: `${c.name}:${pageSlot(method, path)}`, windowMs: c.windowMs, by: 1, sliding: true }],
      rules: [{ op: 0, above: this.above(x) }],
    };
  }

  evaluate(results: OpResult[][], x: Exchange): Signal | null {
    const r = results[0]?.[0];
    if (r?.kind !== 'count') return null;
    const c = this.config;
    const above = this.above(x);
    return signal(c, { signal: 'page-requests', value: r.count, baseline: 0, threshold: above, score: r.score, windowMs: c.windowMs, fired: r.score > above });
  }
}

export const pageRateFactory: DetectorFactory<PageRateConfig> = {
  type: 'page-rate',
  summary: 'requests of one subject to one page (method and path) over a long sliding window: sustained automation below the per-minute burst floor',
  parse(f: Fields, base: DetectorBase): PageRateConfig {
    return {
      ...base,
      type: 'page-rate',
      subject: subjectFor(f, base, ['identity', 'client-ip', 'ip-prefix'], 'identity'),
      windowMs: f.duration('window', 10 * 60_000, 60_000, 86_400_000),
      maxRequests: f.number('max_requests', 750, 1, 1e9, true),
    };
  },
  create: (config) => new PageRateDetector(config),
};
