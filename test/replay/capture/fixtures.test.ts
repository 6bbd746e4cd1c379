/**
 * The committed capture fixtures: they equal the generator's output, and readCapture finds in each what
 * the fixture was made to hold (connections, endpoints, reassembled bytes, timestamps, gaps, problems).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readCapture } from '../../../src/replay/capture/read-capture.js';
import type { CaptureContents, StreamPiece, TcpConnection } from '../../../src/replay/types.js';
import { REQ1, REQ2, RES1, RES2, T0_NS, defaultCapturesDir, writeCaptures } from '../fixtures/make-captures.js';

const T0_US = Number(T0_NS / 1000n);

function load(name: string): CaptureContents {
  return readCapture(readFileSync(join(defaultCapturesDir, name)), name);
}

const text = (pieces: StreamPiece[]): string =>
  pieces.map((p) => (p.kind === 'data' ? p.data.toString('latin1') : `<gap ${p.bytes}>`)).join('');

function assertHttpConn(c: TcpConnection, clientIp: string, clientPort: number, serverIp: string, serverPort: number): void {
  assert.deepEqual(c.client, { ip: clientIp, port: clientPort });
  assert.deepEqual(c.server, { ip: serverIp, port: serverPort });
  assert.equal(c.midStream, false);
  assert.equal(text(c.toServer), REQ1 + REQ2);
  assert.equal(text(c.toClient), RES1 + RES2);
}

test('the committed fixtures equal the generator output byte for byte', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-captures-'));
  try {
    const names = writeCaptures(dir);
    assert.deepEqual(readdirSync(defaultCapturesDir).sort(), [...names].sort(), 'no extra or missing files');
    for (const name of names) {
      assert.ok(readFileSync(join(dir, name)).equals(readFileSync(join(defaultCapturesDir, name))), `${name} drifted from make-captures.ts`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('pcap µs little-endian Ethernet: two connections, two exchanges each, µs times', () => {
  const c = load('pcap-us-le-ethernet.pcap');
  assert.equal(c.format, 'pcap');
  assert.equal(c.frames, 28);
  assert.deepEqual(c.problems, []);
  assert.equal(c.connections.length, 2);
  assertHttpConn(c.connections[0]!, '192.0.2.10', 49152, '198.51.100.20', 80);
  assertHttpConn(c.connections[1]!, '192.0.2.11', 49153, '198.51.100.20', 80);
  assert.deepEqual(c.connections.map((x) => x.id), [0, 1]);
  assert.equal(c.connections[0]!.firstTsUs, T0_US);
  assert.equal(c.connections[1]!.firstTsUs, T0_US + 14_000);
  // The request's data piece carries the time of its segment: 4th frame.
  assert.equal(c.connections[0]!.toServer[0]!.tsUs, T0_US + 3_000);
});

test('pcap ns big-endian with VLAN and QinQ tags: ARP skipped, .5 µs fraction kept', () => {
  const c = load('pcap-ns-be-vlan-qinq.pcap');
  assert.equal(c.frames, 29);
  assert.deepEqual(c.problems, []);
  assert.equal(c.connections.length, 2);
  assertHttpConn(c.connections[0]!, '192.0.2.10', 49152, '198.51.100.20', 80);
  assertHttpConn(c.connections[1]!, '192.0.2.11', 49153, '198.51.100.20', 80);
  assert.equal(c.connections[0]!.firstTsUs, T0_US + 1_000.5);
});

test('pcapng with Ethernet and SLL interfaces: per-interface link type and resolution', () => {
  const c = load('pcapng-two-interfaces.pcapng');
  assert.equal(c.format, 'pcapng');
  assert.equal(c.frames, 29);
  assert.deepEqual(c.problems, []);
  assertHttpConn(c.connections[0]!, '192.0.2.10', 49152, '198.51.100.20', 80);
  assertHttpConn(c.connections[1]!, '2001:db8::10', 50000, '2001:db8::20', 8080);
  assert.equal(c.connections[0]!.firstTsUs, T0_US);
  assert.equal(c.connections[1]!.firstTsUs, T0_US + 0.25);
});

test('pcapng Simple Packet Blocks: read on interface 0, time 0 (no earlier frame)', () => {
  const c = load('pcapng-spb-only.pcapng');
  assert.equal(c.frames, 14);
  assertHttpConn(c.connections[0]!, '192.0.2.10', 49152, '198.51.100.20', 80);
  assert.equal(c.connections[0]!.firstTsUs, 0);
});

test('pcapng with two sections of different byte order: each with its own interfaces and tsresol/tsoffset', () => {
  const c = load('pcapng-two-sections.pcapng');
  assert.equal(c.frames, 28);
  assert.deepEqual(c.problems, []);
  assertHttpConn(c.connections[0]!, '192.0.2.10', 49152, '198.51.100.20', 80);
  assertHttpConn(c.connections[1]!, '192.0.2.11', 49153, '198.51.100.20', 80);
  assert.equal(c.connections[1]!.firstTsUs, T0_US + 60_000_000);
  // The request is section 2's 4th frame: floor(3 * 2^20 / 1000) = 3145 units of 2^-20 s = 2999.2 µs.
  const req = c.connections[1]!.toServer[0]!;
  assert.ok(Math.abs(req.tsUs - (T0_US + 60_000_000 + 2999.2)) <= 0.25, String(req.tsUs));
});

for (const [name, client, server] of [
  ['sll2.pcap', ['192.0.2.10', 49152], ['198.51.100.20', 80]],
  ['raw-ipv4.pcap', ['192.0.2.10', 49152], ['198.51.100.20', 80]],
  ['loop-openbsd.pcap', ['192.0.2.10', 49152], ['198.51.100.20', 80]],
] as const) {
  test(`${name}: one connection, both exchanges`, () => {
    const c = load(name);
    assert.deepEqual(c.problems, []);
    assert.equal(c.connections.length, 1);
    assertHttpConn(c.connections[0]!, client[0], client[1], server[0], server[1]);
  });
}

test('NULL (BSD loopback) with IPv4 and IPv6 families', () => {
  const c = load('null-bsd-loopback.pcap');
  assert.deepEqual(c.problems, []);
  assertHttpConn(c.connections[0]!, '192.0.2.10', 49152, '198.51.100.20', 80);
  assertHttpConn(c.connections[1]!, '2001:db8::10', 50000, '2001:db8::20', 8080);
});

test('raw IPv6 through hop-by-hop and destination-options headers', () => {
  const c = load('raw-ipv6-ext-headers.pcap');
  assert.deepEqual(c.problems, []);
  const conn = c.connections[0]!;
  assert.deepEqual(conn.client, { ip: '2001:db8:0:1::a', port: 50001 });
  assert.equal(text(conn.toServer), REQ1);
  assert.equal(text(conn.toClient), RES1);
});

test('out-of-order segments come back in sequence order', () => {
  const c = load('tcp-out-of-order.pcap');
  assert.deepEqual(c.problems, []);
  const conn = c.connections[0]!;
  assert.equal(text(conn.toServer), REQ1);
  assert.equal(text(conn.toClient), RES1);
  // First 16 request bytes were the first data frame (4th); the response's first piece arrived after its second.
  assert.equal(conn.toServer[0]!.tsUs, T0_US + 3_000);
  assert.equal(conn.toClient[0]!.tsUs, T0_US + 7_000);
});

test('retransmissions and overlaps: duplicates dropped, first copy wins', () => {
  const c = load('tcp-retransmit-overlap.pcap');
  assert.deepEqual(c.problems, []);
  assert.equal(text(c.connections[0]!.toServer), REQ1);
  assert.equal(text(c.connections[0]!.toClient), RES1);
});

test('a lost segment: a 20-byte gap piece and a tcp-gap problem', () => {
  const c = load('tcp-lost-segment.pcap');
  const conn = c.connections[0]!;
  assert.equal(text(conn.toServer), REQ1);
  const body = 'HTTP/1.1 200 OK\r\nContent-Length: 26\r\n\r\nabcdefghijklmnopqrstuvwxyz';
  assert.equal(text(conn.toClient), `${body.slice(0, 20)}<gap 20>${body.slice(40)}`);
  assert.deepEqual(c.problems.map((p) => p.kind), ['tcp-gap']);
  assert.match(c.problems[0]!.detail, /conn 0 198\.51\.100\.20:80 → 192\.0\.2\.10:49152: 20 bytes never captured at stream offset 20/);
});

test('mid-stream connections: client guessed by request line, then by port', () => {
  const c = load('tcp-mid-stream.pcap');
  assert.deepEqual(c.problems, []);
  const [a, b] = c.connections as [TcpConnection, TcpConnection];
  assert.equal(a.midStream, true);
  assert.deepEqual(a.client, { ip: '192.0.2.10', port: 49152 });
  assert.deepEqual(a.server, { ip: '198.51.100.20', port: 61000 });
  assert.equal(text(a.toServer), REQ1);
  assert.equal(text(a.toClient), `tail of an earlier response${RES1}`);
  assert.equal(b.midStream, true);
  assert.deepEqual(b.client, { ip: '192.0.2.11', port: 40000 });
  assert.deepEqual(b.toServer, []);
  assert.equal(text(b.toClient), RES1);
});

test('sequence numbers wrapping past 2^32', () => {
  const c = load('tcp-seq-wraparound.pcap');
  assert.deepEqual(c.problems, []);
  assertHttpConn(c.connections[0]!, '192.0.2.10', 49152, '198.51.100.20', 80);
});

test('port reuse: a retransmitted SYN stays, a new ISN after close is a new connection', () => {
  const c = load('tcp-port-reuse.pcap');
  assert.deepEqual(c.problems, []);
  assert.equal(c.connections.length, 2);
  for (const conn of c.connections) assertHttpConn(conn, '192.0.2.10', 49152, '198.51.100.20', 80);
  assert.equal(c.connections[1]!.firstTsUs, T0_US + 15_000);
});

test('a truncated file: every whole record, plus a truncated-record problem', () => {
  const c = load('truncated.pcap');
  assert.equal(c.frames, 27);
  assert.deepEqual(c.problems.map((p) => p.kind), ['truncated-record']);
  assert.match(c.problems[0]!.detail, /^record 27 at byte 2386: 54 captured bytes announced, 24 left/);
  assertHttpConn(c.connections[1]!, '192.0.2.11', 49153, '198.51.100.20', 80);
});

test('UDP: SSDP M-SEARCH datagrams counted, replies and DNS not', () => {
  const c = load('udp-ssdp.pcap');
  assert.equal(c.udpHttpRequests, 2);
  assert.equal(c.connections.length, 1);
  assert.deepEqual(c.problems, []);
});
