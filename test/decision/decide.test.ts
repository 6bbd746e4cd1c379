import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decide } from '../../src/decision/decide.js';
import type { Detector, Signal } from '../../src/detectors/types.js';
import { compilePolicy } from '../../src/policy/load.js';
import type { Penalty } from '../../src/state/store.js';

const policy = compilePolicy(
  `format: 1
detectors:
  - {name: rate, type: rate-baseline, action: throttle}
  - {name: watch, type: rate-baseline, action: challenge, shadow: true}
  - {name: tagger, type: rate-baseline, action: tag}
`,
  'p.yaml',
);
const detectors: readonly Detector[] = policy.detectors;
const NOW = 1_000_000;

function signal(detector: string, action: Signal['action'], fired: boolean, extra: Partial<Signal> = {}): Signal {
  return { detector, type: 'rate-baseline', signal: 'rate-z', value: 200, baseline: 5, threshold: 3, score: 9, windowMs: 60_000, fired, action, shadow: detector === 'watch', limit: 130, ...extra };
}
function penalty(detector: string, action: Penalty['action'], untilMs = NOW + 30_000): Penalty {
  return { detector, action, untilMs, score: 9, sinceMs: NOW - 1000 };
}
const base = { detectors, identityKind: 'api-key' as const, policyChecksum: 'abc', nowMs: NOW };

test('nothing fired: allow with no reasons', () => {
  const d = decide({ ...base, globalShadow: false, evaluation: { signals: [signal('rate', 'throttle', false)], penalties: [] } });
  assert.equal(d.action, 'allow');
  assert.equal(d.shadowAction, null);
  assert.deepEqual(d.reasons, []);
  assert.equal(d.retryAfterS, null);
});

test('an active penalty throttles, with Retry-After from its expiry and the quota', () => {
  const d = decide({ ...base, globalShadow: false, evaluation: { signals: [signal('rate', 'throttle', true)], penalties: [penalty('rate', 'throttle')] } });
  assert.equal(d.action, 'throttle');
  assert.equal(d.retryAfterS, 30);
  assert.equal(d.reasons.length, 1);
  assert.equal(d.reasons[0]!.value, 200);
  assert.equal(d.reasons[0]!.penaltyUntilMs, NOW + 30_000);
  assert.deepEqual(d.rateLimit, { policy: 'rate', limit: 130, remaining: 0, windowS: 60, resetS: 30 });
});

test('global shadow: allow, and report the action that would have been taken', () => {
  const d = decide({ ...base, globalShadow: true, evaluation: { signals: [signal('rate', 'throttle', true)], penalties: [penalty('rate', 'throttle')] } });
  assert.equal(d.action, 'allow');
  assert.equal(d.shadowAction, 'throttle');
  assert.equal(d.reasons[0]!.shadow, true);
});

test('a shadow detector never enforces, but a stronger shadowed action is reported beside the enforced one', () => {
  const d = decide({
    ...base,
    globalShadow: false,
    evaluation: { signals: [], penalties: [penalty('watch', 'challenge'), penalty('rate', 'throttle')] },
  });
  assert.equal(d.action, 'throttle');
  assert.equal(d.shadowAction, 'challenge');
  assert.equal(d.reasons.length, 2);
});

test('strongest action wins; tag signals tag; penalties of removed detectors are ignored', () => {
  const tagged = decide({ ...base, globalShadow: false, evaluation: { signals: [signal('tagger', 'tag', true)], penalties: [penalty('gone', 'block')] } });
  assert.equal(tagged.action, 'tag');
  assert.deepEqual(tagged.reasons.map((r) => r.detector), ['tagger']);
  const both = decide({ ...base, globalShadow: false, evaluation: { signals: [signal('tagger', 'tag', true)], penalties: [penalty('rate', 'throttle')] } });
  assert.equal(both.action, 'throttle');
});
