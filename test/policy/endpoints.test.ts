import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePattern, matchEndpoint, queryParam } from '../../src/policy/endpoints.js';
import { compilePolicy } from '../../src/policy/load.js';
import { normaliseEndpoint } from '../../src/request/endpoint.js';

function match(pattern: string, path: string): Record<string, string> | null {
  const m = compilePattern(pattern);
  assert.equal(typeof m, 'function', `${pattern}: ${String(m)}`);
  const p = normaliseEndpoint('GET', path).path;
  return (m as (s: string[]) => Record<string, string> | null)(p === '/' ? [] : p.slice(1).split('/'));
}

test('literal, parameter, glob and rest segments', () => {
  assert.deepEqual(match('/api/orders/{id}', '/api/orders/42'), { id: '42' });
  assert.equal(match('/api/orders/{id}', '/api/orders'), null);
  assert.equal(match('/api/orders/{id}', '/api/orders/42/items'), null);
  assert.deepEqual(match('/api/*/login', '/api/v2/login'), {});
  assert.deepEqual(match('/api/v*/login', '/api/v2/login'), {});
  assert.equal(match('/api/v*/login', '/api/beta/login'), null);
  assert.deepEqual(match('/static/**', '/static'), {});
  assert.deepEqual(match('/static/**', '/static/js/app.js'), {});
  assert.deepEqual(match('/**', '/anything/at/all'), {});
  assert.deepEqual(match('/', '/'), {});
  assert.equal(match('/', '/x'), null);
  // matching is on the normalised path: dot segments, doubled slashes and the query are gone
  assert.deepEqual(match('/api/orders/{id}', '//api/./x/../orders/7?debug=1'), { id: '7' });
  assert.deepEqual(match('/files/*.pdf', '/files/report.pdf'), {});
  assert.equal(match('/files/*.pdf', '/files/report.pdf.exe'), null);
});

test('invalid patterns say why', () => {
  assert.equal(compilePattern('api/x'), 'must start with /');
  assert.equal(compilePattern('/a//b'), 'has an empty segment');
  assert.equal(compilePattern('/a/**/b'), '** is only allowed as the last segment');
  assert.equal(compilePattern('/a/x{id}'), 'segment "x{id}": a parameter is {name} alone in its segment');
  assert.equal(compilePattern('/search?q=1'), 'has ? or #: a pattern matches the path only, never the query or fragment, so it would never match');
  assert.equal(compilePattern('/docs#top'), 'has ? or #: a pattern matches the path only, never the query or fragment, so it would never match');
  assert.equal(compilePattern('/a/../b'), 'segment "..": a normalised path has no . or .. segments, so it would never match');
  assert.equal(compilePattern('/a/%2e'), 'segment "%2e": a normalised path has no . or .. segments, so it would never match');
});

test('a pattern is written as the path reads: spaces, non-ASCII and escapes match the percent-encoded path that arrives', () => {
  assert.deepEqual(match('/files/annual report.pdf', '/files/annual%20report.pdf'), {});
  assert.deepEqual(match('/files/annual%20report.pdf', '/files/annual%20report.pdf'), {});
  assert.deepEqual(match('/files/annual report.pdf', '/files/annual report.pdf'), {}, 'a raw space in the request is encoded too');
  assert.deepEqual(match('/café/menu', '/caf%C3%A9/menu'), {}, 'non-ASCII as its UTF-8 bytes');
  assert.deepEqual(match('/caf%c3%a9/menu', '/caf%C3%A9/menu'), {}, 'escapes in either case');
  assert.deepEqual(match('/~alice/*', '/%7Ealice/home'), {}, 'an escaped unreserved character is decoded on both sides');
  assert.deepEqual(match('/%7ealice/*', '/~alice/home'), {});
  assert.deepEqual(match('/docs/my doc*.pdf', '/docs/my%20doc-v2.pdf'), {}, 'inside a glob too');
  assert.equal(match('/files/annual report.pdf', '/files/annual+report.pdf'), null, 'a + is no space in a path');
});

test('first matching rule wins; methods filter; unmatched requests are "other"', () => {
  const p = compilePolicy(
    `format: 1
endpoints:
  - name: login
    match: { methods: [POST], path: /api/login }
    sensitivity: 2
    login: { username: { json: username }, failure: { status: [401] } }
  - name: orders
    match: { path: "/api/orders/{order}" }
    object_read: { id: "param:order" }
  - name: search
    match: { path: /api/search }
    object_read: { id: "query:q" }
  - name: users
    match: { path: "/api/users/**" }
    object_read: {}
  - name: assets
    match: { path: "/assets/**" }
    static: true
`,
    'p.yaml',
  );
  const m = (method: string, path: string) => matchEndpoint(p.endpoints, normaliseEndpoint(method, path));
  assert.equal(m('POST', '/api/login').group, 'login');
  assert.equal(m('POST', '/api/login').sensitivity, 2);
  assert.equal(m('GET', '/api/login').group, 'other');
  assert.equal(m('GET', '/api/login').sensitivity, 1);
  assert.equal(m('GET', '/api/orders/9001').objectId, '9001');
  assert.equal(m('GET', '/api/search?x=1&q=red%20shoes').objectId, 'red shoes');
  assert.equal(m('GET', '/api/search').objectId, null);
  assert.equal(m('GET', '/api/users/42/files/77').objectId, '77');
  assert.equal(m('GET', '/api/users/me').objectId, null);
  assert.equal(m('GET', '/assets/app.css').rule?.static, true);
  assert.equal(m('GET', '/api/login').rule, null);
});

test('query parameters', () => {
  assert.equal(queryParam('a=1&b=2', 'b'), '2');
  assert.equal(queryParam('a=1&a=2', 'a'), '1');
  assert.equal(queryParam('a=&b=2', 'a'), null);
  assert.equal(queryParam('a=%zz', 'a'), '%zz');
  assert.equal(queryParam('', 'a'), null);
});
