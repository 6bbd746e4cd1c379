import assert from 'node:assert/strict';
import { test } from 'node:test';
import { anyContains, cidrContains, ipPrefix, parseCidr } from '../../src/request/cidr.js';

test('IPv4 ranges match by prefix and never match IPv6', () => {
  const c = parseCidr('10.1.0.0/16')!;
  assert.equal(c.bits, 16);
  assert.ok(cidrContains(c, '10.1.255.7'));
  assert.ok(!cidrContains(c, '10.2.0.1'));
  assert.ok(!cidrContains(c, '::ffff:a01:1') === true);
  assert.ok(!cidrContains(c, '2001:db8::1'));
  // host bits are masked off: 10.1.2.3/16 is 10.1.0.0/16
  assert.ok(cidrContains(parseCidr('10.1.2.3/16')!, '10.1.99.99'));
});

test('IPv6 ranges, bare addresses and the edges', () => {
  const c = parseCidr('2001:db8::/32')!;
  assert.ok(cidrContains(c, '2001:db8:ffff::1'));
  assert.ok(!cidrContains(c, '2001:db9::1'));
  assert.ok(!cidrContains(c, '10.0.0.1'));
  assert.ok(cidrContains(parseCidr('::1')!, '::1'));
  assert.ok(!cidrContains(parseCidr('::1')!, '::2'));
  assert.ok(cidrContains(parseCidr('0.0.0.0/0')!, '203.0.113.9'));
  assert.ok(cidrContains(parseCidr('::/0')!, 'fe80::1'));
  assert.ok(anyContains([parseCidr('192.168.0.0/24')!, parseCidr('fd00::/8')!], 'fd12::7'));
  assert.ok(!anyContains([], '1.2.3.4'));
  assert.ok(!cidrContains(c, 'unknown'));
});

test('invalid ranges are refused', () => {
  for (const bad of ['10.0.0.0/33', '2001:db8::/129', '10.0.0/8', 'example.com', '10.0.0.0/x', '10.0.0.0/-1', '', '1.2.3.4/']) {
    assert.equal(parseCidr(bad), null, bad);
  }
});

test('IP prefixes: /24 for IPv4, /48 for IPv6, canonical text', () => {
  assert.equal(ipPrefix('203.0.113.77'), '203.0.113.0/24');
  assert.equal(ipPrefix('2001:db8:1234:5678::9'), '2001:db8:1234::/48');
  assert.equal(ipPrefix('203.0.113.77', 16), '203.0.0.0/16');
  assert.equal(ipPrefix('unknown'), 'unknown');
});
