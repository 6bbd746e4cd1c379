import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { TallyHistogram } from '../../src/obs/tally-histogram.js';

const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];

function pair(): { tally: TallyHistogram; plain: Histogram; tallyText: () => Promise<string>; plainText: () => Promise<string>; tallyRegistry: Registry } {
  const tallyRegistry = new Registry();
  const plainRegistry = new Registry();
  const tally = new TallyHistogram('h_seconds', 'help text', BUCKETS, tallyRegistry);
  const plain = new Histogram({ name: 'h_seconds', help: 'help text', buckets: BUCKETS, registers: [plainRegistry] });
  return { tally, plain, tallyRegistry, tallyText: () => tallyRegistry.metrics(), plainText: () => plainRegistry.metrics() };
}

test('exposes exactly what a prom-client Histogram fed the same values exposes', async () => {
  const { tally, plain, tallyText, plainText } = pair();
  assert.equal(await tallyText(), await plainText());
  // Bounds themselves, values between them, above every bound, and 0; sums of exactly representable values.
  const values = [0, 0.0001, 0.25, 0.5, 3, 0.001, 0.001, 0.125, 0.0625, 1, 0.25];
  for (const v of values) {
    tally.observe(v);
    plain.observe(v);
  }
  assert.equal(await tallyText(), await plainText());
  // A second scrape adds only what came since the first.
  tally.observe(0.003);
  plain.observe(0.003);
  assert.equal(await tallyText(), await plainText());
  assert.equal(await tallyText(), await plainText());
});

test('counts again from zero after the registry resets its metrics', async () => {
  const { tally, plain, tallyText, plainText, tallyRegistry } = pair();
  tally.observe(0.5);
  await tallyText();
  tallyRegistry.resetMetrics();
  tally.observe(0.002);
  plain.observe(0.002);
  assert.equal(await tallyText(), await plainText());
});
