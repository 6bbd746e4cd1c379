import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PATH_CHARS, MAX_SEGMENTS, isObjectId, normaliseEndpoint } from '../../src/request/endpoint.js';

const path = (p: string) => normaliseEndpoint('GET', p).path;
const tmpl = (p: string) => normaliseEndpoint('GET', p).template;

test('ids become {id} and go to objectIds in order', () => {
  assert.deepEqual(normaliseEndpoint('get', '/users/42/orders?page=2#top'), {
    method: 'GET',
    path: '/users/42/orders',
    template: '/users/{id}/orders',
    objectIds: ['42'],
    query: 'page=2',
  });
  const e = normaliseEndpoint('GET', '/orgs/5f1c2ab9e0/users/123e4567-E89B-12d3-a456-426614174000/files/12345.json');
  assert.equal(e.template, '/orgs/{id}/users/{id}/files/{id}');
  assert.deepEqual(e.objectIds, ['5f1c2ab9e0', '123e4567-E89B-12d3-a456-426614174000', '12345.json']);
});

test('ordinary words and versions are not ids', () => {
  assert.equal(tmpl('/api/v1/items'), '/api/v1/items');
  for (const word of ['v1', 'v2beta1', 'oauth2', 'deadbeef', 'facade', 'internationalization', 'users', 'me',
    'index.html', 'healthz', 'a1b2c3', 'login', 'x509', 'sha256']) {
    assert.equal(isObjectId(word), false, word);
  }
});

test('ids: digits, uuids, hex with a digit, opaque tokens, affixed numbers', () => {
  for (const id of ['0', '42', '0000123', '123e4567-e89b-12d3-a456-426614174000', 'deadbeef1', 'ABCDEF0123456789',
    'sk_live_4eC39HqLyjWDarjtT1zdp7dc', 'dGhpcyBpcyBhIHRva2VuMTIz', 'eyJhbGciOiJIUzI1NiJ9abc', 'abc%2Bdef%2Fghi%3D1234567890',
    '42.xml', 'user-42', 'ord_9876']) {
    assert.equal(isObjectId(id), true, id);
  }
  assert.equal(isObjectId('aaaaaaaaaaaaaaaaaaaaaaaa'), false); // long but no digit
  assert.equal(isObjectId('12345.'), false);
});

test('query and fragment are stripped, // collapsed, trailing slash removed', () => {
  assert.equal(path('/a//b///c/'), '/a/b/c');
  assert.equal(path('/'), '/');
  assert.equal(path('//'), '/');
  assert.equal(path(''), '/');
  assert.equal(path('?x=1'), '/');
  assert.equal(path('/a#frag/../b'), '/a');
  assert.equal(path('/a?x=/../'), '/a');
  assert.equal(path('*'), '/*');
  assert.equal(path('relative/x'), '/relative/x');
});

test('dot segments are resolved without escaping the root', () => {
  assert.equal(path('/a/./b/../c'), '/a/c');
  assert.equal(path('/../../etc/passwd'), '/etc/passwd');
  assert.equal(path('/a/b/..'), '/a');
  assert.equal(path('/a/..'), '/');
  assert.equal(path('/%2e%2E/%2e/x'), '/x');
  assert.equal(path('/a/.../b'), '/a/.../b');
});

test('percent-encoding: unreserved decoded, others upper-cased, invalid kept', () => {
  assert.equal(path('/%7euser/%41%2d%5F'), '/~user/A-_');
  assert.equal(path('/a%2fb/c'), '/a%2Fb/c'); // %2F stays inside its segment
  assert.equal(tmpl('/files/a%2f..%2fsecret'), '/files/a%2F..%2Fsecret');
  assert.equal(path('/a%zz/%/%4'), '/a%zz/%/%4');
  assert.equal(path('/caf%c3%a9'), '/caf%C3%A9');
  assert.equal(path('/a b/<x>'), '/a%20b/%3Cx%3E');
  assert.equal(path("/a:b@c!$&'()*+,;="), "/a:b@c!$&'()*+,;=");
});

test('binary and non-ASCII input is percent-encoded, never throws', () => {
  const bin = Buffer.from([0x2f, 0x00, 0xff, 0x80, 0x2f, 0x7f]).toString('latin1');
  assert.equal(path(bin), '/%00%FF%80/%7F');
  assert.equal(path('/caf\u00e9'), '/caf%E9');
  assert.equal(path('/\u2603'), '/%E2%98%83');
  assert.equal(path('/\ud83d\ude00'), '/%F0%9F%98%80');
  assert.equal(path('/\ud800'), '/%EF%BF%BD');
  const junk = normaliseEndpoint(undefined as unknown as string, undefined as unknown as string);
  assert.deepEqual(junk, { method: 'INVALID', path: '/', template: '/', objectIds: [], query: '' });
});

test('path length and segment count are capped', () => {
  const long = normaliseEndpoint('GET', `/${'a'.repeat(100_000)}`);
  assert.ok(long.path.length <= MAX_PATH_CHARS);
  const encoded = normaliseEndpoint('GET', `/${'\u00ff'.repeat(5000)}`);
  assert.ok(encoded.path.length <= MAX_PATH_CHARS);
  assert.match(encoded.path, /^\/(%FF)+$/); // never cut inside an escape
  const many = normaliseEndpoint('GET', '/x'.repeat(1000));
  assert.equal(many.path.split('/').length - 1, MAX_SEGMENTS);
  const ids = normaliseEndpoint('GET', '/1'.repeat(1000));
  assert.equal(ids.objectIds.length, MAX_SEGMENTS);
});

test('methods are upper-cased tokens, anything else is INVALID', () => {
  const m = (s: string) => normaliseEndpoint(s, '/').method;
  assert.equal(m('get'), 'GET');
  assert.equal(m('PROPFIND'), 'PROPFIND');
  assert.equal(m(''), 'INVALID');
  assert.equal(m('GE T'), 'INVALID');
  assert.equal(m('GET\r\n'), 'INVALID');
  assert.equal(m('G\u00c9T'), 'INVALID');
  assert.equal(m('X'.repeat(33)), 'INVALID');
});
