import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeaderList } from '../../src/request/headers.js';
import { createPseudonymizer } from '../../src/request/keyed-hash.js';
import { extractUsername, loginFailed, needsBody } from '../../src/request/login.js';

const pseudo = createPseudonymizer(Buffer.from('test-secret-0123456789abcdef'));
const none = new HeaderList([]);
const user = (raw: string) => pseudo('user', raw);

test('JSON field paths, normalised and hashed', () => {
  const body = Buffer.from(JSON.stringify({ username: '  Alice@Example.COM ', user: { email: 'bob@x.io' }, n: 42 }));
  assert.equal(extractUsername({ from: 'json', field: 'username' }, none, body, pseudo), user('alice@example.com'));
  assert.equal(extractUsername({ from: 'json', field: 'user.email' }, none, body, pseudo), user('bob@x.io'));
  assert.equal(extractUsername({ from: 'json', field: 'n' }, none, body, pseudo), user('42'));
  assert.match(extractUsername({ from: 'json', field: 'username' }, none, body, pseudo)!, /^user:[0-9a-f]{32}$/);
});

test('a missing, non-string or unparsable JSON field is no username', () => {
  const f = { from: 'json', field: 'user.email' } as const;
  for (const text of ['{"user":{}}', '{"user":"x"}', '{"user":{"email":["a"]}}', 'not json', '{"user":{"email":"   "}}', '[1,2]']) {
    assert.equal(extractUsername(f, none, Buffer.from(text), pseudo), null, text);
  }
  assert.equal(extractUsername(f, none, null, pseudo), null);
  assert.equal(extractUsername(f, none, Buffer.from([0xff, 0xfe, 0x00]), pseudo), null);
});

test('form fields (percent- and plus-decoded) and headers', () => {
  const body = Buffer.from('password=x&login=J%C3%B6rg+M&login=second');
  assert.equal(extractUsername({ from: 'form', field: 'login' }, none, body, pseudo), user('jörg m'));
  assert.equal(extractUsername({ from: 'form', field: 'absent' }, none, body, pseudo), null);
  const headers = new HeaderList([['x-username', 'Carol']]);
  assert.equal(extractUsername({ from: 'header', name: 'x-username' }, headers, null, pseudo), user('carol'));
  assert.equal(needsBody({ from: 'header', name: 'x-username' }), false);
  assert.equal(needsBody({ from: 'form', field: 'login' }), true);
});

test('very long usernames are cut before hashing', () => {
  const long = 'a'.repeat(10_000);
  const body = Buffer.from(JSON.stringify({ u: long }));
  assert.equal(extractUsername({ from: 'json', field: 'u' }, none, body, pseudo), user('a'.repeat(256)));
});

test('failure signals: status list, header with or without value, every attempt', () => {
  const resp = (status: number, headers: Array<[string, string]> = []) => ({ status, contentLength: null, headers: new HeaderList(headers) });
  assert.equal(loginFailed({ kind: 'status', statuses: [401, 403] }, resp(401)), true);
  assert.equal(loginFailed({ kind: 'status', statuses: [401, 403] }, resp(200)), false);
  assert.equal(loginFailed({ kind: 'header', name: 'x-login-result', value: 'failed' }, resp(200, [['x-login-result', ' FAILED ']])), true);
  assert.equal(loginFailed({ kind: 'header', name: 'x-login-result', value: 'failed' }, resp(200, [['x-login-result', 'ok']])), false);
  assert.equal(loginFailed({ kind: 'header', name: 'x-login-failed', value: null }, resp(200, [['x-login-failed', '1']])), true);
  assert.equal(loginFailed({ kind: 'header', name: 'x-login-failed', value: null }, resp(200)), false);
  assert.equal(loginFailed({ kind: 'every-attempt' }, resp(200)), true);
});
