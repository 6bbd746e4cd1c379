import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateDetectors } from '../../src/detectors/engine.js';
import { ScrapingDetector } from '../../src/detectors/scraping.js';
import { ConfigError } from '../../src/errors.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import { buildExchange, play, policyFrom, withResponse } from '../helpers/exchange.js';

/** A day boundary, so every 10-minute window starts here. */
const T0 = 19_675 * 86_400_000;

const HEAD = `format: 1
endpoints:
  - name: admin
    match: {path: '/admin/**'}
    sensitivity: 2
detectors:
`;
const policyWith = (detector: string) => policyFrom(`${HEAD}  - ${detector}\n`);
const SCRAPING = '{name: scraping, type: scraping, action: block}';
/** A word for k (aa, ab, …): letters only, so the path segment is never templated as an id. */
const word = (k: number) => String.fromCharCode(97 + Math.floor(k / 26), 97 + (k % 26));

test('distinct endpoints: quiet at max_endpoints, fires on the 61st template', async () => {
  const p = policyWith(SCRAPING);
  const store = new MemoryStore();
  for (let k = 1; k <= 60; k++) {
    const r = await play(p, store, { path: `/api/${word(k)}/items`, identity: 'wide' }, T0 + k * 1000, 200);
    const s = r.request.signals[0]!;
    assert.deepEqual([s.signal, s.value, s.fired], ['distinct-endpoints', k, false], `template ${k}`);
    assert.equal(r.response!.signals.length, 0, 'a 200 plans nothing in the response phase');
  }
  const r = await play(p, store, { path: `/api/${word(61)}/items`, identity: 'wide' }, T0 + 61_000);
  const s = r.request.signals[0]!;
  assert.deepEqual(
    { signal: s.signal, value: s.value, baseline: s.baseline, threshold: s.threshold, score: s.score, windowMs: s.windowMs, fired: s.fired },
    { signal: 'distinct-endpoints', value: 61, baseline: 0, threshold: 60, score: 61, windowMs: 600_000, fired: true },
  );
  assert.equal(r.decision.action, 'block');
  assert.deepEqual(r.request.newPenalties.map((n) => [n.subject, n.detector]), [['api-key:wide', 'scraping']]);
});

test('a crawler walking 500 product pages of one template stays quiet', async () => {
  const p = policyWith(SCRAPING);
  const store = new MemoryStore();
  for (let k = 0; k < 500; k++) {
    const path = k % 50 === 0 ? '/products' : `/products/${1000 + k}`;
    const r = await play(p, store, { path, ip: '66.249.66.1' }, T0 + k * 1000, 200);
    assert.equal(r.decision.action, 'allow');
    assert.ok(r.request.signals.every((s) => !s.fired));
  }
  // Two templates, each measured once: a repeat does not grow the set and is not read.
  const x = buildExchange(p, { path: '/products/99', ip: '66.249.66.1' });
  const e = await evaluateDetectors(p.detectors, x, ['request'], store, T0 + 500_000, { readIdentity: true });
  assert.equal(e.signals.length, 0);
});

test('distinct 404 paths: quiet at max_not_found, the 21st sets the penalty for the next request', async () => {
  const p = policyWith(SCRAPING);
  const store = new MemoryStore();
  // Guessed backup files, each a 404.
  for (let k = 1; k <= 20; k++) {
    const r = await play(p, store, { path: `/files/backup-${k}.zip`, ip: '203.0.113.9' }, T0 + k * 1000, 404);
    const s = r.response!.signals[0]!;
    assert.deepEqual([s.signal, s.value, s.threshold, s.fired], ['distinct-404', k, 20, false]);
    assert.equal(r.decision.action, 'allow');
  }
  const r = await play(p, store, { path: '/files/backup-21.zip', ip: '203.0.113.9' }, T0 + 21_000, 404);
  const s = r.response!.signals[0]!;
  assert.deepEqual([s.signal, s.value, s.score, s.windowMs, s.fired], ['distinct-404', 21, 21, 600_000, true]);
  assert.equal(r.decision.action, 'allow', 'the response phase decides nothing itself');
  assert.deepEqual(r.response!.newPenalties.map((n) => [n.subject, n.action]), [['ip:203.0.113.9', 'block']]);
  const next = await play(p, store, { path: '/', ip: '203.0.113.9' }, T0 + 22_000);
  assert.equal(next.decision.action, 'block');
  // The same 404 twice does not count twice.
  const again = buildExchange(p, { path: '/files/backup-1.zip', ip: '198.51.100.1' });
  await evaluateDetectors(p.detectors, withResponse(again, 404), ['response'], store, T0, { readIdentity: false });
  const twice = await evaluateDetectors(p.detectors, withResponse(again, 404), ['response'], store, T0 + 1, { readIdentity: false });
  assert.equal(twice.signals.length, 0);
});

test('sensitivity divides the maximums; client-ip subject', async () => {
  const p = policyWith('{name: scraping, type: scraping, action: tag, subject: client-ip, max_not_found: 4}');
  const store = new MemoryStore();
  // Callers behind one address share one set; on the admin endpoint (sensitivity 2) it fires above 2.
  for (let k = 1; k <= 2; k++) {
    const r = await play(p, store, { path: `/admin/page-${k}`, identity: k % 2 ? 'a' : 'b', ip: '192.0.2.7' }, T0 + k, 404);
    assert.equal(r.response!.signals[0]!.fired, false);
  }
  const r = await play(p, store, { path: '/admin/page-3', identity: 'c', ip: '192.0.2.7' }, T0 + 3, 404);
  const s = r.response!.signals[0]!;
  assert.deepEqual([s.value, s.threshold, s.fired, s.action], [3, 2, true, 'tag']);
  // A tag detector's rule sets a mark on its subject (the address), learned from this response…
  assert.deepEqual(r.response!.newPenalties.map((x) => [x.subject, x.action, x.detector]), [['cip:192.0.2.7', 'tag', 'scraping']]);
  // …so the next request from that address, by another caller and on a page that exists, is tagged.
  const next = await play(p, store, { path: '/shop/1', identity: 'd', ip: '192.0.2.7' }, T0 + 4);
  assert.deepEqual([next.decision.action, next.decision.reasons.map((x) => [x.detector, x.penaltyUntilMs])], ['tag', [['scraping', T0 + 3 + 300_000]]]);
});

test('parsing: defaults, bounds and subjects', () => {
  const d = (policyWith(SCRAPING).detectors[0] as ScrapingDetector).config;
  assert.deepEqual([d.windowMs, d.maxEndpoints, d.maxNotFound, d.subject], [600_000, 60, 20, 'identity']);
  const bad = (fields: string): string[] => {
    try {
      policyWith(`{name: scraping, type: scraping, action: block, ${fields}}`);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    return [];
  };
  assert.deepEqual(bad('max_endpoints: 0'), ['policy.yaml: detectors[0] (scraping).max_endpoints: must be an integer from 1 to 1000000']);
  assert.deepEqual(bad('max_not_found: many'), ['policy.yaml: detectors[0] (scraping).max_not_found: must be an integer from 1 to 1000000']);
  assert.deepEqual(bad('window: 2d'), ['policy.yaml: detectors[0] (scraping).window: must be from 10s to 1d']);
  assert.deepEqual(bad('subject: endpoint'), ['policy.yaml: detectors[0] (scraping).subject: must be one of identity, client-ip, ip-prefix for scraping']);
});
