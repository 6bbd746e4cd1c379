/**
 * readEnvoyJsonLog on test/replay/fixtures/logs/envoy-access.jsonl: Istio and Envoy Gateway key sets,
 * string and typed values, response_code 0, x-forwarded-for carried not chosen, bytes, problems, refusal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../../src/paths.js';
import { ReplayInputError } from '../../../src/errors.js';
import { readEnvoyJsonLog } from '../../../src/replay/logs/envoy-json-log.js';
import type { ReplayExchange, ReplayInput } from '../../../src/replay/types.js';

const fixture = (name: string): Buffer => readFileSync(join(projectRoot, 'test', 'replay', 'fixtures', 'logs', name));
const us = (iso: string): number => Date.parse(iso) * 1000;
const read = (): ReplayInput => readEnvoyJsonLog(fixture('envoy-access.jsonl'), 'envoy-access.jsonl');
const byOrigin = (r: ReplayInput, line: number): ReplayExchange => {
  const e = r.exchanges.find((x) => x.origin === `line ${line}`);
  assert.ok(e, `no exchange from line ${line}`);
  return e;
};

test('Istio-style line with string values', () => {
  const r = read();
  assert.equal(r.kind, 'envoy-json-log');
  const e = byOrigin(r, 1);
  assert.equal(e.tsUs, us('2024-05-01T10:00:01.250Z'));
  assert.equal(e.clientIp, '198.51.100.20');
  assert.equal(e.clientPort, 40512);
  assert.equal(e.request.method, 'POST');
  assert.equal(e.request.target, '/api/login');
  assert.equal(e.request.version, 'HTTP/1.1');
  assert.equal(e.request.bodyBytes, 57);
  assert.equal(e.request.body.length, 0);
  assert.deepEqual(e.request.headers, [
    ['host', 'api.example.com'],
    ['user-agent', 'python-requests/2.31.0'],
    ['x-forwarded-for', '203.0.113.9, 198.51.100.20'],
    ['x-request-id', '7f1c0b1e-1111-4a4a-9b9b-000000000001'],
  ]);
  assert.ok(e.response);
  assert.equal(e.response.status, 401);
  assert.equal(e.response.tsUs, us('2024-05-01T10:00:01.290Z')); // + upstream_service_time 40 ms
  assert.deepEqual(e.response.headers, [['content-length', '1234']]);
  assert.equal(e.response.bodyBytes, 1234);
});

test('x-forwarded-for is carried as a header; the client IP stays the downstream peer', () => {
  const e = byOrigin(read(), 1);
  assert.equal(e.clientIp, '198.51.100.20');
  assert.ok(e.request.headers.some(([n, v]) => n === 'x-forwarded-for' && v.startsWith('203.0.113.9')));
});

test('Envoy Gateway keys, typed values, null as unset, bracketed IPv6', () => {
  const e = byOrigin(read(), 2);
  assert.equal(e.clientIp, '2001:db8::7');
  assert.equal(e.clientPort, 51234);
  assert.equal(e.request.target, '/api/items?page=2');
  assert.equal(e.request.version, 'HTTP/2');
  assert.deepEqual(e.request.headers, [
    ['host', 'api.example.com'],
    ['user-agent', 'Mozilla/5.0'],
    ['x-request-id', '7f1c0b1e-1111-4a4a-9b9b-000000000002'],
  ]);
  assert.equal(e.response?.status, 200);
  assert.equal(e.response?.version, 'HTTP/2');
  assert.equal(e.response?.tsUs, us('2024-05-01T10:00:00.134Z')); // no service time: + duration 9 ms
});

test('response_code 0 (downstream disconnect) has no response', () => {
  const r = read();
  const e = byOrigin(r, 3);
  assert.equal(e.response, null);
  assert.equal(e.request.target, '/api/export');
  assert.deepEqual(e.request.headers.map(([n]) => n), ['host', 'user-agent', 'x-request-id']); // "-" xff absent
});

test('offset start_time, extra keys ignored, missing keys absent', () => {
  const e = byOrigin(read(), 9);
  assert.equal(e.tsUs, us('2024-05-01T10:00:07.500Z'));
  assert.equal(e.request.method, 'DELETE');
  assert.deepEqual(e.request.headers, []);
  assert.equal(e.request.version, 'HTTP/1.1');
  assert.equal(e.response?.status, 204);
});

test('\\u00XX escapes are bytes (Envoy writes invalid UTF-8 so); raw UTF-8 and wide escapes become UTF-8 bytes', () => {
  const e = byOrigin(read(), 8);
  assert.deepEqual(Buffer.from(e.request.target, 'latin1'), Buffer.from([0x2f, 0x63, 0x61, 0x66, 0xe9]));
  const ua = e.request.headers.find(([n]) => n === 'user-agent')?.[1] ?? '';
  assert.deepEqual(
    Buffer.from(ua, 'latin1'),
    Buffer.concat([Buffer.from('bot'), Buffer.from([0xff, 0xfe]), Buffer.from(' café 中', 'utf8')]),
  );
});

test('problems: one per bad line, with its line number; the rest is read', () => {
  const r = read();
  assert.deepEqual(
    r.problems.map((p) => [p.kind, Number(/^line (\d+):/.exec(p.detail)?.[1])]),
    [
      ['no-request', 4],
      ['bad-json', 5],
      ['bad-timestamp', 6],
      ['not-an-ip', 7],
      ['bad-status', 10],
      ['bad-json', 11],
    ],
  );
  assert.equal(r.requests, 5);
  assert.equal(r.responses, 4);
  assert.deepEqual(
    r.exchanges.map((e) => e.origin),
    ['line 2', 'line 1', 'line 3', 'line 8', 'line 9'],
  );
});

test('bad method, path or protocol is a bad-request-line; control bytes in a header drop the header', () => {
  const base = { start_time: '2024-05-01T10:00:00Z', response_code: 200, downstream_remote_address: '192.0.2.1:1' };
  const lines = [
    { ...base, method: 'G E T', path: '/' },
    { ...base, method: 'GET', path: '/a b' },
    { ...base, method: 'GET', path: '/', protocol: 'SPDY/3' },
    { ...base, method: 'GET', path: '/', user_agent: 'evil\r\nx-api-key: stolen' },
  ];
  const r = readEnvoyJsonLog(lines.map((l) => JSON.stringify(l)).join('\n'), 'f');
  assert.deepEqual(
    r.problems.map((p) => p.kind),
    ['bad-request-line', 'bad-request-line', 'bad-request-line', 'bad-header-value'],
  );
  assert.equal(r.exchanges.length, 1);
  assert.deepEqual(r.exchanges[0]?.request.headers, []);
});

test('random bytes, a combined log and other JSON lines are refused', () => {
  assert.throws(
    () => readEnvoyJsonLog(fixture('random-bytes.bin'), 'random-bytes.bin'),
    (err: unknown) => err instanceof ReplayInputError && /not an Envoy JSON access log/.test(err.message),
  );
  assert.throws(() => readEnvoyJsonLog(fixture('combined-valid.txt'), 'c.txt'), ReplayInputError);
  const pino = '{"level":30,"time":1714557600000,"msg":"listening"}\n'.repeat(3);
  assert.throws(() => readEnvoyJsonLog(pino, 'vigil.log'), ReplayInputError);
  assert.deepEqual(readEnvoyJsonLog('', 'empty').exchanges, []);
});
