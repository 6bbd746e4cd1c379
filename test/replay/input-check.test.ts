/** checkReadable: an input too little of which could be read is refused, saying how much and why. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ReplayInputError } from '../../src/errors.js';
import { projectRoot } from '../../src/paths.js';
import { checkReadable, DEFAULT_MIN_READ_PERCENT } from '../../src/replay/input-check.js';
import { readCombinedLog } from '../../src/replay/logs/combined-log.js';
import { readEnvoyJsonLog } from '../../src/replay/logs/envoy-json-log.js';
import { readInputBuffer } from '../../src/replay/read-input.js';

const GOOD = '192.0.2.10 - - [17/May/2015:10:05:03 +0000] "GET /index.html HTTP/1.1" 200 5120 "-" "curl/8"\n';
// The layout, with a host name where the client IP belongs: a line the reader rejects (not-an-ip).
const REJECTED = 'www.example - - [17/May/2015:10:05:03 +0000] "GET /index.html HTTP/1.1" 200 5120 "-" "curl/8"\n';
const log = (good: number, rejected: number) => readCombinedLog(GOOD.repeat(good) + REJECTED.repeat(rejected), 'access.log');

const refused = (fn: () => void, message: RegExp) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ReplayInputError, String(err));
    assert.match(err.message, message);
    return true;
  });

test('a log of which no line could be read: refused, with the problems by kind and the first', () => {
  const input = log(0, 40);
  assert.equal(input.lines, 40);
  refused(() => checkReadable(input), /^access\.log: nothing could be read: none of its 40 lines is a request vigil can replay; problems: not-an-ip 40; the first: line 1: client "www\.example" is not an IP address$/);
  refused(() => checkReadable(input, 0), /nothing could be read/);
});

test(`a log of which less than ${DEFAULT_MIN_READ_PERCENT} % of the lines could be read is refused; at the share it is read`, () => {
  refused(() => checkReadable(log(2, 98)), /^access\.log: only 2 % of its lines could be read \(2 of 100\), less than the 50 % replay needs \(--min-read\); problems: not-an-ip 98/);
  refused(() => checkReadable(log(49, 51)), /only 49 % of its lines could be read \(49 of 100\)/);
  checkReadable(log(50, 50));
  checkReadable(log(2, 98), 2);
  refused(() => checkReadable(log(1, 999)), /only 0\.10 % of its lines could be read \(1 of 1,000\)/);
});

test('a log line kept with a problem (a cut user agent) counts as read', () => {
  const partial = '192.0.2.10 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 1 "-" "cut\n';
  const input = readCombinedLog(partial.repeat(10), 'a.log');
  assert.equal(input.problems.length, 10);
  checkReadable(input);
});

test('Envoy JSON logs are held to the same share', () => {
  const good = '{"start_time":"2026-01-05T09:00:00.000Z","method":"GET","path":"/a","response_code":200,"downstream_remote_address":"192.0.2.1:1"}\n';
  const bad = '{"start_time":"yesterday","method":"GET","path":"/a","response_code":200,"downstream_remote_address":"192.0.2.1:1"}\n';
  const input = readEnvoyJsonLog(good + bad.repeat(9), 'envoy.log');
  assert.equal(input.lines, 10);
  refused(() => checkReadable(input), /only 10 % of its lines could be read \(1 of 10\).*bad-timestamp 9/);
});

test('a capture with no request: refused, saying why (cut short, nothing but UDP, or no HTTP/1.x)', () => {
  const whole = readFileSync(join(projectRoot, 'test', 'replay', 'fixtures', 'captures', 'pcap-us-le-ethernet.pcap'));
  refused(() => checkReadable(readInputBuffer(whole.subarray(0, 30), 'cut.pcap')), /^cut\.pcap: nothing could be read: no HTTP request in this pcap capture; problems: truncated-record 1; the first: record 0 at byte 24/);
  refused(() => checkReadable(readInputBuffer(whole.subarray(0, 24), 'header-only.pcap')), /no HTTP request in this pcap capture \(HTTPS and HTTP\/2 cannot be read from a capture; replay reads HTTP\/1\.x\)$/);
  const truncated = readInputBuffer(readFileSync(join(projectRoot, 'test', 'replay', 'fixtures', 'captures', 'truncated.pcap')), 'truncated.pcap');
  assert.ok(truncated.problems.length > 0 && truncated.exchanges.length > 0);
  checkReadable(truncated);
});
