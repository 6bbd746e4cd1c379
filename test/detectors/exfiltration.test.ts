import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateDetectors, type Evaluation } from '../../src/detectors/engine.js';
import { ExfiltrationDetector } from '../../src/detectors/exfiltration.js';
import { ConfigError } from '../../src/errors.js';
import type { BodySample } from '../../src/request/exchange.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import type { StateStore } from '../../src/state/store.js';
import { buildExchange, play, policyFrom, withResponse, type ExchangeInit } from '../helpers/exchange.js';

/** A day boundary, so every 10-minute bucket starts here. */
const T0 = 19_675 * 86_400_000;
const BUCKET = 600_000;
const MB = 1_000_000;

const HEAD = `format: 1
endpoints:
  - name: export
    match: {path: '/api/export/**'}
    export: {sample_body: true}
  - name: admin
    match: {path: '/api/admin/**'}
    sensitivity: 2
detectors:
`;
type P = ReturnType<typeof policyFrom>;
const policyWith = (detector: string) => policyFrom(`${HEAD}  - ${detector}\n`);
const EXFIL = '{name: exfil, type: exfiltration, action: block}';

interface Downloaded {
  response: Evaluation | null;
  body: Evaluation | null;
}

/** One allowed exchange whose response has `bytes` (null: chunked), then optionally its sampled body. */
async function download(p: P, store: StateStore, init: ExchangeInit, nowMs: number, bytes: number | null, sample?: BodySample): Promise<Downloaded> {
  const x = buildExchange(p, init);
  await evaluateDetectors(p.detectors, x, ['request'], store, nowMs, { readIdentity: true });
  withResponse(x, 200, bytes === null ? [] : [['content-length', String(bytes)]]);
  x.response!.contentLength = bytes;
  const response = await evaluateDetectors(p.detectors, x, ['response'], store, nowMs, { readIdentity: false });
  let body: Evaluation | null = null;
  if (sample) {
    x.sample = sample;
    body = await evaluateDetectors(p.detectors, x, ['response-body'], store, nowMs, { readIdentity: false });
  }
  return { response, body };
}

/** `buckets` ten-minute buckets of `perBucket` bytes in 5 responses each, from T0. */
async function history(p: P, store: StateStore, init: ExchangeInit, buckets: number, perBucket: (b: number) => number): Promise<void> {
  for (let b = 0; b < buckets; b++) {
    const bytes = perBucket(b);
    if (bytes === 0) continue;
    for (let k = 0; k < 5; k++) await download(p, store, init, T0 + b * BUCKET + k * 60_000, bytes / 5);
  }
}

test('a steady reader pulling 20× its usual bytes fires once the bucket passes min_bytes', async () => {
  const p = policyWith(EXFIL);
  const store = new MemoryStore();
  const me = { path: '/api/reports/latest', identity: 'reader' };
  await history(p, store, me, 36, () => 1 * MB);
  const at = T0 + 36 * BUCKET;
  for (let k = 1; k <= 20; k++) {
    const { response } = await download(p, store, me, at + k * 1000, 1 * MB);
    const s = response!.signals[0]!;
    assert.equal(s.signal, 'bytes-z');
    assert.equal(s.value, k * MB);
    // Below min_bytes the score is not compared at all, however high z is.
    assert.equal(s.fired, k >= 10, `after ${k} MB (z ${s.score})`);
    assert.equal(s.fired, s.score > s.threshold && k * MB >= 10 * MB);
    if (k === 10) {
      assert.deepEqual([s.baseline, s.threshold, s.windowMs], [1 * MB, 4, BUCKET]);
      assert.ok(s.score > 80, String(s.score));
      assert.deepEqual(response!.newPenalties.map((n) => [n.subject, n.action]), [['api-key:reader', 'block']]);
    }
  }
  const next = await play(p, store, me, at + 30_000);
  assert.equal(next.decision.action, 'block');
});

