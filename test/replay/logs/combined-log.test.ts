/**
 * readCombinedLog on the project's fixture logs (test/replay/fixtures/logs/): the field mapping,
 * escapes, offsets, IPv6, sorting, every malformed variant, invalid UTF-8 and refusal of non-logs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../../src/paths.js';
import { ReplayInputError } from '../../../src/errors.js';
import { readCombinedLog } from '../../../src/replay/logs/combined-log.js';
import type { ReplayExchange, ReplayInput } from '../../../src/replay/types.js';

const fixture = (name: string): Buffer => readFileSync(join(projectRoot, 'test', 'replay', 'fixtures', 'logs', name));
const us = (iso: string): number => Date.parse(iso) * 1000;
const byOrigin = (r: ReplayInput, line: number): ReplayExchange => {
  const e = r.exchanges.find((x) => x.origin === `line ${line}`);
  assert.ok(e, `no exchange from line ${line}`);
  return e;
};
const kinds = (r: ReplayInput): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const p of r.problems) out[p.kind] = (out[p.kind] ?? 0) + 1;
  return out;
};

test('valid combined and common lines map to exchanges', () => {
  const r = readCombinedLog(fixture('combined-valid.txt'), 'combined-valid.txt');
  assert.equal(r.kind, 'combined-log');
  assert.equal(r.file, 'combined-valid.txt');
  assert.deepEqual(r.problems, []);
  assert.equal(r.exchanges.length, 7);
  assert.equal(r.requests, 7);
  assert.equal(r.responses, 7);
  assert.equal(r.udpHttpRequests, 0);

  const e = byOrigin(r, 1);
  assert.equal(e.clientIp, '192.0.2.10');
  assert.equal(e.clientPort, null);
  assert.equal(e.tsUs, us('2015-05-17T10:05:03Z'));
  assert.deepEqual(
    { ...e.request, body: e.request.body.length },
    {
      tsUs: us('2015-05-17T10:05:03Z'),
      method: 'GET',
      target: '/index.html',
      version: 'HTTP/1.1',
      headers: [
        ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64)'],
        ['referer', 'http://example.com/start'],
      ],
      body: 0,
      bodyBytes: 0,
      complete: true,
    },
  );
  assert.ok(e.response);
  assert.deepEqual(
    { ...e.response, body: e.response.body.length },
    {
      tsUs: us('2015-05-17T10:05:03Z'),
      status: 200,
      version: 'HTTP/1.1',
      headers: [['content-length', '5120']],
      body: 0,
      bodyBytes: 5120,
      complete: true,
    },
  );
});

test('%b "-" is zero bytes, "-" headers are absent, "" is an empty header', () => {
  const r = readCombinedLog(fixture('combined-valid.txt'), 'f');
  const login = byOrigin(r, 2);
  assert.equal(login.request.method, 'POST');
  assert.equal(login.request.target, '/login?next=%2F');
  assert.deepEqual(login.request.headers, [['user-agent', 'curl/8.5.0']]);
  assert.deepEqual(login.response?.headers, [['content-length', '0']]);
  assert.equal(login.response?.bodyBytes, 0);
  assert.equal(login.response?.status, 302);

  const old = byOrigin(r, 7);
  assert.deepEqual(old.request.headers, [['referer', '']]);
});

test('common format line (no referer or user agent)', () => {
  const r = readCombinedLog(fixture('combined-valid.txt'), 'f');
  const head = byOrigin(r, 6);
  assert.equal(head.request.method, 'HEAD');
  assert.deepEqual(head.request.headers, []);
});

test('Apache \\" \\\\ and nginx \\xHH escapes are undone', () => {
  const r = readCombinedLog(fixture('combined-valid.txt'), 'f');
  assert.deepEqual(byOrigin(r, 3).request.headers, [['user-agent', 'Agent "quoted" and back\\slash']]);
  assert.deepEqual(byOrigin(r, 4).request.headers, [['user-agent', 'nginx-escaped "quote" \\slash']]);
});

test('UTC offsets are applied; IPv6 clients are canonical', () => {
  const r = readCombinedLog(fixture('combined-valid.txt'), 'f');
  assert.equal(byOrigin(r, 2).tsUs, us('2015-05-17T10:05:03Z')); // +0200
  assert.equal(byOrigin(r, 3).tsUs, us('2015-05-17T10:05:04Z')); // -0700
  assert.equal(byOrigin(r, 4).tsUs, us('2015-05-17T10:05:05Z')); // +0530
  assert.equal(byOrigin(r, 7).tsUs, us('2015-05-17T10:05:10Z')); // +1400, previous UTC day
  assert.equal(byOrigin(r, 3).clientIp, '2001:db8::2a');
  assert.equal(byOrigin(r, 7).clientIp, '2001:db8::1');
  assert.equal(byOrigin(r, 3).request.version, 'HTTP/1.0');
  assert.equal(byOrigin(r, 3).response?.version, 'HTTP/1.1');
});

test('exchanges are sorted by time, equal times in line order', () => {
  const r = readCombinedLog(fixture('combined-valid.txt'), 'f');
  assert.deepEqual(
    r.exchanges.map((e) => e.origin),
    ['line 6', 'line 1', 'line 2', 'line 5', 'line 3', 'line 4', 'line 7'],
  );
});

test('each malformed variant is one problem with its line; reading goes on', () => {
  const r = readCombinedLog(fixture('combined-malformed.txt'), 'bad.txt');
  assert.deepEqual(kinds(r), {
    'bad-log-line': 1,
    'not-an-ip': 1,
    'bad-timestamp': 2,
    'bad-status': 1,
    'bad-size': 1,
    'no-request': 1,
    'bad-request-line': 3,
    'partial-line': 1,
    'bad-header-value': 1,
  });
  const lineOf = (kind: string): number[] =>
    r.problems.filter((p) => p.kind === kind).map((p) => Number(/^line (\d+):/.exec(p.detail)?.[1]));
  assert.deepEqual(lineOf('bad-log-line'), [2]);
  assert.deepEqual(lineOf('not-an-ip'), [3]);
  assert.deepEqual(lineOf('bad-timestamp'), [4, 5]);
  assert.deepEqual(lineOf('bad-status'), [6]);
  assert.deepEqual(lineOf('bad-size'), [7]);
  assert.deepEqual(lineOf('no-request'), [8]);
  assert.deepEqual(lineOf('bad-request-line'), [9, 10, 11]);
  assert.deepEqual(lineOf('partial-line'), [13]);
  assert.deepEqual(lineOf('bad-header-value'), [14]);
  assert.deepEqual(
    r.exchanges.map((e) => e.origin),
    ['line 1', 'line 12', 'line 13', 'line 14', 'line 16', 'line 17'],
  );
  assert.equal(r.requests, 6);
  assert.equal(r.responses, 6);
});

test('TLS handshake bytes in %r are a bad request line, shown escaped in the detail', () => {
  const r = readCombinedLog(fixture('combined-malformed.txt'), 'f');
  const p = r.problems.find((x) => x.detail.startsWith('line 9:'));
  assert.equal(p?.kind, 'bad-request-line');
  assert.match(p?.detail ?? '', /\\x16\\x03\\x01/);
});

test('HTTP/0.9 request line is replayed as HTTP/1.0', () => {
  const r = readCombinedLog(fixture('combined-malformed.txt'), 'f');
  const e = byOrigin(r, 12);
  assert.equal(e.request.method, 'GET');
  assert.equal(e.request.target, '/');
  assert.equal(e.request.version, 'HTTP/1.0');
});

test('a line cut inside the user agent keeps the request but drops the cut fields', () => {
  const r = readCombinedLog(fixture('combined-malformed.txt'), 'f');
  const e = byOrigin(r, 13);
  assert.equal(e.request.target, '/cut');
  assert.deepEqual(e.request.headers, []);
  assert.equal(e.response?.bodyBytes, 99);
});

test('an escaped CR LF in the user agent never becomes a header line', () => {
  const r = readCombinedLog(fixture('combined-malformed.txt'), 'f');
  assert.deepEqual(byOrigin(r, 14).request.headers, [['referer', 'http://example.com/']]);
});

test('an unescaped quote inside %r (pre-2.0.46 Apache) still finds the status', () => {
  const r = readCombinedLog(fixture('combined-malformed.txt'), 'f');
  const e = byOrigin(r, 16);
  assert.equal(e.request.target, '/q?a="b"');
  assert.equal(e.response?.status, 200);
  assert.deepEqual(e.request.headers, [['user-agent', 'unescaped-server']]);
});

test('invalid UTF-8 is kept byte for byte as latin1 byte strings', () => {
  const data = fixture('combined-invalid-utf8.txt');
  const r = readCombinedLog(data, 'f');
  assert.deepEqual(r.problems, []);
  assert.equal(r.exchanges.length, 2);
  const first = byOrigin(r, 1);
  assert.deepEqual(Buffer.from(first.request.target, 'latin1'), Buffer.from([0x2f, 0x63, 0x61, 0x66, 0xe9, 0x2f, 0xff]));
  assert.deepEqual(Buffer.from(first.request.headers[0]?.[1] ?? '', 'latin1'), Buffer.from('Bot\xc3(/1.0', 'latin1'));
  const second = byOrigin(r, 2);
  assert.deepEqual(Buffer.from(second.request.target, 'latin1'), Buffer.from('/café', 'utf8'));
  assert.deepEqual(second.request.headers[1], ['referer', Buffer.from([...Buffer.from('http://example.com/'), 0xe2, 0x82]).toString('latin1')]);
});

test('a string input gives the same exchanges as its UTF-8 bytes', () => {
  const data = fixture('combined-valid.txt');
  assert.deepEqual(readCombinedLog(data.toString('utf8'), 'f'), readCombinedLog(data, 'f'));
  // Already-decoded invalid UTF-8 (U+FFFD) still keeps its line.
  const r = readCombinedLog(fixture('combined-invalid-utf8.txt').toString('utf8'), 'f');
  assert.equal(r.exchanges.length, 2);
});

test('CRLF line ends and blank lines are accepted', () => {
  const text = fixture('combined-valid.txt').toString('latin1').replace(/\n/g, '\r\n\r\n');
  const r = readCombinedLog(text, 'f');
  assert.equal(r.exchanges.length, 7);
  assert.deepEqual(r.problems, []);
  assert.equal(r.exchanges[0]?.origin, 'line 11'); // line 6 of the original, now line 11
});

test('a UTF-8 byte order mark before the first line is skipped', () => {
  const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), fixture('combined-valid.txt')]);
  assert.deepEqual(readCombinedLog(withBom, 'f'), readCombinedLog(fixture('combined-valid.txt'), 'f'));
});

test('random bytes are refused with a ReplayInputError naming the file', () => {
  assert.throws(
    () => readCombinedLog(fixture('random-bytes.bin'), 'random-bytes.bin'),
    (err: unknown) =>
      err instanceof ReplayInputError && err.file === 'random-bytes.bin' && /not a Common\/Combined Log Format/.test(err.message),
  );
});

test('an Envoy JSON log is not a combined log', () => {
  assert.throws(() => readCombinedLog(fixture('envoy-access.jsonl'), 'e.jsonl'), ReplayInputError);
});

test('refusal probes the first N non-empty lines only', () => {
  const good = '192.0.2.1 - - [17/May/2015:10:05:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n';
  const junk = (n: number): string => 'junk\n\n'.repeat(n);
  const r = readCombinedLog(junk(9) + good, 'f');
  assert.equal(r.exchanges.length, 1);
  assert.equal(r.problems.length, 9);
  assert.throws(() => readCombinedLog(junk(10) + good, 'f'), ReplayInputError);
  assert.equal(readCombinedLog(junk(10) + good, 'f', { probeLines: 11 }).exchanges.length, 1);
  // A short file with no log line at all is refused too; an empty one is an empty log.
  assert.throws(() => readCombinedLog('hello\n', 'f'), ReplayInputError);
  assert.deepEqual(readCombinedLog('', 'f').exchanges, []);
  assert.deepEqual(readCombinedLog(Buffer.alloc(0), 'f').problems, []);
  // Once a line matched, later junk is only problems.
  assert.equal(readCombinedLog(good + junk(50), 'f').problems.length, 50);
});

test('a log of only unreplayable lines is still a log (problems, not a refusal)', () => {
  const probe = '192.0.2.3 - - [17/May/2015:10:05:03 +0000] "\\x16\\x03\\x01" 400 226 "-" "-"\n';
  const r = readCombinedLog(probe.repeat(20), 'f');
  assert.equal(r.exchanges.length, 0);
  assert.equal(r.problems.length, 20);
});

test('hostile input does not hang: a 2 MB line of quotes and backslashes', () => {
  const line = `192.0.2.1 - - [17/May/2015:10:05:00 +0000] "${'\\"'.repeat(1 << 20)}`;
  const started = Date.now();
  assert.throws(() => readCombinedLog(line, 'f'), ReplayInputError);
  assert.ok(Date.now() - started < 2000);
});
