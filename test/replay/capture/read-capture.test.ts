/** readCapture end to end: format detection, unreadable files, per-frame problems, UDP counting, fuzzed input. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ReplayInputError } from '../../../src/errors.js';
import { isHttpRequestDatagram, readCapture } from '../../../src/replay/capture/read-capture.js';
import { defaultCapturesDir } from '../fixtures/make-captures.js';
import { ETH_IPV4, PcapngSection, ethernet, ipv4, tcp, udp, writePcap } from '../fixtures/pcap-writer.js';

function inputError(buf: Buffer, message: string): void {
  assert.throws(() => readCapture(buf, 'in.cap'), (err: unknown) => {
    assert.ok(err instanceof ReplayInputError);
    assert.equal(err.message, `in.cap: ${message}`);
    return true;
  });
}

test('not a capture: ReplayInputError naming the first bytes', () => {
  inputError(Buffer.from('<!DOCTYPE html>'), 'not a pcap or pcapng capture (first bytes 3c 21 44 4f)');
  inputError(Buffer.alloc(0), 'not a pcap or pcapng capture (empty file)');
  inputError(Buffer.from('1f8b0800', 'hex'), 'not a pcap or pcapng capture (first bytes 1f 8b 08 00: gzip-compressed, decompress it first)');
  inputError(Buffer.from('d4c3b2a1', 'hex'), 'pcap file header cut short (4 of 24 bytes)');
  inputError(Buffer.from('0a0d0d0a0c000000', 'hex'), 'pcapng section header cut short (8 bytes)');
});

test('random bytes: ReplayInputError, never another exception', () => {
  let seed = 12345;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  for (let i = 0; i < 200; i++) {
    const buf = Buffer.from(Array.from({ length: 1 + (i % 64) }, rand));
    try {
      readCapture(buf, 'r.bin');
    } catch (err) {
      assert.ok(err instanceof ReplayInputError, String(err));
    }
  }
});

test('every truncation and byte flip of real-shaped files returns (or throws ReplayInputError) without hanging', () => {
  const files = ['pcap-ns-be-vlan-qinq.pcap', 'pcapng-two-interfaces.pcapng', 'pcapng-two-sections.pcapng', 'tcp-out-of-order.pcap'];
  let seed = 7;
  const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
  const started = Date.now();
  for (const name of files) {
    const whole = readFileSync(join(defaultCapturesDir, name));
    const variants: Buffer[] = [];
    for (let cut = 0; cut < whole.length; cut += 7) variants.push(whole.subarray(0, cut));
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(whole);
      for (let k = 0; k < 4; k++) b[rand(b.length)] = rand(256);
      variants.push(b);
    }
    for (const v of variants) {
      try {
        const c = readCapture(v, name);
        assert.ok(c.frames >= 0 && Array.isArray(c.problems));
      } catch (err) {
        assert.ok(err instanceof ReplayInputError, `${name}: ${String(err)}`);
      }
    }
  }
  assert.ok(Date.now() - started < 20_000, 'fuzzing took too long');
});

test('a truncated pcapng: the frames before the cut, plus truncated-record', () => {
  const whole = readFileSync(join(defaultCapturesDir, 'pcapng-two-interfaces.pcapng'));
  const c = readCapture(whole.subarray(0, whole.length - 10), 'cut.pcapng');
  assert.equal(c.format, 'pcapng');
  assert.equal(c.frames, 29);
  assert.deepEqual(c.problems.map((p) => p.kind), ['truncated-record']);
  assert.equal(c.connections.length, 2);
});

test('frame problems: IP fragments, bad IP and TCP headers, short frames; unknown link type once', () => {
  const frag = ipv4({ src: '192.0.2.1', dst: '192.0.2.2', protocol: 6, payload: Buffer.alloc(24), fragField: 0x2000 });
  const badTcp = ipv4({ src: '192.0.2.1', dst: '192.0.2.2', protocol: 6, payload: Buffer.alloc(10) });
  const badIp = Buffer.from('4f000014', 'hex');
  const frames = [frag, badTcp, badIp].map((ip) => ({ tsNs: 0n, data: ethernet(ip, ETH_IPV4) }));
  frames.push({ tsNs: 0n, data: Buffer.alloc(5) });
  const c = readCapture(writePcap({ linkType: 1 }, frames), 'p.pcap');
  assert.deepEqual(c.problems.map((p) => p.kind), ['ip-fragment', 'bad-tcp-header', 'bad-ip-header', 'truncated-frame']);
  assert.deepEqual(c.problems.map((p) => p.detail.split(':')[0]), ['frame 0', 'frame 1', 'frame 2', 'frame 3']);
  const unknown = readCapture(writePcap({ linkType: 300 }, [{ tsNs: 0n, data: frag }, { tsNs: 0n, data: frag }]), 'u.pcap');
  assert.deepEqual(unknown.problems.map((p) => p.kind), ['unknown-link-type']);
  assert.equal(unknown.frames, 2);
});

test('UDP: each datagram opening with an HTTP request line counts once; others never', () => {
  assert.equal(isHttpRequestDatagram(Buffer.from('M-SEARCH * HTTP/1.1\r\nHOST: x\r\n\r\n')), true);
  assert.equal(isHttpRequestDatagram(Buffer.from('NOTIFY * HTTP/1.1\r\n')), true);
  assert.equal(isHttpRequestDatagram(Buffer.from('HTTP/1.1 200 OK\r\n')), false);
  assert.equal(isHttpRequestDatagram(Buffer.from('GET / HTTP/1.1')), false, 'no line end');
  assert.equal(isHttpRequestDatagram(Buffer.from([0, 1, 2])), false);
  const twice = 'M-SEARCH * HTTP/1.1\r\n\r\nM-SEARCH * HTTP/1.1\r\n\r\n';
  const dg = (text: string) => ({ tsNs: 0n, data: ipv4({ src: '192.0.2.1', dst: '239.255.255.250', protocol: 17, payload: udp({ srcPort: 5, dstPort: 1900, payload: Buffer.from(text) }) }) });
  const c = readCapture(writePcap({ linkType: 101 }, [dg(twice), dg('hello'), dg(twice)]), 'u.pcap');
  assert.equal(c.udpHttpRequests, 2);
  assert.deepEqual(c.problems, []);
});

test('pcapng with an unsupported interface next to a supported one: its frames skipped, the others read', () => {
  const s = new PcapngSection(false);
  const seg = tcp({ srcPort: 50000, dstPort: 80, seq: 1, flags: 0x02 });
  const ip = ipv4({ src: '192.0.2.1', dst: '198.51.100.1', protocol: 6, payload: seg });
  const buf = Buffer.concat([s.shb(), s.idb(147), s.idb(101), s.epb(0, 0n, ip), s.epb(1, 0n, ip), s.epb(0, 0n, ip)]);
  const c = readCapture(buf, 'm.pcapng');
  assert.equal(c.frames, 3);
  assert.deepEqual(c.problems.map((p) => p.kind), ['unknown-link-type']);
  assert.equal(c.connections.length, 1);
});
