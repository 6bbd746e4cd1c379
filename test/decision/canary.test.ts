import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canaryPoint, inCanary } from '../../src/decision/canary.js';

const ids = Array.from({ length: 2000 }, (_, i) => `session:${i.toString(16).padStart(32, '0')}`);

test('canary: 0 enforces on nobody, 100 on everybody', () => {
  assert.ok(ids.every((id) => !inCanary('d', id, 0)));
  assert.ok(ids.every((id) => inCanary('d', id, 100)));
});

test('canary: raising the percentage only adds identities', () => {
  const at10 = ids.filter((id) => inCanary('d', id, 10));
  const at25 = new Set(ids.filter((id) => inCanary('d', id, 25)));
  assert.ok(at10.length > 0);
  assert.ok(at10.every((id) => at25.has(id)));
  assert.ok(at25.size > at10.length);
});

test('canary: each detector takes a different slice of identities', () => {
  const a = ids.filter((id) => inCanary('rate', id, 10));
  const b = new Set(ids.filter((id) => inCanary('scraping', id, 10)));
  const both = a.filter((id) => b.has(id)).length;
  assert.ok(both < a.length / 2, `${both} of ${a.length} shared`);
  assert.equal(canaryPoint('rate', ids[0]!), canaryPoint('rate', ids[0]!));
});
