import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withPseudonymCache } from '../../src/request/pseudonym-cache.js';

/** A pseudonymizer that counts its calls (stands in for the HMAC). */
function counting(): { compute: (kind: string, raw: string) => string; calls: () => number } {
  let calls = 0;
  return {
    compute: (kind, raw) => {
      calls++;
      return `${kind}:${Buffer.from(raw).toString('hex')}`;
    },
    calls: () => calls,
  };
}

test('identity pseudonyms are computed once and then remembered, with the same answers', () => {
  const c = counting();
  const p = withPseudonymCache(c.compute);
  for (let round = 0; round < 3; round++) {
    assert.equal(p('api-key', 'k-1'), 'api-key:6b2d31');
    assert.equal(p('ip', '10.0.0.1'), 'ip:31302e302e302e31');
    assert.equal(p('session', 'k-1'), 'session:6b2d31');
  }
  assert.equal(c.calls(), 3);
});

test('usernames are never cached', () => {
  const c = counting();
  const p = withPseudonymCache(c.compute);
  p('user', 'alice');
  p('user', 'alice');
  assert.equal(c.calls(), 2);
});

test('bounded: two generations, an older hit moves back to the recent one', () => {
  const c = counting();
  const p = withPseudonymCache(c.compute, 2);
  p('ip', 'a');
  p('ip', 'b'); // recent: a b
  p('ip', 'c'); // recent full: older = a b, recent = c
  assert.equal(c.calls(), 3);
  p('ip', 'a'); // older hit, back into recent: c a
  assert.equal(c.calls(), 3);
  p('ip', 'd'); // recent full: older = c a, recent = d (b dropped)
  p('ip', 'b');
  assert.equal(c.calls(), 5);
  p('ip', 'c');
  assert.equal(c.calls(), 5);
});

test('distinct inputs get distinct entries, including ones that differ only past the first units', () => {
  const c = counting();
  const p = withPseudonymCache(c.compute);
  const raws = ['', 'a', 'b', 'ab', 'ba', 'a\0', '\0a', 'x'.repeat(100), `${'x'.repeat(99)}y`, '\u00e9', '\ud800', '\udfff'];
  for (const raw of raws) assert.equal(p('jwt', raw), c.compute('jwt', raw));
  for (const raw of raws) assert.equal(p('jwt', raw), c.compute('jwt', raw));
});
