import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createPseudonymizer } from '../../src/request/keyed-hash.js';
import { ConfigError } from '../../src/errors.js';

const secret = Buffer.from('0123456789abcdef0123456789abcdef');

test('pseudonym is kind + first 32 hex chars of HMAC-SHA256(secret, kind \\0 raw)', () => {
  const p = createPseudonymizer(secret);
  const expected = createHmac('sha256', secret).update('api-key\0k-123').digest('hex').slice(0, 32);
  assert.equal(p('api-key', 'k-123'), `api-key:${expected}`);
  assert.match(p('ip', '1.2.3.4'), /^ip:[0-9a-f]{32}$/);
});

test('pseudonyms are stable, kind-separated and secret-dependent', () => {
  const p = createPseudonymizer(secret);
  assert.equal(p('session', 'abc'), p('session', 'abc'));
  assert.notEqual(p('session', 'abc').slice(-32), p('api-key', 'abc').slice(-32));
  const other = createPseudonymizer(Buffer.from('another-secret-of-32-bytes-long!'));
  assert.notEqual(p('session', 'abc'), other('session', 'abc'));
  // kind/raw boundary is unambiguous
  assert.notEqual(p('a', 'b\0c'), p('a\0b', 'c'));
});

test('the secret is copied, so later mutation by the caller has no effect', () => {
  const buf = Buffer.from(secret);
  const p = createPseudonymizer(buf);
  const before = p('ip', '::1');
  buf.fill(0);
  assert.equal(p('ip', '::1'), before);
});

test('secrets shorter than 16 bytes are rejected', () => {
  assert.throws(() => createPseudonymizer(Buffer.alloc(15)), ConfigError);
  assert.throws(() => createPseudonymizer(Buffer.alloc(0)), ConfigError);
  assert.doesNotThrow(() => createPseudonymizer(Buffer.alloc(16)));
});
