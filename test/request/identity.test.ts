import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderList } from '../../src/request/headers.js';
import { resolveIdentity, readCookie } from '../../src/request/identity.js';
import { createPseudonymizer } from '../../src/request/keyed-hash.js';
import { defaultIdentityConfig, type IdentityConfig } from '../../src/request/types.js';

const p = createPseudonymizer(Buffer.from('test-secret-0123456789'));
const cfg = defaultIdentityConfig;
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const h = (...pairs: Array<[string, string]>) => new HeaderList(pairs);

test('jwt payload header gives a jwt identity and claims', () => {
  const payload = b64url({ sub: 'alice', acr: 'mfa', amr: ['pwd', 'otp', 7], auth_time: 1700000000, email: 'a@x' });
  const r = resolveIdentity(h(['x-jwt-payload', payload], ['x-api-key', 'k']), '1.2.3.4', cfg, p);
  assert.deepEqual(r.identity, { kind: 'jwt', id: p('jwt', 'alice') });
  assert.deepEqual(r.claims, { acr: 'mfa', amr: ['pwd', 'otp'], auth_time: 1700000000 });
  assert.ok(!JSON.stringify(r).includes('alice'));
});

test('jwt payload accepts base64 with padding and numeric subjects and custom subject claims', () => {
  const std = Buffer.from(JSON.stringify({ sub: 12345, x: '??>>' })).toString('base64');
  assert.deepEqual(resolveIdentity(h(['x-jwt-payload', std]), 'ip', cfg, p).identity, { kind: 'jwt', id: p('jwt', '12345') });
  const custom: IdentityConfig = { ...cfg, jwtSubjectClaim: 'uid' };
  const r = resolveIdentity(h(['x-jwt-payload', b64url({ sub: 'x', uid: 'u-9' })]), 'ip', custom, p);
  assert.equal(r.identity.id, p('jwt', 'u-9'));
  assert.deepEqual(r.claims, {});
});

test('malformed jwt payloads fall through to the next source', () => {
  const bad = [
    'not base64!!',
    '%%%',
    'a',
    b64url('just a string'),
    b64url([1, 2]),
    b64url(null),
    b64url({ nosub: true }),
    b64url({ sub: '' }),
    b64url({ sub: '   ' }),
    b64url({ sub: { nested: 1 } }),
    b64url({ sub: true }),
    Buffer.from('{"sub": "x"').toString('base64url'),
    Buffer.from([0xff, 0xfe, 0x00]).toString('base64url'),
    `${b64url({ sub: 'x' })}.sig`,
    b64url({ sub: 'x', pad: 'y'.repeat(20_000) }),
    Buffer.from(JSON.stringify({ sub: 'x' }), 'latin1').toString('latin1'), // raw JSON, not base64
  ];
  for (const value of bad) {
    const r = resolveIdentity(h(['x-jwt-payload', value], ['x-api-key', 'key-1']), '1.2.3.4', cfg, p);
    assert.equal(r.identity.kind, 'api-key', value.slice(0, 40));
    assert.equal(r.claims, null);
  }
});

test('conflicting duplicate jwt payload headers are ignored; identical ones accepted', () => {
  const a = b64url({ sub: 'alice' });
  const b = b64url({ sub: 'mallory' });
  assert.equal(resolveIdentity(h(['x-jwt-payload', b], ['x-jwt-payload', a]), 'ip', cfg, p).identity.kind, 'ip');
  assert.equal(resolveIdentity(h(['x-jwt-payload', a], ['x-jwt-payload', a]), 'ip', cfg, p).identity.kind, 'jwt');
});

test('Authorization Bearer is never an identity source', () => {
  const r = resolveIdentity(h(['authorization', 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.']), '1.2.3.4', cfg, p);
  assert.deepEqual(r, { identity: { kind: 'ip', id: p('ip', '1.2.3.4') }, claims: null });
});

test('api key: trimmed, empty ignored, over-long ignored', () => {
  assert.equal(resolveIdentity(h(['x-api-key', '  key-1  ']), 'ip', cfg, p).identity.id, p('api-key', 'key-1'));
  assert.equal(resolveIdentity(h(['x-api-key', '   ']), '1.1.1.1', cfg, p).identity.kind, 'ip');
  assert.equal(resolveIdentity(h(['x-api-key', 'k'.repeat(64 * 1024)]), '1.1.1.1', cfg, p).identity.kind, 'ip');
  const custom: IdentityConfig = { ...cfg, apiKeyHeader: 'X-Custom-Key' };
  assert.equal(resolveIdentity(h(['x-custom-key', 'abc']), 'ip', custom, p).identity.kind, 'api-key');
});

test('session cookie parsed across several cookie headers', () => {
  const r = resolveIdentity(h(['cookie', 'a=1; theme=dark'], ['cookie', 'x=y;session="s3cr3t" ; z=2']), 'ip', cfg, p);
  assert.deepEqual(r.identity, { kind: 'session', id: p('session', 's3cr3t') });
  assert.equal(readCookie(h(['cookie', 'mysession=no; session=yes']), 'session'), 'yes');
  assert.equal(readCookie(h(['cookie', 'session']), 'session'), undefined);
  assert.equal(readCookie(h(['cookie', 'session=a=b']), 'session'), 'a=b');
  assert.equal(readCookie(h(['cookie', ';;; =x; session=']), 'session'), '');
  assert.equal(resolveIdentity(h(['cookie', 'session=']), '9.9.9.9', cfg, p).identity.kind, 'ip');
});

test('resolution follows cfg.order and always ends with ip', () => {
  const headers = h(['x-api-key', 'key-1'], ['cookie', 'session=sess-1'], ['x-jwt-payload', b64url({ sub: 'bob' })]);
  const sessionFirst: IdentityConfig = { ...cfg, order: ['session', 'api-key', 'jwt', 'ip'] };
  assert.equal(resolveIdentity(headers, 'ip', sessionFirst, p).identity.kind, 'session');
  const apiFirst: IdentityConfig = { ...cfg, order: ['api-key', 'jwt', 'ip'] };
  const r = resolveIdentity(headers, 'ip', apiFirst, p);
  assert.equal(r.identity.kind, 'api-key');
  assert.equal(r.claims, null); // claims only when identity is the JWT
  const ipOnly: IdentityConfig = { ...cfg, order: ['ip'] };
  assert.equal(resolveIdentity(headers, '2001:db8::1', ipOnly, p).identity.id, p('ip', '2001:db8::1'));
  const noIp: IdentityConfig = { ...cfg, order: ['api-key'] };
  assert.equal(resolveIdentity(h(), '1.2.3.4', noIp, p).identity.kind, 'ip');
});

test('binary and hostile header values never throw', () => {
  const bin = Buffer.from([0x00, 0xff, 0xc3, 0x28, 0x3b, 0x3d]).toString('latin1');
  const headers = h(['x-jwt-payload', bin], ['cookie', bin], ['x-api-key', bin]);
  const r = resolveIdentity(headers, '1.2.3.4', cfg, p);
  assert.equal(r.identity.kind, 'api-key');
  assert.equal(r.identity.id, p('api-key', bin.trim()));
});
