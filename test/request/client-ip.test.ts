import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderList } from '../../src/request/headers.js';
import { parseAddress, resolveClientIp } from '../../src/request/client-ip.js';

const none = new HeaderList([]);
const envoy = { clientIpSource: 'envoy', trustedHops: 0 } as const;
const xff = (trustedHops: number) => ({ clientIpSource: 'xff', trustedHops }) as const;
const withXff = (...values: string[]) => new HeaderList(values.map((v) => ['x-forwarded-for', v]));

test('envoy source.address forms', () => {
  assert.equal(resolveClientIp(none, '1.2.3.4:5678', envoy), '1.2.3.4');
  assert.equal(resolveClientIp(none, '1.2.3.4', envoy), '1.2.3.4');
  assert.equal(resolveClientIp(none, '[::1]:5678', envoy), '::1');
  assert.equal(resolveClientIp(none, '[::1]', envoy), '::1');
  assert.equal(resolveClientIp(none, '::1', envoy), '::1');
  assert.equal(resolveClientIp(none, ' 10.0.0.7:1 ', envoy), '10.0.0.7');
});

test('envoy source ignores x-forwarded-for entirely', () => {
  assert.equal(resolveClientIp(withXff('6.6.6.6'), '10.0.0.1:1', envoy), '10.0.0.1');
});

