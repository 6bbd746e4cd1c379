import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_RESPONSE_STATUS, socketAddress, splitTarget, toSimExchange } from '../../src/replay/to-sim-exchange.js';
import type { ReplayExchange } from '../../src/replay/types.js';

test('request targets: origin-form, absolute-form, asterisk', () => {
  assert.deepEqual(splitTarget('/a/b?c=1'), { path: '/a/b?c=1', authority: null });
  assert.deepEqual(splitTarget('http://user@shop.test:8080/x?y'), { path: '/x?y', authority: 'shop.test:8080' });
  assert.deepEqual(splitTarget('HTTP://shop.test'), { path: '/', authority: 'shop.test' });
  assert.deepEqual(splitTarget('*'), { path: '*', authority: null });
});

test('socket addresses bracket IPv6 and give port-less clients port 0', () => {
  assert.equal(socketAddress('192.0.2.1', 5000), '192.0.2.1:5000');
  assert.equal(socketAddress('2001:db8::1', 443), '[2001:db8::1]:443');
  assert.equal(socketAddress('198.51.100.7', null), '198.51.100.7:0');
});

test('an exchange becomes what Envoy hands ext_proc: no hop-by-hop headers, the captured response upstream', () => {
  const x: ReplayExchange = {
    tsUs: 1,
    clientIp: '192.0.2.9',
    clientPort: 40000,
    origin: 'conn 0',
    request: {
      tsUs: 1,
      method: 'POST',
      target: '/api/login',
      version: 'HTTP/1.1',
      headers: [
        ['Host', 'shop.test'],
        ['Connection', 'keep-alive'],
        ['Transfer-Encoding', 'chunked'],
        ['Content-Type', 'application/json'],
      ],
      body: Buffer.from('{"username":"a"}'),
      bodyBytes: 16,
      complete: true,
    },
    response: {
      tsUs: 2,
      status: 401,
      version: 'HTTP/1.1',
      headers: [
        ['Content-Length', '2'],
        ['Keep-Alive', 'timeout=5'],
      ],
      body: Buffer.from('no'),
      bodyBytes: 2,
      complete: true,
    },
  };
  const sim = toSimExchange(x);
  assert.deepEqual(sim.headers, [
    ['Host', 'shop.test'],
    ['Content-Type', 'application/json'],
  ]);
  assert.equal(sim.sourceAddress, '192.0.2.9:40000');
  assert.equal(sim.body?.toString(), '{"username":"a"}');
  assert.deepEqual(sim.upstream, { status: 401, headers: [['Content-Length', '2']], body: Buffer.from('no') });
  assert.deepEqual(toSimExchange({ ...x, response: null }).upstream, { status: NO_RESPONSE_STATUS });
});