test('near misses: 9 MB in a bucket, and a heavy but variable user within its own spread', async () => {
  const p = policyWith(EXFIL);
  const store = new MemoryStore();
  const small = { path: '/api/reports/latest', identity: 'small' };
  await history(p, store, small, 36, () => 0.5 * MB);
  for (let k = 1; k <= 9; k++) {
    const { response } = await download(p, store, small, T0 + 36 * BUCKET + k, 1 * MB);
    assert.equal(response!.signals[0]!.fired, false);
  }
  // Alternating idle and 30 MB buckets for a day: a 45 MB bucket is within its normal, 105 MB is not.
  // (The clamp keeps the first heavy buckets from teaching the baseline at once: it takes hours.)
  const heavy = { path: '/api/reports/latest', identity: 'heavy' };
  await history(p, store, heavy, 144, (b) => (b % 2 ? 30 * MB : 0));
  const quiet = await download(p, store, heavy, T0 + 144 * BUCKET, 45 * MB);
  const q = quiet.response!.signals[0]!;
  assert.equal(q.fired, false, `z ${q.score}`);
  assert.ok(q.baseline > 10 * MB && q.baseline < 20 * MB, String(q.baseline));
  const loud = await download(p, store, heavy, T0 + 144 * BUCKET + 1, 60 * MB);
  // The same bucket, now 45 + 60 MB.
  assert.deepEqual([loud.response!.signals[0]!.value, loud.response!.signals[0]!.fired], [105 * MB, true]);
});

test('export endpoints get export_allowance × min_bytes, in their own baseline', async () => {
  const p = policyWith(EXFIL);
  const store = new MemoryStore();
  const det = p.detectors[0] as ExfiltrationDetector;
  const exporter = { path: '/api/export/orders.csv', identity: 'accountant' };
  assert.equal(det.minBytes(buildExchange(p, exporter)), 100 * MB);
  // A first export of 90 MB: far above the prior, but under the export floor.
  const first = await download(p, store, exporter, T0, 90 * MB);
  assert.equal(first.response!.signals[0]!.fired, false);
  assert.ok(first.response!.signals[0]!.score > 4);
  // The same 90 MB from an ordinary endpoint fires (and is kept apart from the export baseline).
  const elsewhere = await download(p, store, { path: '/api/orders', identity: 'accountant' }, T0 + 1, 90 * MB);
  assert.equal(elsewhere.response!.signals[0]!.fired, true);
  assert.equal(elsewhere.response!.signals[0]!.value, 90 * MB);
});

test('chunked responses count from the sampled body; HEAD counts nothing', async () => {
  const p = policyWith(EXFIL);
  const store = new MemoryStore();
  const det = p.detectors[0] as ExfiltrationDetector;
  const chunked = await download(p, store, { path: '/api/export/dump', identity: 'c' }, T0, null, { bytes: 65_536, totalBytes: 120 * MB, entropy: 5 });
  assert.equal(chunked.response!.signals.length, 0, 'no size at the response headers');
  const s = chunked.body!.signals[0]!;
  assert.deepEqual([s.signal, s.value, s.fired], ['bytes-z', 120 * MB, true]);
  // With a content-length the body phase only looks at entropy (the bytes were counted already).
  const sized = await download(p, store, { path: '/api/export/dump', identity: 'd' }, T0, 20 * MB, { bytes: 65_536, totalBytes: 20 * MB, entropy: 5 });
  assert.equal(sized.body!.signals.length, 0);
  const head = buildExchange(p, { method: 'HEAD', path: '/api/export/dump', identity: 'c' });
  withResponse(head, 200);
  head.response!.contentLength = 500 * MB;
  assert.equal(det.plan(head, 'response'), null);
});

