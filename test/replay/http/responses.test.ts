/** readResponses: body length by method and status (RFC 9112 §6.3), interim responses, tunnels, resync. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readResponses } from '../../../src/replay/http/message-reader.js';
import { OK, data, gap, kinds, split } from './pieces.js';

test('HEAD, 204 and 304 responses have no body even with a Content-Length; the next response follows directly', () => {
  const stream =
    'HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n' +
    'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n' +
    'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n' +
    OK('done');
  const { responses, interim, problems } = readResponses([data(stream)], ['HEAD', 'GET', 'GET', 'GET']);
  assert.deepEqual(problems, []);
  assert.equal(interim, 0);
  assert.deepEqual(responses.map((r) => [r.status, r.body.toString(), r.bodyBytes]), [[200, '', 0], [204, '', 0], [304, '', 0], [200, 'done', 4]]);
});

test('100 Continue then 200: the interim response is counted apart and not taken for the answer', () => {
  const stream = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n' + OK('created');
  const { responses, interim, answers } = readResponses(split(stream, [10, 30]), ['POST']);
  assert.equal(interim, 2);
  assert.deepEqual(responses.map((r) => [r.status, r.body.toString(), r.tsUs]), [[200, 'created', 1_020]]);
  assert.deepEqual(answers, [0]);
});

test('no Content-Length and no chunked: the response body runs to the end of the stream, gaps included', () => {
  const { responses, problems } = readResponses([data('HTTP/1.0 200 OK\r\nServer: old\r\n\r\nline one\r\n'), gap(5), data('HTTP/1.1 200 OK\r\n\r\n')], ['GET']);
  assert.equal(responses.length, 1);
  assert.equal(responses[0]?.body.toString(), 'line one\r\nHTTP/1.1 200 OK\r\n\r\n');
  assert.equal(responses[0]?.bodyBytes, 10 + 5 + 19);
  assert.equal(responses[0]?.complete, false);
  assert.deepEqual(kinds(problems), ['gap-in-body']);
});

test('a response Transfer-Encoding not ending in chunked also reads to the end of the stream', () => {
  const { responses, problems } = readResponses([data('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08rest')], ['GET']);
  assert.deepEqual(problems, []);
  assert.equal(responses[0]?.bodyBytes, 7);
});

test('chunked response split inside a chunk-size line and inside the CRLF after data', () => {
  const stream = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n' + OK('next');
  const at = stream.indexOf('10\r\n');
  const { responses, problems } = readResponses(split(stream, [at + 1, stream.indexOf('f\r\n') + 2]), ['GET', 'GET']);
  assert.deepEqual(problems, []);
  assert.deepEqual(responses.map((r) => r.body.toString()), ['0123456789abcdef', 'next']);
});

test('a 2xx answer to CONNECT ends HTTP: tunnelled bytes after it are not read', () => {
  const stream = 'HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01\x02\x00garbage HTTP/1.1 200 OK\r\n\r\n';
  const { responses, problems, endedAfter } = readResponses([data(OK('a') + stream)], ['GET', 'CONNECT', 'GET']);
  assert.deepEqual(responses.map((r) => [r.status, r.bodyBytes]), [[200, 1], [200, 0]]);
  assert.deepEqual(problems, []);
  assert.equal(endedAfter, 1);
  const refused = readResponses([data('HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n' + OK('b'))], ['CONNECT', 'GET']);
  assert.deepEqual(refused.responses.map((r) => r.status), [407, 200]);
  assert.equal(refused.endedAfter, null);
});

test('101 Switching Protocols answers the upgrade request and ends HTTP on the connection', () => {
  const stream = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello';
  const { responses, interim, problems, endedAfter } = readResponses([data(stream)], ['GET']);
  assert.deepEqual(responses.map((r) => r.status), [101]);
  assert.equal(interim, 0);
  assert.deepEqual(problems, []);
  assert.equal(endedAfter, 0);
});

test('a malformed status line is counted and skipped; the next status line is found at a line or piece start', () => {
  const bad = 'HTTP/1.1 2OO OK\r\nContent-Length: 3\r\n\r\nabc';
  const atLine = readResponses([data(OK('1') + bad + '\n' + OK('2'))], ['GET', 'GET', 'GET']);
  assert.deepEqual(atLine.responses.map((r) => r.body.toString()), ['1', '2']);
  assert.deepEqual(kinds(atLine.problems), ['bad-status-line']);
  const atPiece = readResponses([data(OK('1') + bad), data(OK('2'))], ['GET', 'GET', 'GET']);
  assert.deepEqual(atPiece.responses.map((r) => r.body.toString()), ['1', '2']);
  // Mid-line and mid-piece there is no telling a status line from body text: not found.
  const inside = readResponses([data(OK('1') + bad + OK('2'))], ['GET', 'GET', 'GET']);
  assert.deepEqual(inside.responses.map((r) => r.body.toString()), ['1']);
});

test('status line without a reason phrase, and with one containing odd bytes', () => {
  const { responses, problems } = readResponses([data('HTTP/1.1 404\r\nContent-Length: 0\r\n\r\nHTTP/1.1 500 Br\xfcken\r\nContent-Length: 0\r\n\r\n')], ['GET', 'GET']);
  assert.deepEqual(problems, []);
  assert.deepEqual(responses.map((r) => [r.status, r.version]), [[404, 'HTTP/1.1'], [500, 'HTTP/1.1']]);
});

test('a gap at a message boundary that starts mid-body: bytes skipped up to the next status line, and reported', () => {
  const { responses, problems, answers } = readResponses([data(OK('first')), gap(238), data('<html>lost body</html>'), data(OK('third'))], ['GET', 'GET', 'GET']);
  assert.deepEqual(responses.map((r) => r.body.toString()), ['first', 'third']);
  assert.deepEqual(kinds(problems), ['skipped-after-gap']);
  assert.match(problems[0]?.detail ?? '', /22 bytes after a gap/);
  assert.deepEqual(answers, [0, 1], 'a response lost whole in a gap cannot be known: order pairing');
});

test('a response dropped for a gap in its headers still answers its request', () => {
  const { responses, answers } = readResponses([data(OK('a') + 'HTTP/1.1 200 OK\r\nCont'), gap(40), data(OK('c'))], ['GET', 'GET', 'GET']);
  assert.deepEqual(responses.map((r) => r.body.toString()), ['a', 'c']);
  assert.deepEqual(answers, [0, 2]);
});

test('completeOnly drops messages that were not captured whole (what Wireshark counts)', () => {
  const pieces = [data(OK('a') + 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01'), gap(8), data(OK('c') + 'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\ncut')];
  const all = readResponses(pieces, ['GET', 'GET', 'GET', 'GET']);
  assert.deepEqual(all.responses.map((r) => r.complete), [true, false, true, false]);
  const whole = readResponses(pieces, ['GET', 'GET', 'GET', 'GET'], { completeOnly: true });
  assert.deepEqual(whole.responses.map((r) => r.body.toString()), ['a', 'c']);
  assert.deepEqual(whole.answers, [0, 2]);
  assert.deepEqual(kinds(whole.problems), ['gap-in-body', 'incomplete-message', 'incomplete-message', 'truncated-body']);
});

test('more responses than methods: framed as if answering a GET', () => {
  const { responses } = readResponses([data(OK('a') + OK('b'))], []);
  assert.deepEqual(responses.map((r) => r.body.toString()), ['a', 'b']);
});
