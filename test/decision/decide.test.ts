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
  - {name: blocker, type: rate-baseline, action: block}
  - {name: stepper, type: rate-baseline, action: challenge}
  - {name: canary, type: rate-baseline, action: throttle, enforce_percent: 10}
  - {name: tag-watch, type: rate-baseline, action: tag, shadow: true}
  - {name: tag-canary, type: rate-baseline, action: tag, enforce_percent: 50}
`,
  'p.yaml',
);
const detectors: readonly Detector[] = policy.detectors;
const NOW = 1_000_000;

function signal(detector: string, action: Signal['action'], fired: boolean, extra: Partial<Signal> = {}): Signal {
  return { detector, type: 'rate-baseline', signal: 'rate-z', value: 200, baseline: 5, threshold: 3, score: 9, windowMs: 60_000, fired, action, shadow: detector === 'watch', limit: 130, ...extra };
}
function penalty(detector: string, action: Penalty['action'], untilMs = NOW + 30_000): Penalty {
  return { detector, action, untilMs, score: 9, sinceMs: NOW - 1000, level: 0 };
}
const base = { detectors, identityKind: 'api-key' as const, identityId: 'api-key:0123456789abcdef0123456789abcdef', policyChecksum: 'abc', nowMs: NOW };

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

test('a mark (a tag penalty) tags with its detector as reason; a penalty or signal stronger than it wins', () => {
  // No signal of this request: the mark alone tags it, explained by the penalty, without Retry-After.
  const d = decide({ ...base, globalShadow: false, evaluation: { signals: [signal('tagger', 'tag', false)], penalties: [penalty('tagger', 'tag')] } });
  assert.deepEqual([d.action, d.shadowAction, d.retryAfterS], ['tag', null, null]);
  assert.deepEqual(d.reasons.map((r) => [r.detector, r.action, r.penaltyUntilMs, r.shadow]), [['tagger', 'tag', NOW + 30_000, false]]);
  const stronger = decide({ ...base, globalShadow: false, evaluation: { signals: [signal('rate', 'throttle', true)], penalties: [penalty('tagger', 'tag')] } });
  assert.equal(stronger.action, 'throttle');
  assert.deepEqual(stronger.reasons.map((r) => r.detector).sort(), ['rate', 'tagger']);
  // Retry-After comes from the throttle (on another subject, 10 s), not from the longer mark.
  const both = decide({ ...base, globalShadow: false, evaluation: { signals: [], penalties: [penalty('tagger', 'tag', NOW + 300_000), penalty('rate', 'throttle', NOW + 10_000)] } });
  assert.deepEqual([both.action, both.retryAfterS], ['throttle', 10]);
});

test('a mark of a shadow detector, or of an identity outside its canary share, is reported, not enforced', () => {
  const shadow = decide({ ...base, globalShadow: false, evaluation: { signals: [], penalties: [penalty('tag-watch', 'tag')] } });
  assert.deepEqual([shadow.action, shadow.shadowAction, shadow.reasons[0]!.shadow], ['allow', 'tag', true]);
  const global = decide({ ...base, globalShadow: true, evaluation: { signals: [], penalties: [penalty('tagger', 'tag')] } });
  assert.deepEqual([global.action, global.shadowAction], ['allow', 'tag']);
  const sides = new Set<string>();
  for (let i = 0; i < 40; i++) {
    const identityId = `api-key:${i.toString(16).padStart(32, '0')}`;
    const d = decide({ ...base, identityId, globalShadow: false, evaluation: { signals: [], penalties: [penalty('tag-canary', 'tag')] } });
    const side = d.reasons[0]!.canary!;
    sides.add(side);
    assert.deepEqual([d.action, d.shadowAction], side === 'enforced' ? ['tag', null] : ['allow', 'tag']);
  }
  assert.deepEqual([...sides].sort(), ['enforced', 'shadowed']);
});

test('precedence when detectors disagree: block > challenge > throttle > tag, whatever the order', () => {
  const all = [penalty('rate', 'throttle'), penalty('blocker', 'block'), penalty('stepper', 'challenge')];
  for (const penalties of [all, [...all].reverse()]) {
    const d = decide({ ...base, globalShadow: false, evaluation: { signals: [signal('tagger', 'tag', true)], penalties } });
    assert.equal(d.action, 'block');
    assert.equal(d.shadowAction, null);
    assert.deepEqual(d.reasons.map((r) => r.detector).sort(), ['blocker', 'rate', 'stepper', 'tagger']);
  }
  const noBlock = decide({ ...base, globalShadow: false, evaluation: { signals: [], penalties: [penalty('rate', 'throttle'), penalty('stepper', 'challenge')] } });
  assert.equal(noBlock.action, 'challenge');
  assert.equal(noBlock.retryAfterS, null, 'a challenge carries no Retry-After');
});

test('escalation level is carried into the reason', () => {
  const d = decide({ ...base, globalShadow: false, evaluation: { signals: [], penalties: [{ ...penalty('rate', 'challenge'), level: 2 }] } });
  assert.equal(d.action, 'challenge');
  assert.equal(d.reasons[0]!.level, 2);
});

test('step-up credit excuses challenges (from any subject) but not throttles or blocks', () => {
  const evaluation = { signals: [], penalties: [penalty('stepper', 'challenge')], creditUntilMs: NOW + 60_000 };
  const d = decide({ ...base, globalShadow: false, evaluation });
  assert.equal(d.action, 'allow');
  assert.equal(d.shadowAction, null, 'an excused challenge is not something vigil would have done');
  assert.equal(d.reasons[0]!.excused, 'step-up-credit');
  assert.equal(d.creditUntilMs, NOW + 60_000);
  const throttled = decide({ ...base, globalShadow: false, evaluation: { ...evaluation, penalties: [penalty('stepper', 'challenge'), penalty('rate', 'throttle')] } });
  assert.equal(throttled.action, 'throttle');
  const expired = decide({ ...base, globalShadow: false, evaluation: { ...evaluation, creditUntilMs: NOW } });
  assert.equal(expired.action, 'challenge', 'credit that has run out excuses nothing');
  assert.equal(expired.creditUntilMs, 0);
});

test('a step-up endpoint excuses challenges so the user can answer them there', () => {
  const d = decide({ ...base, globalShadow: false, stepUpEndpoint: true, evaluation: { signals: [], penalties: [penalty('stepper', 'challenge')] } });
  assert.equal(d.action, 'allow');
  assert.equal(d.reasons[0]!.excused, 'step-up-endpoint');
  const blocked = decide({ ...base, globalShadow: false, stepUpEndpoint: true, evaluation: { signals: [], penalties: [penalty('blocker', 'block')] } });
  assert.equal(blocked.action, 'block');
});

test('canary: enforce_percent splits identities stably, about the configured share, and labels the side', () => {
  let enforced = 0;
  const n = 4000;
  for (let i = 0; i < n; i++) {
    const identityId = `jwt:${i.toString(16).padStart(32, '0')}`;
    const one = decide({ ...base, identityId, globalShadow: false, evaluation: { signals: [], penalties: [penalty('canary', 'throttle')] } });
    const again = decide({ ...base, identityId, globalShadow: false, evaluation: { signals: [], penalties: [penalty('canary', 'throttle')] } });
    assert.equal(one.action, again.action, 'the same identity always lands on the same side');
    if (one.action === 'throttle') {
      enforced++;
      assert.equal(one.reasons[0]!.canary, 'enforced');
    } else {
      assert.equal(one.shadowAction, 'throttle');
      assert.equal(one.reasons[0]!.canary, 'shadowed');
      assert.equal(one.reasons[0]!.shadow, true);
    }
  }
  assert.ok(enforced > n * 0.08 && enforced < n * 0.12, `enforced on ${enforced} of ${n}`);
  const full = decide({ ...base, globalShadow: false, evaluation: { signals: [], penalties: [penalty('rate', 'throttle')] } });
  assert.equal(full.reasons[0]!.canary, undefined, 'no canary label at 100 %');
});

test('soft limits: an allowed request reports the rate signal closest to its limit', () => {
  const d = decide({
    ...base,
    globalShadow: false,
    evaluation: { signals: [signal('rate', 'throttle', false, { value: 100, limit: 130 }), signal('tagger', 'tag', false, { value: 10, limit: 130 })], penalties: [] },
  });
  assert.equal(d.action, 'allow');
  assert.equal(d.rateLimit?.policy, 'rate');
  assert.equal(d.rateLimit?.remaining, 30);
});
