/** TCP reassembly on hand-made segments: ordering, overlaps, gaps, wraparound, connection splits, client guess. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guessClient, looksLikeRequest } from '../../../src/replay/capture/guess-client.js';
import { TcpReassembler, type TcpSegment } from '../../../src/replay/capture/reassembly.js';
import type { StreamPiece, TcpEndpoint } from '../../../src/replay/types.js';

const C: TcpEndpoint = { ip: '192.0.2.1', port: 50000 };
const S: TcpEndpoint = { ip: '198.51.100.1', port: 80 };
const SYN = 0x02;
const ACK = 0x10;
const FIN = 0x01;
const RST = 0x04;

let clock = 0;
function seg(fromClient: boolean, seq: number, flags: number, data = '', payloadLen?: number): TcpSegment {
  const payload = Buffer.from(data, 'latin1');
  return {
    tsUs: ++clock,
    src: fromClient ? C : S,
    dst: fromClient ? S : C,
    seq: seq >>> 0,
    ack: 0,
    flags,
    payload,
    payloadLen: payloadLen ?? payload.length,
  };
}

function run(...segs: TcpSegment[]) {
  const r = new TcpReassembler();
  for (const s of segs) r.add(s);
  return r.finish();
}

const show = (pieces: StreamPiece[]): string[] => pieces.map((p) => (p.kind === 'data' ? p.data.toString('latin1') : `<gap ${p.bytes}>`));

test('handshake then in-order data: one piece per segment, each with its segment time', () => {
  clock = 0;
  const { connections, problems } = run(seg(true, 100, SYN), seg(false, 900, SYN | ACK), seg(true, 101, ACK, 'GET / '), seg(true, 107, ACK, 'HTTP/1.1\r\n'), seg(false, 901, ACK, 'HTTP/1.1 204'));
  assert.deepEqual(problems, []);
  const c = connections[0]!;
  assert.deepEqual([c.client, c.server, c.midStream, c.firstTsUs], [C, S, false, 1]);
  assert.deepEqual(show(c.toServer), ['GET / ', 'HTTP/1.1\r\n']);
  assert.deepEqual(c.toServer.map((p) => p.tsUs), [3, 4]);
  assert.deepEqual(show(c.toClient), ['HTTP/1.1 204']);
});

test('out of order and overlapping segments: sequence order, the first captured copy of a byte wins', () => {
  clock = 0;
  const { connections } = run(
    seg(true, 0, SYN),
    seg(true, 5, ACK, 'EFGH'), // arrives before 'ABCD'
    seg(true, 1, ACK, 'ABCD'),
    seg(true, 3, ACK, 'xxxxxxIJ'), // overlaps CD and EFGH: only 'IJ' is new
    seg(true, 1, ACK, 'ABCDEFGHIJ'), // whole retransmission: nothing new
    seg(true, 11, ACK, 'K'),
  );
  const c = connections[0]!;
  assert.deepEqual(show(c.toServer), ['ABCD', 'EFGH', 'IJ', 'K']);
  assert.deepEqual(c.toServer.map((p) => p.tsUs), [3, 2, 4, 6]);
});

test('a hole in the middle becomes a gap piece and a tcp-gap problem; a FIN past the data, a trailing gap', () => {
  clock = 0;
  const { connections, problems } = run(seg(true, 0, SYN), seg(true, 1, ACK, 'abc'), seg(true, 10, ACK, 'xyz'), seg(true, 20, FIN | ACK));
  assert.deepEqual(show(connections[0]!.toServer), ['abc', '<gap 6>', 'xyz', '<gap 7>']);
  assert.deepEqual(connections[0]!.toServer.map((p) => p.tsUs), [2, 3, 3, 4]);
  assert.deepEqual(problems.map((p) => p.detail), [
    'conn 0 192.0.2.1:50000 → 198.51.100.1:80: 6 bytes never captured at stream offset 3',
    'conn 0 192.0.2.1:50000 → 198.51.100.1:80: 7 bytes never captured at stream offset 12',
  ]);
});

test('a snapped segment: the bytes past the snap length are a gap', () => {
  clock = 0;
  const { connections, problems } = run(seg(true, 0, SYN), seg(true, 1, ACK, 'abcd', 10));
  assert.deepEqual(show(connections[0]!.toServer), ['abcd', '<gap 6>']);
  assert.equal(problems.length, 1);
});

test('sequence numbers wrap modulo 2^32, also with reordering across the wrap', () => {
  clock = 0;
  const { connections, problems } = run(seg(true, 0xfffffffd, SYN), seg(true, 0, ACK, 'DEF'), seg(true, 0xfffffffe, ACK, 'AB'), seg(true, 3, ACK, 'G'));
  assert.deepEqual(problems, []);
  assert.deepEqual(show(connections[0]!.toServer), ['AB', 'DEF', 'G']);
});

test('a SYN carrying data (TCP Fast Open): the data starts at ISN + 1', () => {
  clock = 0;
  const { connections } = run(seg(true, 41, SYN, 'GET /'), seg(true, 47, ACK, ' HTTP/1.1'));
  assert.deepEqual(show(connections[0]!.toServer), ['GET /', ' HTTP/1.1']);
});

test('connection splits: retransmitted SYN stays; new ISN, or SYN after FIN/RST, starts a new connection', () => {
  clock = 0;
  const same = run(seg(true, 10, SYN), seg(true, 10, SYN), seg(false, 50, SYN | ACK), seg(true, 11, ACK, 'a'));
  assert.equal(same.connections.length, 1);
  const newIsn = run(seg(true, 10, SYN), seg(true, 11, ACK, 'a'), seg(true, 7777, SYN), seg(true, 7778, ACK, 'b'));
  assert.deepEqual(newIsn.connections.map((c) => show(c.toServer)), [['a'], ['b']]);
  assert.deepEqual(newIsn.connections.map((c) => c.id), [0, 1]);
  const afterRst = run(seg(false, 5, ACK, 'old'), seg(true, 3, RST), seg(true, 10, SYN), seg(true, 11, ACK, 'new'));
  assert.equal(afterRst.connections.length, 2);
  assert.deepEqual(afterRst.connections.map((c) => c.midStream), [true, false]);
  assert.deepEqual(show(afterRst.connections[1]!.toServer), ['new']);
});

test('only the SYN-ACK captured: the client is its receiver, the stream is mid-stream', () => {
  clock = 0;
  const { connections } = run(seg(false, 500, SYN | ACK), seg(true, 77, ACK, 'x'));
  assert.deepEqual([connections[0]!.client, connections[0]!.midStream], [C, true]);
});

test('mid-stream: base is the lowest sequence seen, client guessed', () => {
  clock = 0;
  const { connections, problems } = run(seg(false, 1000, ACK, 'HTTP/1.1 200 OK\r\n'), seg(true, 5005, ACK, ' HTTP/1.1\r\n'), seg(true, 5000, ACK, 'GET /'));
  assert.deepEqual(problems, []);
  const c = connections[0]!;
  assert.deepEqual([c.client, c.server, c.midStream], [C, S, true]);
  assert.deepEqual(show(c.toServer), ['GET /', ' HTTP/1.1\r\n']);
});

test('client guess: request line, then well-known port, then the higher port, then the first side', () => {
  const data = (s: string): StreamPiece[] => [{ kind: 'data', tsUs: 0, data: Buffer.from(s) }];
  const a = { ip: '192.0.2.1', port: 8080 };
  const b = { ip: '192.0.2.2', port: 3000 };
  assert.equal(guessClient(a, data('HTTP/1.1 200 OK'), b, data('POST /x HTTP/1.1')), 1);
  assert.equal(guessClient(a, data('OPTIONS * HTTP/1.1'), b, []), 0);
  assert.equal(guessClient({ ip: 'x', port: 80 }, [], { ip: 'y', port: 40000 }, []), 1);
  assert.equal(guessClient({ ip: 'x', port: 40000 }, [], { ip: 'y', port: 443 }, []), 0);
  assert.equal(guessClient({ ip: 'x', port: 5001 }, [], { ip: 'y', port: 60000 }, []), 1);
  assert.equal(guessClient({ ip: 'x', port: 7 }, [], { ip: 'y', port: 7 }, []), 0);
  assert.equal(looksLikeRequest(data('CONNECT shop.test:443 HTTP/1.1')), true);
  assert.equal(looksLikeRequest(data('GET http://shop.test/ HTTP/1.1')), true);
  assert.equal(looksLikeRequest(data('HTTP/1.1 200 OK')), false);
  assert.equal(looksLikeRequest(data('hello world')), false);
  assert.equal(looksLikeRequest([{ kind: 'gap', tsUs: 0, bytes: 3 }]), false);
});

test('connections come back in order of first packet, interleaved tuples kept apart', () => {
  clock = 0;
  const r = new TcpReassembler();
  const other: TcpEndpoint = { ip: '192.0.2.9', port: 50001 };
  r.add(seg(true, 1, SYN));
  r.add({ ...seg(true, 1, SYN), src: other });
  r.add(seg(true, 2, ACK, 'one'));
  r.add({ ...seg(true, 2, ACK, 'two'), src: other });
  const { connections } = r.finish();
  assert.deepEqual(connections.map((c) => [c.id, c.client.ip, show(c.toServer)]), [
    [0, '192.0.2.1', ['one']],
    [1, '192.0.2.9', ['two']],
  ]);
});
