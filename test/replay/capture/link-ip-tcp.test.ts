/** Link layers, IPv4/IPv6 headers (extension chain, fragments, RFC 5952 text), TCP and UDP headers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipv6Text, parseIp } from '../../../src/replay/capture/ip.js';
import { isSupportedLinkType, unwrapLink, type LinkResult } from '../../../src/replay/capture/link.js';
import { parseTcp, parseUdp } from '../../../src/replay/capture/tcp.js';
import { ETH_ARP, ETH_IPV4, ETH_IPV6, bsdLoop, bsdNull, ethernet, ipv4, ipv6, ipv6Bytes, sll, sll2, tcp, udp } from '../fixtures/pcap-writer.js';

const IP = Buffer.from('45000014', 'hex');
const ipOf = (r: LinkResult): string => (r.kind === 'ip' ? r.data.toString('hex') : r.kind);

test('link layers: every supported type yields the IP packet', () => {
  assert.equal(ipOf(unwrapLink(1, ethernet(IP, ETH_IPV4), 'f')), '45000014');
  assert.equal(ipOf(unwrapLink(1, ethernet(IP, ETH_IPV6), 'f')), '45000014');
  assert.equal(ipOf(unwrapLink(1, ethernet(IP, ETH_IPV4, [{ tpid: 0x8100, vid: 5 }]), 'f')), '45000014');
  const stacked = [{ tpid: 0x9100, vid: 1 }, { tpid: 0x88a8, vid: 2 }, { tpid: 0x8100, vid: 3 }];
  assert.equal(ipOf(unwrapLink(1, ethernet(IP, ETH_IPV4, stacked), 'f')), '45000014');
  assert.equal(ipOf(unwrapLink(0, bsdNull(IP, 2), 'f')), '45000014');
  assert.equal(ipOf(unwrapLink(0, bsdNull(IP, 28, true), 'f')), '45000014', 'NULL written big-endian (FreeBSD AF_INET6 28)');
  assert.equal(ipOf(unwrapLink(0, bsdNull(IP, 24), 'f')), '45000014');
  assert.equal(ipOf(unwrapLink(108, bsdLoop(IP, 30), 'f')), '45000014');
  for (const raw of [12, 14, 101, 228, 229]) assert.equal(ipOf(unwrapLink(raw, IP, 'f')), '45000014', `linktype ${raw}`);
  assert.equal(ipOf(unwrapLink(113, sll(IP, ETH_IPV4), 'f')), '45000014');
  assert.equal(ipOf(unwrapLink(276, sll2(IP, ETH_IPV6), 'f')), '45000014');
});

test('link layers: non-IP is skipped silently, short headers are problems, unknown types are problems', () => {
  assert.equal(unwrapLink(1, ethernet(Buffer.alloc(28), ETH_ARP), 'f').kind, 'other');
  assert.equal(unwrapLink(1, ethernet(Buffer.alloc(28), 0x05dc), 'f').kind, 'other', '802.3 length field');
  assert.equal(unwrapLink(0, bsdNull(IP, 23), 'f').kind, 'other', 'IPX family');
  assert.equal(unwrapLink(113, sll(IP, 0x0806), 'f').kind, 'other');
  const short = unwrapLink(1, Buffer.alloc(10), 'frame 7');
  assert.deepEqual(short, { kind: 'problem', problem: { kind: 'truncated-frame', detail: 'frame 7: Ethernet header cut short (10 of 14 bytes)' } });
  const vlanShort = unwrapLink(1, Buffer.from('000000000000000000000000810000', 'hex'), 'f');
  assert.equal(vlanShort.kind === 'problem' && vlanShort.problem.kind, 'truncated-frame');
  assert.equal(unwrapLink(276, Buffer.alloc(19), 'f').kind, 'problem');
  assert.equal(isSupportedLinkType(147), false);
  const unknown = unwrapLink(147, IP, 'f');
  assert.equal(unknown.kind === 'problem' && unknown.problem.kind, 'unknown-link-type');
});

test('IPv4: addresses, protocol, payload trimmed to total length (Ethernet padding dropped)', () => {
  const pkt = Buffer.concat([ipv4({ src: '192.0.2.1', dst: '198.51.100.2', protocol: 6, payload: Buffer.from('abcd') }), Buffer.alloc(6)]);
  const r = parseIp(pkt, 'f');
  assert.ok(r.ok);
  assert.deepEqual({ ...r.packet, payload: r.packet.payload.toString() }, {
    version: 4, src: '192.0.2.1', dst: '198.51.100.2', protocol: 6, payload: 'abcd', payloadLen: 4,
  });
});

test('IPv4: snapped packet keeps the claimed length; total length 0 (TSO) takes the captured length', () => {
  const whole = ipv4({ src: '192.0.2.1', dst: '192.0.2.2', protocol: 6, payload: Buffer.alloc(100) });
  const snapped = parseIp(whole.subarray(0, 60), 'f');
  assert.ok(snapped.ok);
  assert.equal(snapped.packet.payload.length, 40);
  assert.equal(snapped.packet.payloadLen, 100);
  const tso = parseIp(ipv4({ src: '192.0.2.1', dst: '192.0.2.2', protocol: 6, payload: Buffer.alloc(30), totalLength: 0 }), 'f');
  assert.ok(tso.ok);
  assert.equal(tso.packet.payloadLen, 30);
});

test('IPv4: fragments and broken headers are problems', () => {
  const frag = (field: number) => parseIp(ipv4({ src: '192.0.2.1', dst: '192.0.2.2', protocol: 6, payload: Buffer.alloc(8), fragField: field }), 'frame 3');
  for (const field of [0x2000, 0x0001, 0x2010]) {
    const r = frag(field);
    assert.ok(!r.ok);
    assert.equal(r.problem.kind, 'ip-fragment');
  }
  const first = frag(0x2000);
  assert.ok(!first.ok);
  assert.equal(first.problem.detail, 'frame 3: IPv4 fragment 192.0.2.1 → 192.0.2.2 (offset 0, more follow) skipped');
  const badIhl = ipv4({ src: '192.0.2.1', dst: '192.0.2.2', protocol: 6, payload: Buffer.alloc(8) });
  badIhl[0] = 0x44;
  const longIhl = Buffer.from(badIhl);
  longIhl[0] = 0x4f;
  const tooShortTotal = ipv4({ src: '192.0.2.1', dst: '192.0.2.2', protocol: 6, payload: Buffer.alloc(8), totalLength: 10 });
  for (const pkt of [badIhl, longIhl.subarray(0, 40), tooShortTotal, Buffer.alloc(0), Buffer.from('45', 'hex'), Buffer.from('7500', 'hex')]) {
    const r = parseIp(pkt, 'f');
    assert.ok(!r.ok);
    assert.equal(r.problem.kind, 'bad-ip-header');
  }
});

test('IPv6: extension headers are walked to TCP; ESP and no-next-header end the chain', () => {
  const seg = Buffer.from('0123456789');
  const exts = [{ type: 0 }, { type: 43 }, { type: 44 }, { type: 51, body: Buffer.alloc(10) }, { type: 60 }];
  const r = parseIp(ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 6, payload: seg, ext: exts }), 'f');
  assert.ok(r.ok);
  assert.equal(r.packet.protocol, 6);
  assert.equal(r.packet.payload.toString(), '0123456789');
  assert.equal(r.packet.payloadLen, 10);
  const esp = parseIp(ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 50, payload: seg, ext: [{ type: 0 }] }), 'f');
  assert.ok(esp.ok);
  assert.equal(esp.packet.protocol, 50);
  const none = parseIp(ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 59, payload: seg }), 'f');
  assert.ok(none.ok);
  assert.equal(none.packet.payload.length, 0);
});

test('IPv6: real fragments skipped, atomic fragments read, overlong extension headers are problems', () => {
  const mk = (fragBody: Buffer) => ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 6, payload: Buffer.alloc(20), ext: [{ type: 44, body: fragBody }] });
  const more = parseIp(mk(Buffer.from('000100000001', 'hex')), 'f');
  assert.ok(!more.ok);
  assert.equal(more.problem.kind, 'ip-fragment');
  const later = parseIp(mk(Buffer.from('00a800000001', 'hex')), 'f');
  assert.ok(!later.ok);
  assert.equal(later.problem.kind, 'ip-fragment');
  assert.ok(parseIp(mk(Buffer.from('000000000001', 'hex')), 'f').ok, 'atomic fragment (RFC 6946)');
  const overlong = ipv6({ src: '2001:db8::1', dst: '2001:db8::2', nextHeader: 6, payload: Buffer.alloc(0), ext: [{ type: 0 }] });
  overlong[41] = 200;
  const r = parseIp(overlong, 'f');
  assert.ok(!r.ok);
  assert.equal(r.problem.kind, 'bad-ip-header');
  assert.equal(parseIp(Buffer.alloc(39, 0x60), 'f').ok, false);
});

test('IPv6 text is RFC 5952 canonical', () => {
  const cases: Array<[string, string]> = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fe80:0:0:0:0:0:0:0', 'fe80::'],
    ['2001:DB8:0:0:0:0:0:ABCD', '2001:db8::abcd'],
  ];
  for (const [input, want] of cases) assert.equal(ipv6Text(ipv6Bytes(input), 0), want, input);
});

test('TCP: ports, sequence numbers, flags, payload trimmed to the IP length, options skipped', () => {
  const seg = tcp({ srcPort: 50000, dstPort: 80, seq: 0xfffffffe, ack: 7, flags: 0x18, payload: Buffer.from('GET / HTTP/1.1\r\n') });
  const r = parseTcp(Buffer.concat([seg, Buffer.from('pad')]), seg.length, 'f');
  assert.ok(r.ok);
  assert.deepEqual({ ...r.tcp, payload: r.tcp.payload.toString() }, {
    srcPort: 50000, dstPort: 80, seq: 0xfffffffe, ack: 7, flags: 0x18, payload: 'GET / HTTP/1.1\r\n', payloadLen: 16,
  });
  const withOptions = Buffer.concat([seg.subarray(0, 20), Buffer.from('0101080a', 'hex'), Buffer.from('data')]);
  withOptions[12] = 6 << 4;
  const o = parseTcp(withOptions, withOptions.length, 'f');
  assert.ok(o.ok);
  assert.equal(o.tcp.payload.toString(), 'data');
});

test('TCP: short headers and bad data offsets are problems', () => {
  const seg = tcp({ srcPort: 1, dstPort: 2, seq: 0, flags: 2 });
  const off4 = Buffer.from(seg);
  off4[12] = 4 << 4;
  const off15 = Buffer.from(seg);
  off15[12] = 15 << 4;
  for (const [buf, len] of [[seg.subarray(0, 19), 19], [off4, 20], [off15, 20], [off15, 60]] as const) {
    const r = parseTcp(buf, len, 'f');
    assert.ok(!r.ok);
    assert.equal(r.problem.kind, 'bad-tcp-header');
  }
});

test('UDP: ports and payload by the UDP length', () => {
  const r = parseUdp(Buffer.concat([udp({ srcPort: 1900, dstPort: 50000, payload: Buffer.from('hi') }), Buffer.alloc(3)]), 'f');
  assert.ok(r.ok);
  assert.deepEqual({ ...r.udp, payload: r.udp.payload.toString() }, { srcPort: 1900, dstPort: 50000, payload: 'hi' });
  assert.equal(parseUdp(Buffer.alloc(7), 'f').ok, false);
  assert.equal(parseUdp(Buffer.from('0001000200040000', 'hex'), 'f').ok, false);
});
