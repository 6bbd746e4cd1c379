import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import type { OpResult } from '../state/store.js';
import { appliesTo } from './applies.js';
import { distinctSignal, subjectFor } from './signal.js';
import { subjectOf } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, Plan, Signal } from './types.js';

/**
 * Scraping and forced browsing: how *wide* a subject's traffic is, not how fast. Per window it counts
 * the distinct endpoint templates the subject calls (`GET /products/{id}` is one, however many products
 * a crawler walks) and, from the response, the distinct paths that answered 404 (guessed paths). A
 * polite crawler of one catalogue stays at a handful of templates; a scanner trying hundreds of
 * paths (`/.git/config`, `/admin.php`, `/backup.zip`…) is both wide and mostly not found.
 * Maths: docs/detectors.md.
 */
export interface ScrapingConfig extends DetectorBase {
  type: 'scraping';
  windowMs: number;
  maxEndpoints: number;
  maxNotFound: number;
}

export class ScrapingDetector implements Detector {
  /** State names, fixed per detector (built once, not per request). */
  private readonly endpointsName: string;
  private readonly notFoundName: string;

  constructor(readonly config: ScrapingConfig) {
    this.endpointsName = `${config.name}:endpoints`;
    this.notFoundName = `${config.name}:404`;
  }

  plan(x: Exchange, phase: Phase): Plan | null {
    const c = this.config;
    if (!appliesTo(c, x)) return null;
    const subject = subjectOf(c.subject, x);
    if (subject === null) return null;
    if (phase === 'request') {
      const { method, template } = x.facts.endpoint;
      return {
        subject,
        ops: [{ kind: 'distinct', name: this.endpointsName, member: `${method} ${template}`, windowMs: c.windowMs }],
        rules: [{ op: 0, above: c.maxEndpoints / x.endpoint.sensitivity }],
      };
    }
    if (phase === 'response' && x.response?.status === 404) {
      return {
        subject,
        ops: [{ kind: 'distinct', name: this.notFoundName, member: x.facts.endpoint.path, windowMs: c.windowMs }],
        rules: [{ op: 0, above: c.maxNotFound / x.endpoint.sensitivity }],
      };
    }
    return null;
  }

  /** Null when the set did not grow (the store did not read the estimate). */
  evaluate(results: OpResult[][], x: Exchange, phase: Phase): Signal | null {
    const c = this.config;
    const notFound = phase === 'response';
    const threshold = (notFound ? c.maxNotFound : c.maxEndpoints) / x.endpoint.sensitivity;
    return distinctSignal(c, notFound ? 'distinct-404' : 'distinct-endpoints', results[0]?.[0], threshold, c.windowMs);
  }
}

export const scrapingFactory: DetectorFactory<ScrapingConfig> = {
  type: 'scraping',
  summary: 'distinct endpoint templates and distinct 404 paths per subject and window: scraping, forced browsing',
  parse(f: Fields, base: DetectorBase): ScrapingConfig {
    return {
      ...base,
      type: 'scraping',
      subject: subjectFor(f, base, ['identity', 'client-ip', 'ip-prefix'], 'identity'),
      windowMs: f.duration('window', 10 * 60_000, 10_000, 86_400_000),
      maxEndpoints: f.number('max_endpoints', 60, 1, 1_000_000, true),
      maxNotFound: f.number('max_not_found', 20, 1, 1_000_000, true),
    };
  },
  create: (config) => new ScrapingDetector(config),
};