test('high-entropy bytes of sampled bodies: quiet at max_high_entropy_bytes, fires above it', async () => {
  const p = policyWith(EXFIL);
  const store = new MemoryStore();
  const me = { path: '/api/export/archive', identity: 'packer' };
  const zip: BodySample = { bytes: 65_536, totalBytes: 10 * MB, entropy: 7.95 };
  const text: BodySample = { bytes: 65_536, totalBytes: 1 * MB, entropy: 4.2 };
  for (let k = 1; k <= 5; k++) {
    const { body } = await download(p, store, me, T0 + k * 60_000, 10 * MB, zip);
    const s = body!.signals[0]!;
    assert.deepEqual([s.signal, s.value, s.threshold, s.windowMs, s.fired], ['high-entropy-bytes', k * 10 * MB, 50 * MB, 3_600_000, false]);
    const plain = await download(p, store, me, T0 + k * 60_000 + 1, 1 * MB, text);
    assert.equal(plain.body!.signals.length, 0, 'low-entropy bodies are not counted');
  }
  const { body } = await download(p, store, me, T0 + 6 * 60_000, 1, { bytes: 1, totalBytes: 1, entropy: 8 });
  assert.deepEqual([body!.signals[0]!.value, body!.signals[0]!.fired], [50 * MB + 1, true]);
  assert.deepEqual(body!.newPenalties.map((n) => n.subject), ['api-key:packer']);
  // The next hour starts a new budget.
  const later = await download(p, store, me, T0 + 3_600_000, 10 * MB, zip);
  assert.equal(later.body!.signals[0]!.value, 10 * MB);
});

test('sensitivity divides min_bytes, threshold_z and the entropy budget', async () => {
  const p = policyWith(EXFIL);
  const store = new MemoryStore();
  const det = p.detectors[0] as ExfiltrationDetector;
  const admin = { path: '/api/admin/users', identity: 'op' };
  assert.equal(det.minBytes(buildExchange(p, admin)), 5 * MB);
  const { response } = await download(p, store, admin, T0, 6 * MB);
  const s = response!.signals[0]!;
  assert.deepEqual([s.threshold, s.fired], [2, true]);
});

test('parsing: defaults, sizes and bounds', () => {
  const c = (policyWith(EXFIL).detectors[0] as ExfiltrationDetector).config;
  assert.deepEqual(
    [c.bucketMs, c.halfLifeMs, c.thresholdZ, c.minBytes, c.exportAllowance, c.priorMean, c.priorVariance, c.priorWeight, c.varianceFloor, c.clampZ],
    [600_000, 21_600_000, 4, 10 * MB, 10, 1e6, 1e12, 6, 1e10, 4],
  );
  assert.deepEqual([c.entropyThreshold, c.entropyWindowMs, c.maxHighEntropyBytes, c.subject], [7.5, 3_600_000, 50 * MB, 'identity']);
  const sized = (policyWith('{name: exfil, type: exfiltration, action: block, min_bytes: 2MiB, max_high_entropy_bytes: 1.5GB}').detectors[0] as ExfiltrationDetector).config;
  assert.deepEqual([sized.minBytes, sized.maxHighEntropyBytes], [2 * 1024 * 1024, 1.5e9]);
  const bad = (fields: string): string[] => {
    try {
      policyWith(`{name: exfil, type: exfiltration, action: block, ${fields}}`);
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return err.problems;
    }
    return [];
  };
  const where = 'policy.yaml: detectors[0] (exfil)';
  assert.deepEqual(bad('min_bytes: 10 megs'), [`${where}.min_bytes: must be a size from 1B to 1TB (bytes, or e.g. 512KB, 10MB, 1GiB)`]);
  assert.deepEqual(bad('min_bytes: 0'), [`${where}.min_bytes: must be a size from 1B to 1TB (bytes, or e.g. 512KB, 10MB, 1GiB)`]);
  assert.deepEqual(bad('entropy_threshold: 9'), [`${where}.entropy_threshold: must be a number from 0 to 8`]);
  assert.deepEqual(bad('export_allowance: 0.5'), [`${where}.export_allowance: must be a number from 1 to 10000`]);
  assert.deepEqual(bad('bucket: 10m, half_life: 5m'), [`${where}.half_life: must be from 10m to 30d`]);
  assert.deepEqual(bad('subject: username'), [`${where}.subject: must be one of identity, client-ip, ip-prefix for exfiltration`]);
});
