/** readRequests: framing, keep-alive, pipelining, awkward splits, malformed input and resync, gaps, truncation. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readRequests } from '../../../src/replay/http/message-reader.js';
import { GET, bytewise, data, gap, kinds, split } from './pieces.js';

test('keep-alive: three requests in three pieces, each stamped with its own piece time', () => {
  const { requests, problems } = readRequests([data(GET('/a'), 100), data(GET('/b'), 200), data(GET('/c'), 300)]);
  assert.deepEqual(problems, []);
  assert.deepEqual(requests.map((r) => [r.method, r.target, r.version, r.tsUs, r.complete]), [
    ['GET', '/a', 'HTTP/1.1', 100, true],
    ['GET', '/b', 'HTTP/1.1', 200, true],
    ['GET', '/c', 'HTTP/1.1', 300, true],
  ]);
  assert.deepEqual(requests[0]?.headers, [['Host', 'example.test']]);
});

test('pipelining: five requests back to back in one piece, with bodies', () => {
  const post = (n: number): string => `POST /p${n} HTTP/1.1\r\nContent-Length: ${n}\r\n\r\n${'x'.repeat(n)}`;
  const { requests, problems } = readRequests([data([1, 2, 3, 4, 5].map(post).join(''), 7)]);
  assert.deepEqual(problems, []);
  assert.deepEqual(requests.map((r) => [r.target, r.body.toString(), r.bodyBytes, r.tsUs]), [1, 2, 3, 4, 5].map((n) => [`/p${n}`, 'x'.repeat(n), n, 7]));
});

test('tsUs is the time of the piece that holds the first byte of the start line (after skipped blank lines)', () => {
  const { requests } = readRequests([data('\r\n', 5), data('\r\nGE', 10), data('T / HTTP/1.1\r\n\r\n', 20)]);
  assert.equal(requests.length, 1);
  assert.equal(requests[0]?.tsUs, 10);
});

test('chunked with extensions and trailers, split inside the start line, a header, a chunk-size line and a CRLF', () => {
  const msg =
    'POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' +
    '5;name=val;flag\r\nhello\r\n' +
    '1A ; ext="q"\r\n' + 'abcdefghijklmnopqrstuvwxyz\r\n' +
    '0\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n' +
    GET('/after');
  const cuts = [3, 30, msg.indexOf('1A') + 1, msg.indexOf('xyz') + 4];
  const { requests, problems } = readRequests(split(msg, cuts));
  assert.deepEqual(problems, []);
  assert.equal(requests.length, 2);
  assert.equal(requests[0]?.body.toString(), 'helloabcdefghijklmnopqrstuvwxyz');
  assert.equal(requests[0]?.bodyBytes, 31);
  assert.equal(requests[0]?.complete, true);
  assert.deepEqual(requests[0]?.headers.map(([n]) => n), ['Host', 'Transfer-Encoding'], 'trailer fields are not merged into the headers');
  assert.equal(requests[1]?.target, '/after');
});

test('content-length body split mid-body; a request without framing has no body', () => {
  const msg = 'PUT /x HTTP/1.1\r\ncontent-length: 10\r\n\r\n0123456789' + 'DELETE /y HTTP/1.1\r\n\r\n';
  const { requests, problems } = readRequests(split(msg, [40, 45]));
  assert.deepEqual(problems, []);
  assert.deepEqual(requests.map((r) => [r.method, r.body.toString(), r.complete]), [['PUT', '0123456789', true], ['DELETE', '', true]]);
});

test('a request split across one-byte pieces reads the same as in one piece', () => {
  const msg = 'POST /form?a=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' + GET('/two');
  const whole = readRequests([data(msg, 1_000)]);
  const bytes = readRequests(bytewise(msg, 1_000));
  assert.deepEqual(bytes.problems, []);
  assert.equal(bytes.requests.length, 2);
  assert.deepEqual(bytes.requests.map((r) => ({ ...r, tsUs: 0 })), whole.requests.map((r) => ({ ...r, tsUs: 0 })));
  assert.equal(bytes.requests[1]?.tsUs, 1_000 + msg.indexOf('GET /two'));
});

test('bare LF line ends are accepted', () => {
  const { requests, problems } = readRequests([data('GET /lf HTTP/1.0\nHost: h\nContent-Length: 2\n\nhiGET /b HTTP/1.0\n\n')]);
  assert.deepEqual(problems, []);
  assert.deepEqual(requests.map((r) => [r.target, r.version, r.body.toString()]), [['/lf', 'HTTP/1.0', 'hi'], ['/b', 'HTTP/1.0', '']]);
});

test('a malformed request line in the middle of a keep-alive connection: counted, skipped, later requests found', () => {
  const stream = GET('/1') + 'G@T / HTTP/1.1\r\nHost: h\r\n\r\n' + GET('/2') + GET('/3');
  const { requests, problems } = readRequests([data(stream)]);
  assert.deepEqual(requests.map((r) => r.target), ['/1', '/2', '/3']);
  assert.deepEqual(kinds(problems), ['bad-request-line']);
  assert.match(problems[0]?.detail ?? '', /request at byte 39: "G@T/);
});

test('after a bad request line the reader resyncs at the next piece start even without a line break', () => {
  const { requests, problems } = readRequests([data('\x16\x03\x01 binary'), data('more\x00binary'), data(GET('/ok'))]);
  assert.deepEqual(requests.map((r) => r.target), ['/ok']);
  assert.deepEqual(kinds(problems), ['bad-request-line']);
});

test('bad header lines are skipped and the message kept; obs-fold lines are joined', () => {
  const msg = 'GET / HTTP/1.1\r\nHost: h\r\nNo colon here\r\nBad Name: v\r\nSpace : before colon\r\nX-Fold: one\r\n  two\r\n\tthree\r\nX-Last:  v  \r\n\r\n';
  const { requests, problems } = readRequests([data(msg)]);
  assert.equal(requests.length, 1);
  assert.deepEqual(requests[0]?.headers, [['Host', 'h'], ['X-Fold', 'one two three'], ['X-Last', 'v']]);
  assert.deepEqual(kinds(problems), ['bad-header', 'bad-header', 'bad-header']);
});

test('invalid UTF-8 in a header value is kept byte for byte as latin1', () => {
  const raw = Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nX-Name: caf'), Buffer.from([0xc3, 0x28, 0xff, 0x80]), Buffer.from('\r\n\r\n')]);
  const { requests, problems } = readRequests([data(raw)]);
  assert.deepEqual(problems, []);
  const value = requests[0]?.headers[0]?.[1] ?? '';
  assert.deepEqual(Buffer.from(value, 'latin1'), Buffer.from([0x63, 0x61, 0x66, 0xc3, 0x28, 0xff, 0x80]));
});

test('body cap: body is cut at maxBodyBytes while bodyBytes keeps the full decoded length', () => {
  const body = 'b'.repeat(1000);
  const chunked = `POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200\r\n${body.slice(0, 512)}\r\n1e8\r\n${body.slice(512)}\r\n0\r\n\r\n`;
  const { requests } = readRequests([data(`POST /l HTTP/1.1\r\nContent-Length: 1000\r\n\r\n${body}` + chunked)], { maxBodyBytes: 100 });
  assert.deepEqual(requests.map((r) => [r.body.length, r.bodyBytes, r.complete]), [[100, 1000, true], [100, 1000, true]]);
});

test('a gap inside a content-length body: bytes counted as body, message incomplete, the next request found', () => {
  const pieces = [data('POST /g HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123'), gap(4), data('89' + GET('/next'))];
  const { requests, problems } = readRequests(pieces);
  assert.deepEqual(requests.map((r) => [r.target, r.body.toString(), r.bodyBytes, r.complete]), [['/g', '012389', 10, false], ['/next', '', 0, true]]);
  assert.deepEqual(kinds(problems), ['gap-in-body']);
});

test('a gap that swallows the end of a body: message kept incomplete, the reader resyncs after the gap', () => {
  const pieces = [data('POST /g HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123'), gap(50), data('tail of something\r\n' + GET('/next'))];
  const { requests, problems } = readRequests(pieces);
  assert.deepEqual(requests.map((r) => [r.target, r.complete]), [['/g', false], ['/next', true]]);
  assert.deepEqual(kinds(problems), ['gap-in-body']);
});

test('a gap inside the headers drops that message and the reader resyncs after the gap', () => {
  const pieces = [data(GET('/1') + 'GET /lost HTTP/1.1\r\nHo'), gap(30), data('rest: x\r\n\r\n' + GET('/2'))];
  const { requests, problems } = readRequests(pieces);
  assert.deepEqual(requests.map((r) => r.target), ['/1', '/2']);
  assert.deepEqual(kinds(problems), ['gap-in-headers']);
});

test('a gap inside chunked framing drops that message; a gap inside chunk data only marks it incomplete', () => {
  const head = 'POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n';
  const inFraming = readRequests([data(head + '1'), gap(3), data('\r\nabc\r\n0\r\n\r\n' + GET('/2'))]);
  assert.deepEqual(inFraming.requests.map((r) => r.target), ['/2']);
  assert.ok(kinds(inFraming.problems).includes('gap-in-framing'));
  const acrossEnd = readRequests([data(head + 'a\r\n01'), gap(40), data('\r\n0\r\n\r\n' + GET('/2'))]);
  assert.deepEqual(acrossEnd.requests.map((r) => r.target), ['/2']);
  assert.deepEqual(kinds(acrossEnd.problems), ['gap-in-framing']);
  const inData = readRequests([data(head + 'a\r\n01'), gap(6), data('89\r\n0\r\n\r\n' + GET('/2'))]);
  assert.deepEqual(inData.requests.map((r) => [r.target, r.bodyBytes, r.complete]), [['/c', 10, false], ['/2', 0, true]]);
  assert.deepEqual(kinds(inData.problems), ['gap-in-body']);
});

test('truncated final message: kept incomplete when its header section was complete, else dropped', () => {
  const kept = readRequests([data(GET('/1') + 'POST /2 HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly-part')]);
  assert.deepEqual(kept.requests.map((r) => [r.target, r.body.toString(), r.bodyBytes, r.complete]), [['/1', '', 0, true], ['/2', 'only-part', 9, false]]);
  assert.deepEqual(kinds(kept.problems), ['truncated-body']);
  const dropped = readRequests([data(GET('/1') + 'GET /2 HTTP/1.1\r\nHost: ex')]);
  assert.deepEqual(dropped.requests.map((r) => r.target), ['/1']);
  assert.deepEqual(kinds(dropped.problems), ['truncated-message']);
  const inLine = readRequests([data(GET('/1') + 'GET /2 HT')]);
  assert.deepEqual(kinds(inLine.problems), ['truncated-message']);
});

test('both Transfer-Encoding and Content-Length: chunked wins, problem counted', () => {
  const { requests, problems } = readRequests([data('POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' + GET('/n'))]);
  assert.deepEqual(requests.map((r) => [r.target, r.body.toString()]), [['/', 'ok'], ['/n', '']]);
  assert.deepEqual(kinds(problems), ['conflicting-framing']);
});

test('invalid Content-Length (non-numeric, or differing values): no body read, message incomplete, reader resyncs', () => {
  for (const cl of ['abc', '5, 6', '-1']) {
    const { requests, problems } = readRequests([data(`POST /a HTTP/1.1\r\nContent-Length: ${cl}\r\n\r\nzzzzz` + GET('/b'))]);
    assert.deepEqual(requests.map((r) => [r.target, r.complete]), [['/a', false], ['/b', true]], cl);
    assert.deepEqual(kinds(problems), ['bad-content-length'], cl);
  }
  const same = readRequests([data('POST /a HTTP/1.1\r\nContent-Length: 2, 2\r\nContent-Length: 02\r\n\r\nok')]);
  assert.deepEqual(same.problems, []);
  assert.equal(same.requests[0]?.body.toString(), 'ok');
});

test('a request Transfer-Encoding that does not end in chunked is bad framing', () => {
  const { requests, problems } = readRequests([data('POST /a HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n' + GET('/b'))]);
  assert.deepEqual(requests.map((r) => r.target), ['/a', '/b']);
  assert.deepEqual(kinds(problems), ['bad-transfer-encoding']);
});

test('absurd sizes do not hang: huge Content-Length and chunk size read to the end of the stream', () => {
  const cl = readRequests([data('POST /a HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\nabc')]);
  assert.deepEqual(cl.requests.map((r) => [r.bodyBytes, r.complete]), [[3, false]]);
  const chunk = readRequests([data('POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\nabc')]);
  assert.deepEqual(chunk.requests.map((r) => [r.bodyBytes, r.complete]), [[3, false]]);
});

test('a header section over the limit drops the message and the reader resyncs', () => {
  const big = `GET /big HTTP/1.1\r\nX-Huge: ${'a'.repeat(70_000)}\r\n\r\n`;
  const { requests, problems } = readRequests([data(GET('/1') + big + GET('/2'))]);
  assert.deepEqual(requests.map((r) => r.target), ['/1', '/2']);
  assert.deepEqual(kinds(problems), ['header-section-too-large']);
  const small = readRequests([data(GET('/1', `X-A: ${'0'.repeat(30)}\r\n`))], { maxHeaderBytes: 70 });
  assert.deepEqual(kinds(small.problems), ['header-section-too-large']);
});

test('loose request lines (method token, then a damaged target or version) count only with a well-formed header section', () => {
  const lines = ['OPTIONS HTTP/1.1', 'OPTIONS', 'GET / HTTP/1.', 'GET /HTTP/1.1', 'CCM_POST / HTTP/1.', 'GET /a b HTTP/1.1'];
  for (const line of lines) {
    const { requests, problems } = readRequests([data(`${line}\nHost: www.example\n\n`)]);
    assert.equal(requests.length, 1, line);
    assert.deepEqual(kinds(problems), ['loose-request-line'], line);
  }
  const spaced = readRequests([data('GET /a b HTTP/1.1\nHost: h\n\n')]).requests[0];
  assert.deepEqual([spaced?.target, spaced?.version], ['/a b', 'HTTP/1.1']);
  for (const line of ['OPTIONSHTTP/1.1', 'GET/ HTTP/1.1', '\xc3\x83\xc3\x82 / HTTP/1.', 'GET/HTTP/1.1', ' GET / HTTP/1.1']) {
    const { requests, problems } = readRequests([data(`${line}\nHost: www.example\n\n`)]);
    assert.equal(requests.length, 0, line);
    assert.deepEqual(kinds(problems), ['bad-request-line'], line);
  }
  const bare = readRequests([data('OPTIONS\r\n\r\n')]);
  assert.deepEqual([bare.requests.length, kinds(bare.problems)], [0, ['bad-request-line']], 'no field line at all');
  // No header section as evidence: a text protocol's line is not taken for a request.
  const smtp = readRequests([data('EHLO mail.example\r\nMAIL FROM:<a@b>\r\n\r\n')]);
  assert.equal(smtp.requests.length, 0);
  assert.deepEqual(kinds(smtp.problems), ['bad-request-line']);
});

test('binary garbage: no throw, no request, problems counted; a request after garbage is still found', () => {
  let seed = 42;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256);
  const junk = Buffer.from(Array.from({ length: 200_000 }, rnd));
  const only = readRequests([data(junk)]);
  assert.equal(only.requests.length, 0);
  assert.ok(only.problems.length >= 1);
  const then = readRequests([data(Buffer.concat([junk, Buffer.from('\r\n' + GET('/found'))]))]);
  assert.deepEqual(then.requests.map((r) => r.target), ['/found']);
  assert.ok(then.problems.every((p) => p.kind === 'bad-request-line'));
});

test('maxMessages stops after that many requests', () => {
  const { requests } = readRequests([data(GET('/1') + GET('/2') + GET('/3'))], { maxMessages: 2 });
  assert.deepEqual(requests.map((r) => r.target), ['/1', '/2']);
});
