/** pairConnection and exchangesFromConnections: in-order pairing, counts, unmatched responses, tunnels, ordering. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exchangesFromConnections } from '../../../src/replay/http/exchanges.js';
import { pairConnection } from '../../../src/replay/http/pair.js';
import { GET, OK, conn, data, kinds } from './pieces.js';

test('pipelining: five requests in one piece, five responses in one piece, paired in order', () => {
  const reqs = [1, 2, 3, 4, 5].map((n) => GET(`/r${n}`)).join('');
  const resps = [1, 2, 3, 4, 5].map((n) => OK(`body${n}`)).join('');
  const r = pairConnection(conn([data(reqs, 100)], [data(resps, 200)]));
  assert.equal(r.requests, 5);
  assert.equal(r.responses, 5);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.exchanges.map((e) => [e.request.target, e.response?.body.toString()]), [1, 2, 3, 4, 5].map((n) => [`/r${n}`, `body${n}`]));
  const first = r.exchanges[0];
  assert.deepEqual([first?.tsUs, first?.clientIp, first?.clientPort, first?.origin], [100, '192.0.2.1', 50000, 'conn 12']);
});

test('HEAD and 100-continue: the interim response is not paired nor counted', () => {
  const toServer = [data('HEAD /h HTTP/1.1\r\n\r\nPOST /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi')];
  const toClient = [data('HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n' + OK('done'))];
  const r = pairConnection(conn(toServer, toClient));
  assert.equal(r.responses, 2);
  assert.deepEqual(r.exchanges.map((e) => [e.request.method, e.response?.status, e.response?.bodyBytes]), [['HEAD', 200, 0], ['POST', 200, 4]]);
});

test('more responses than requests: all counted, the extra ones reported as unmatched', () => {
  const r = pairConnection(conn([data(GET('/only'))], [data(OK('a') + OK('b') + OK('c'))]));
  assert.equal(r.requests, 1);
  assert.equal(r.responses, 3);
  assert.equal(r.exchanges.length, 1);
  assert.deepEqual(kinds(r.problems), ['unmatched-response', 'unmatched-response']);
  assert.match(r.problems[0]?.detail ?? '', /^conn 12 \(192\.0\.2\.1:50000 → 198\.51\.100\.2:80\): response 2 /);
});

test('requests without a response get response null', () => {
  const r = pairConnection(conn([data(GET('/1') + GET('/2'))], [data(OK('one'))]));
  assert.deepEqual(r.exchanges.map((e) => e.response?.status ?? null), [200, null]);
  assert.equal(r.responses, 1);
});

test('problems name the connection and the direction', () => {
  const r = pairConnection(conn([data('BAD\x00LINE\r\n\r\n' + GET('/x'))], [data('junk\r\n' + OK('y'))]));
  assert.deepEqual(kinds(r.problems), ['bad-request-line', 'bad-status-line']);
  assert.match(r.problems[0]?.detail ?? '', /^conn 12 \(192\.0\.2\.1:50000 → 198\.51\.100\.2:80\) client→server request at byte 0: /);
  assert.match(r.problems[1]?.detail ?? '', /server→client response at byte 0: "junk"/);
  const v6 = pairConnection({ ...conn([data('x\r\n')], []), client: { ip: '2001:db8::1', port: 5 } });
  assert.match(v6.problems[0]?.detail ?? '', /^conn 12 \(\[2001:db8::1\]:5 → /);
});

test('CONNECT answered 2xx: the tunnelled bytes are not read as requests or responses', () => {
  const tls = '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03GET / HTTP/1.1\r\n';
  const toServer = [data('CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n'), data(tls), data(GET('/inside-tunnel'))];
  const toClient = [data('HTTP/1.1 200 Connection Established\r\n\r\n'), data('\x16\x03\x03\x00\x5a\x02HTTP/1.1 200 OK\r\n\r\n')];
  const r = pairConnection(conn(toServer, toClient));
  assert.deepEqual(r.problems, []);
  assert.equal(r.requests, 1);
  assert.equal(r.responses, 1);
  assert.deepEqual(r.exchanges.map((e) => [e.request.method, e.request.target, e.response?.status]), [['CONNECT', 'example.test:443', 200]]);
});

test('a 101 upgrade ends HTTP: the request that asked for it is paired with the 101', () => {
  const toServer = [data(GET('/ws', 'Upgrade: websocket\r\nConnection: Upgrade\r\n')), data('\x81\x85abcdGET / HTTP/1.1\r\n\r\n')];
  const toClient = [data('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x02hi')];
  const r = pairConnection(conn(toServer, toClient));
  assert.deepEqual([r.requests, r.responses, r.problems.length], [1, 1, 0]);
  assert.equal(r.exchanges[0]?.response?.status, 101);
});

test('exchangesFromConnections: totals, problems from every connection, exchanges sorted by time and stable', () => {
  const a = conn([data(GET('/a1'), 300), data(GET('/a2'), 500)], [data(OK('1') + OK('2'), 600)], 1);
  const b = conn([data(GET('/b1'), 300), data(GET('/b2'), 400)], [data(OK('x'), 450), data('nonsense\r\n', 460)], 2);
  const r = exchangesFromConnections([a, b]);
  assert.equal(r.requests, 4);
  assert.equal(r.responses, 3);
  assert.deepEqual(r.exchanges.map((e) => `${e.origin} ${e.request.target}`), ['conn 1 /a1', 'conn 2 /b1', 'conn 2 /b2', 'conn 1 /a2']);
  assert.deepEqual(kinds(r.problems), ['bad-status-line']);
  assert.match(r.problems[0]?.detail ?? '', /^conn 2 /);
});

test('exchangesFromConnections passes options down (body cap, completeOnly)', () => {
  const c = conn([data('POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789' + 'POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n01')], []);
  const capped = exchangesFromConnections([c], { maxBodyBytes: 4 });
  assert.deepEqual(capped.exchanges.map((e) => [e.request.body.toString(), e.request.bodyBytes, e.request.complete]), [['0123', 10, true], ['01', 2, false]]);
  const whole = exchangesFromConnections([c], { completeOnly: true });
  assert.equal(whole.requests, 1);
});
