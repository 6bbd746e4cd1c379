/**
 * The pieces under the log readers: timestamps, quoted-field escapes, field splitting, request lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitClfLine, unescapeLogBytes } from '../../../src/replay/logs/clf-fields.js';
import { parseClfTime, parseRfc3339 } from '../../../src/replay/logs/log-time.js';
import { classifyRequestLine } from '../../../src/replay/logs/request-line.js';

const us = (iso: string): number => Date.parse(iso) * 1000;
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

test('CLF time with offsets', () => {
  assert.equal(parseClfTime('17/May/2015:10:05:03 +0000'), us('2015-05-17T10:05:03Z'));
  assert.equal(parseClfTime('25/Oct/2015:04:11:25 +0100'), us('2015-10-25T03:11:25Z'));
  assert.equal(parseClfTime('22/Oct/2021:02:28:56 -0700'), us('2021-10-22T09:28:56Z'));
  assert.equal(parseClfTime('01/Jan/2020:00:00:00 +0545'), us('2019-12-31T18:15:00Z'));
  assert.equal(parseClfTime('29/Feb/2016:12:00:00 +0000'), us('2016-02-29T12:00:00Z'));
});

test('CLF time rejects what is not a real time', () => {
  for (const bad of [
    '29/Feb/2015:12:00:00 +0000',
    '32/Jan/2015:12:00:00 +0000',
    '17/may/2015:10:05:03 +0000',
    '17/May/2015:24:00:00 +0000',
    '17/May/2015:10:60:00 +0000',
    '17/May/2015:10:05:03',
    '17/May/2015:10:05:03 +2500',
    '17/May/2015 10:05:03 +0000',
    '',
  ]) {
    assert.equal(parseClfTime(bad), null, bad);
  }
});

test('RFC 3339 (Envoy START_TIME)', () => {
  assert.equal(parseRfc3339('2016-04-15T20:17:00.310Z'), us('2016-04-15T20:17:00.310Z'));
  assert.equal(parseRfc3339('2016-04-15T22:17:00.310+02:00'), us('2016-04-15T20:17:00.310Z'));
  assert.equal(parseRfc3339('2016-04-15T20:17:00Z'), us('2016-04-15T20:17:00Z'));
  assert.equal(parseRfc3339('2016-04-15 20:17:00.000001z'), us('2016-04-15T20:17:00Z') + 1);
  assert.equal(parseRfc3339('2016-04-15T20:17:00.123456789Z'), us('2016-04-15T20:17:00Z') + 123456.789);
  assert.equal(parseRfc3339('2016-04-15T20:17:00-0130'), us('2016-04-15T21:47:00Z'));
  for (const bad of ['2016-04-15', '2016-13-01T00:00:00Z', '2016-04-15T20:17:00', 'yesterday', '2016-04-15T20:17:00.Z']) {
    assert.equal(parseRfc3339(bad), null, bad);
  }
});

test('unescaping Apache and nginx escapes', () => {
  assert.deepEqual(unescapeLogBytes(b('a\\"b\\\\c')), b('a"b\\c'));
  assert.deepEqual(unescapeLogBytes(b('\\x22\\x5C\\xff\\xFE')), Buffer.from([0x22, 0x5c, 0xff, 0xfe]));
  assert.deepEqual(unescapeLogBytes(b('\\n\\t\\r')), b('\n\t\r'));
  // Not escapes: kept as they are.
  assert.deepEqual(unescapeLogBytes(b('\\q \\x4 \\')), b('\\q \\x4 \\'));
  // \\x41 is an escaped backslash followed by "x41", not the byte 0x41.
  assert.deepEqual(unescapeLogBytes(b('\\\\x41')), b('\\x41'));
});

test('field splitting: %u with spaces, escaped quote before the closing quote, trailing fields', () => {
  const f = splitClfLine(b('192.0.2.1 - john doe [17/May/2015:10:05:03 +0000] "GET /a\\\\" 200 5 "r" "u" "198.51.100.1" 0.003'));
  assert.ok(f);
  assert.equal(f.user, 'john doe');
  // `\\\\` is an escaped backslash, so the quote after it closes %r: the request is `GET /a\`.
  assert.deepEqual(f.request, b('GET /a\\'));
  assert.equal(f.status, '200');
  assert.equal(f.tail, 'combined');
  // When the escape-aware end is not followed by `status size`, the first `" ddd size` wins.
  const h = splitClfLine(b('192.0.2.1 - - [17/May/2015:10:05:03 +0000] "GET /a\\\\" HTTP/1.1" 200 5'));
  assert.ok(h);
  assert.deepEqual(h.request, b('GET /a\\" HTTP/1.1'));
  assert.equal(h.tail, 'common');
  const g = splitClfLine(b('192.0.2.1 - - [17/May/2015:10:05:03 +0000] "GET /a\\" x" 200 5 "r" "u" "198.51.100.1"'));
  assert.ok(g);
  assert.deepEqual(g.request, b('GET /a" x'));
  assert.equal(g.tail, 'combined');
  assert.deepEqual(g.userAgent, b('u'));
});

test('field splitting: no layout → null', () => {
  for (const bad of ['', 'x', '192.0.2.1 - - 17/May/2015 "GET /" 200 5', '192.0.2.1 - - [t] GET / 200 5', '192.0.2.1 - - [t] "GET /']) {
    assert.equal(splitClfLine(b(bad)), null, bad);
  }
});

test('request lines', () => {
  assert.deepEqual(classifyRequestLine(b('GET /x?y HTTP/1.1')), {
    kind: 'request',
    method: 'GET',
    target: '/x?y',
    version: 'HTTP/1.1',
    http09: false,
  });
  assert.deepEqual(classifyRequestLine(b('CONNECT example.com:443 HTTP/1.1')).kind, 'request');
  assert.deepEqual(classifyRequestLine(b('GET / HTTP/2.0')).kind, 'request');
  assert.deepEqual(classifyRequestLine(b('GET /')), { kind: 'request', method: 'GET', target: '/', version: 'HTTP/1.0', http09: true });
  assert.deepEqual(classifyRequestLine(b('-')), { kind: 'none' });
  assert.deepEqual(classifyRequestLine(b('')), { kind: 'none' });
  for (const bad of ['GET', 'GET  / HTTP/1.1', 'GET / HTTP/1.1 x', 'G(T / HTTP/1.1', 'GET /\x01 HTTP/1.1', 'GET / http/1.1', '\x16\x03\x01\x02\x00']) {
    assert.equal(classifyRequestLine(b(bad)).kind, 'bad', JSON.stringify(bad));
  }
  // Bytes from 0x80 up in the target are kept (servers log raw UTF-8 paths).
  assert.equal(classifyRequestLine(Buffer.from('GET /café HTTP/1.1', 'utf8')).kind, 'request');
});
