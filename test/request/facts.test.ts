import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderList } from '../../src/request/headers.js';
import { resolveFacts } from '../../src/request/facts.js';
import { createPseudonymizer } from '../../src/request/keyed-hash.js';
import { defaultIdentityConfig, type IdentityConfig } from '../../src/request/types.js';

const p = createPseudonymizer(Buffer.from('facts-secret-0123456789'));
const cfg = defaultIdentityConfig;
const facts = (pairs: Array<[string, string]>, sourceAddress?: string, c: IdentityConfig = cfg) =>
  resolveFacts(sourceAddress === undefined ? { headers: new HeaderList(pairs) } : { headers: new HeaderList(pairs), sourceAddress }, c, p);

test('a typical API request', () => {
  const f = facts(
    [
      [':method', 'post'],
      [':path', '/users/42/orders?expand=1'],
      [':authority', 'API.Example.com'],
      ['content-length', '17'],
      ['accept', 'application/json'],
      ['x-api-key', 'key-abc'],
    ],
    '[2001:DB8::7]:51000',
  );
  assert.deepEqual(f, {
    identity: { kind: 'api-key', id: p('api-key', 'key-abc') },
    clientIp: '2001:db8::7',
    endpoint: { method: 'POST', path: '/users/42/orders', template: '/users/{id}/orders', objectIds: ['42'], query: 'expand=1' },
    authority: 'api.example.com',
    contentLength: 17,
    userAgent: '',
    claims: null,
    bearer: true,
  });
});

test('missing pseudo-headers give safe defaults', () => {
  const f = facts([], undefined);
  assert.deepEqual(f.endpoint, { method: 'INVALID', path: '/', template: '/', objectIds: [], query: '' });
  assert.equal(f.authority, '');
  assert.equal(f.contentLength, null);
  assert.equal(f.clientIp, 'unknown');
  assert.deepEqual(f.identity, { kind: 'ip', id: p('ip', 'unknown') });
});

test('authority falls back to host', () => {
  assert.equal(facts([['host', 'Shop.Example:8443']]).authority, 'shop.example:8443');
  assert.equal(facts([['host', 'x'.repeat(10_000)]]).authority.length, 256);
});

test('content-length: sane non-negative integers only', () => {
  const cl = (...values: string[]) => facts(values.map((v) => ['content-length', v])).contentLength;
  assert.equal(cl('0'), 0);
  assert.equal(cl(' 1024 '), 1024);
  assert.equal(cl('9007199254740991'), Number.MAX_SAFE_INTEGER);
  assert.equal(cl('9007199254740993'), null);
  assert.equal(cl('99999999999999999999999'), null);
  assert.equal(cl('-1'), null);
  assert.equal(cl('1e3'), null);
  assert.equal(cl('0x10'), null);
  assert.equal(cl('12abc'), null);
  assert.equal(cl(''), null);
  assert.equal(cl('5', '5'), 5);
  assert.equal(cl('5, 5'), 5);
  assert.equal(cl('5', '6'), null);
  assert.equal(cl('1'.repeat(64 * 1024)), null);
});

test('bearer: Bearer authorization or no text/html in accept', () => {
  const browser: Array<[string, string]> = [['accept', 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8']];
  assert.equal(facts(browser).bearer, false);
  assert.equal(facts([...browser, ['authorization', 'Bearer abc']]).bearer, true);
  assert.equal(facts([...browser, ['authorization', 'bearer abc']]).bearer, true);
  assert.equal(facts([...browser, ['authorization', 'Basic Zm9vOmJhcg==']]).bearer, false);
  assert.equal(facts([['accept', 'application/json'], ['accept', 'TEXT/HTML']]).bearer, false);
  assert.equal(facts([['accept', 'application/json']]).bearer, true);
  assert.equal(facts([]).bearer, true);
});

test('jwt claims and xff client ip flow through', () => {
  const payload = Buffer.from(JSON.stringify({ sub: 'carol', acr: 'aal2', auth_time: 1 })).toString('base64url');
  const c: IdentityConfig = { ...cfg, clientIpSource: 'xff', trustedHops: 1 };
  const f = facts(
    [[':method', 'GET'], [':path', '/'], ['x-jwt-payload', payload], ['x-forwarded-for', '6.6.6.6, 8.8.8.8, 10.0.0.2']],
    '10.0.0.3:1',
    c,
  );
  assert.equal(f.clientIp, '8.8.8.8');
  assert.deepEqual(f.identity, { kind: 'jwt', id: p('jwt', 'carol') });
  assert.deepEqual(f.claims, { acr: 'aal2', auth_time: 1 });
});

test('raw credentials never appear in the facts', () => {
  const apiKey = 'ak_live_SuperSecretKeyValue123456';
  const cookie = 'sess-SuperSecretCookieValue987';
  const subject = 'subject-SuperSecret-user@example.com';
  const jwt = Buffer.from(JSON.stringify({ sub: subject, acr: 'mfa' })).toString('base64url');
  const bearer = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJTdXBlclNlY3JldCJ9.SuperSecretSignature';
  const headers: Array<[string, string]> = [
    [':method', 'GET'],
    [':path', '/me'],
    ['x-api-key', apiKey],
    ['cookie', `session=${cookie}`],
    ['x-jwt-payload', jwt],
    ['authorization', `Bearer ${bearer}`],
  ];
  const orders: IdentityConfig['order'][] = [
    ['jwt', 'api-key', 'session', 'ip'],
    ['api-key', 'ip'],
    ['session', 'ip'],
    ['ip'],
  ];
  for (const order of orders) {
    const serialized = JSON.stringify(facts(headers, '1.2.3.4:5', { ...cfg, order }));
    for (const secret of [apiKey, cookie, subject, jwt, bearer, 'SuperSecret']) {
      assert.ok(!serialized.includes(secret), `${order.join(',')}: leaked ${secret}`);
    }
  }
});

test('hostile 64 KiB and binary values never throw', () => {
  const big = 'A%'.repeat(32 * 1024);
  const bin = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
  const f = facts([
    [':method', bin],
    [':path', big + bin],
    [':authority', bin],
    ['content-length', bin],
    ['accept', bin],
    ['authorization', bin],
    ['x-jwt-payload', big],
    ['cookie', big],
    ['x-api-key', big],
  ], bin);
  assert.equal(f.endpoint.method, 'INVALID');
  assert.ok(f.endpoint.path.length <= 2048);
  assert.equal(f.contentLength, null);
  assert.equal(f.clientIp, 'unknown');
  assert.equal(f.identity.kind, 'ip');
});