test('IPv6 is lower-cased and compressed per RFC 5952', () => {
  assert.equal(parseAddress('[2001:DB8:0:0:0:0:0:1]:443'), '2001:db8::1');
  assert.equal(parseAddress('2001:0db8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1');
  assert.equal(parseAddress('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
  assert.equal(parseAddress('0:0:0:0:0:0:0:0'), '::');
  assert.equal(parseAddress('fe80::1%eth0'), 'fe80::1');
  assert.equal(parseAddress('[fe80::ABCD%25en0]:80'), 'fe80::abcd');
  assert.equal(parseAddress('1:0:0:2:0:0:0:3'), '1:0:0:2::3');
  assert.equal(parseAddress('1:2:3:4:5:6:1.2.3.4'), '1:2:3:4:5:6:102:304');
  assert.equal(parseAddress('::1.2.3.4'), '::102:304');
});

test('IPv4-mapped IPv6 becomes IPv4', () => {
  assert.equal(parseAddress('::ffff:1.2.3.4'), '1.2.3.4');
  assert.equal(parseAddress('[::FFFF:192.168.0.1]:8080'), '192.168.0.1');
  assert.equal(parseAddress('::ffff:c0a8:1'), '192.168.0.1');
  assert.equal(parseAddress('0:0:0:0:0:ffff:0102:0304'), '1.2.3.4');
});

test('garbage addresses are rejected', () => {
  for (const bad of ['', 'unknown', '1.2.3', '256.1.1.1', '01.2.3.4', '1.2.3.4:port', '[::1', '[::1]x', 'a:b:c',
    '1.2.3.4:99999999', 'x'.repeat(1000), '\u0000\u00ff', '::g', '[1.2.3.4]']) {
    assert.equal(parseAddress(bad), null, JSON.stringify(bad.slice(0, 20)));
  }
  assert.equal(parseAddress(undefined), null);
});

test('unusable source.address gives unknown', () => {
  assert.equal(resolveClientIp(none, undefined, envoy), 'unknown');
  assert.equal(resolveClientIp(none, 'pipe:/tmp/sock', envoy), 'unknown');
});

test('xff with 0 trusted hops takes the right-most entry', () => {
  assert.equal(resolveClientIp(withXff('1.1.1.1, 2.2.2.2, 3.3.3.3'), '10.0.0.1:1', xff(0)), '3.3.3.3');
});

test('xff with trusted hops skips the proxies and ignores spoofed left entries', () => {
  // client forged "6.6.6.6, 7.7.7.7"; real client 9.9.9.9; two trusted proxies appended after it
  const h = withXff('6.6.6.6, 7.7.7.7, 9.9.9.9, 10.0.0.2, 10.0.0.3');
  assert.equal(resolveClientIp(h, '10.0.0.4:1', xff(2)), '9.9.9.9');
  assert.equal(resolveClientIp(h, '10.0.0.4:1', xff(1)), '10.0.0.2');
  assert.equal(resolveClientIp(h, '10.0.0.4:1', xff(0)), '10.0.0.3');
});

test('xff across several header lines is joined in order', () => {
  const h = withXff('6.6.6.6', '9.9.9.9, 10.0.0.2');
  assert.equal(resolveClientIp(h, undefined, xff(1)), '9.9.9.9');
});

test('xff shorter than the trusted hops uses the left-most entry', () => {
  assert.equal(resolveClientIp(withXff('5.5.5.5, 10.0.0.2'), undefined, xff(5)), '5.5.5.5');
});

test('xff entries with ports and IPv6 forms are normalised; empty entries ignored', () => {
  assert.equal(resolveClientIp(withXff('1.1.1.1, , [2001:DB8::0:1]:443,'), undefined, xff(0)), '2001:db8::1');
  assert.equal(resolveClientIp(withXff('::ffff:8.8.8.8'), undefined, xff(0)), '8.8.8.8');
});

test('invalid chosen xff entry falls back to source.address, then unknown', () => {
  assert.equal(resolveClientIp(withXff('1.1.1.1, garbage'), '10.0.0.9:5', xff(0)), '10.0.0.9');
  assert.equal(resolveClientIp(withXff('unknown'), undefined, xff(0)), 'unknown');
  assert.equal(resolveClientIp(none, '[::1]:1', xff(0)), '::1');
  assert.equal(resolveClientIp(withXff(' , ,'), undefined, xff(0)), 'unknown');
});

test('hostile xff values never throw', () => {
  const huge = withXff(`${'1.2.3.4,'.repeat(8000)}9.9.9.9`);
  assert.equal(resolveClientIp(huge, undefined, xff(0)), '9.9.9.9');
  const binary = withXff(Buffer.from([0xff, 0x00, 0x2c, 0xc3, 0x28]).toString('latin1'));
  assert.equal(resolveClientIp(binary, undefined, xff(0)), 'unknown');
  assert.equal(resolveClientIp(withXff('1.1.1.1'), undefined, xff(Number.NaN)), '1.1.1.1');
  assert.equal(resolveClientIp(withXff('1.1.1.1, 2.2.2.2'), undefined, xff(-3)), '2.2.2.2');
});

test('trusted proxies: x-forwarded-for is believed only from a trusted peer, walked right to left', async () => {
  const { parseCidr } = await import('../../src/request/cidr.js');
  const cfg = { clientIpSource: 'xff', trustedHops: 5, trustedProxies: [parseCidr('10.0.0.0/8')!, parseCidr('fd00::/8')!] } as const;
  // the peer is a trusted proxy: skip trusted hops from the right
  assert.equal(resolveClientIp(withXff('6.6.6.6, 203.0.113.5, 10.1.1.1'), '10.0.0.2:1', cfg), '203.0.113.5');
  assert.equal(resolveClientIp(withXff('203.0.113.5', 'fd00::7'), '[fd00::1]:443', cfg), '203.0.113.5');
  // the peer is not trusted: its own address, whatever the header says (spoofing)
  assert.equal(resolveClientIp(withXff('1.1.1.1'), '198.51.100.9:1', cfg), '198.51.100.9');
  // every hop trusted: the left-most
  assert.equal(resolveClientIp(withXff('10.9.9.9, 10.1.1.1'), '10.0.0.2:1', cfg), '10.9.9.9');
  // garbage on the walk stops it at the peer
  assert.equal(resolveClientIp(withXff('1.1.1.1, garbage'), '10.0.0.2:1', cfg), '10.0.0.2');
  // no header: the peer
  assert.equal(resolveClientIp(none, '10.0.0.2:1', cfg), '10.0.0.2');
});
