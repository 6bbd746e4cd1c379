/** pcapng: block framing checks, interfaces and their options, packet block kinds, sections, corrupt input. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplayInputError } from '../../../src/errors.js';
import { readPcapng, timestampUs } from '../../../src/replay/capture/pcapng.js';
import { PcapngSection } from '../fixtures/pcap-writer.js';

const le = new PcapngSection(false);
const be = new PcapngSection(true);
const pkt = (hex: string): Buffer => Buffer.from(hex, 'hex');

test('timestamps: µs default, ns, power-of-two resolution, offset', () => {
  assert.equal(timestampUs(0, 1_000_000, 1_000_000n, 0n), 1_000_000);
  assert.equal(timestampUs(1, 0, 1_000_000n, 0n), 4294967296);
  // 1700000000.123456789 s in ns = 0x1797_2F2E_C71E_8F15
  const ns = 1_700_000_000_123_456_789n;
  assert.equal(timestampUs(Number(ns >> 32n), Number(ns & 0xffffffffn), 1_000_000_000n, 0n), 1_700_000_000_123_456.789);
  assert.equal(timestampUs(0, 3 << 19, 1n << 20n, 0n), 1_500_000, '3 × 2^19 units of 2^-20 s = 1.5 s');
  assert.equal(timestampUs(0, 5, 1n, 1_000n), 1_005_000_000, 'seconds resolution plus 1000 s offset');
});

test('EPB on two interfaces with their own link types and resolutions; other blocks skipped', () => {
  const buf = Buffer.concat([
    le.shb(),
    le.idb(1),
    le.idb(101, { tsresol: 9, snaplen: 65535 }),
    le.block(4, Buffer.alloc(4)),
    le.epb(1, 1_000_000_001_500n, pkt('45')),
    le.epb(0, 7n, pkt('aabb'), 100),
    le.block(0x0bad, Buffer.from('whatever')),
  ]);
  const { frames, problems } = readPcapng(buf, 'x.pcapng');
  assert.deepEqual(problems, []);
  assert.deepEqual(frames.map((f) => [f.index, f.linkType, f.data.toString('hex'), f.origLen, f.tsUs]), [
    [0, 101, '45', 1, 1_000_000_001.5],
    [1, 1, 'aabb', 100, 7],
  ]);
});

test('SPB takes interface 0 and the previous frame\'s time; obsolete PB is read', () => {
  const buf = Buffer.concat([le.shb(), le.idb(1, { snaplen: 3 }), le.spb(pkt('00')), le.pb(0, 42n, pkt('0102')), le.spb(pkt('0304050607'))]);
  const { frames, problems } = readPcapng(buf, 's.pcapng');
  assert.deepEqual(problems, []);
  assert.deepEqual(frames.map((f) => [f.tsUs, f.data.toString('hex'), f.origLen]), [
    [0, '00', 1],
    [42, '0102', 2],
    [42, '030405', 5],
  ]);
});

test('sections: each with its byte order and its own interface list', () => {
  const buf = Buffer.concat([le.shb(), le.idb(1), le.epb(0, 1n, pkt('01')), be.shb(), be.idb(101, { tsoffset: 10n }), be.epb(0, 2n, pkt('02'))]);
  const { frames, problems } = readPcapng(buf, 'two.pcapng');
  assert.deepEqual(problems, []);
  assert.deepEqual(frames.map((f) => [f.linkType, f.tsUs]), [
    [1, 1],
    [101, 10_000_002],
  ]);
});

test('unknown link type: one problem per interface, not per frame', () => {
  const buf = Buffer.concat([le.shb(), le.idb(147), le.idb(1), le.idb(147), ...[0, 2, 0, 2].map((i) => le.epb(i, 0n, pkt('00')))]);
  const { frames, problems } = readPcapng(buf, 'u.pcapng');
  assert.equal(frames.length, 4);
  assert.deepEqual(problems.map((p) => p.kind), ['unknown-link-type', 'unknown-link-type']);
  assert.match(problems[1]!.detail, /interface 2: link type LINKTYPE 147/);
});

test('packet on an undescribed interface or with a captured length past its block: bad-block, reading goes on', () => {
  const bad = le.epb(0, 0n, pkt('00'));
  bad.writeUInt32LE(999, 8 + 12);
  const buf = Buffer.concat([le.shb(), le.idb(1), le.epb(3, 0n, pkt('00')), bad, le.epb(0, 0n, pkt('11'))]);
  const { frames, problems } = readPcapng(buf, 'b.pcapng');
  assert.deepEqual(frames.map((f) => f.data.toString('hex')), ['11']);
  assert.deepEqual(problems.map((p) => p.kind), ['bad-block', 'bad-block']);
  assert.match(problems[0]!.detail, /interface 3, which this section does not describe/);
  assert.match(problems[1]!.detail, /captured length 999 runs past the block/);
});

test('block lengths: zero, not a multiple of 4, trailing mismatch, past the end — stop with a problem, never hang', () => {
  const head = Buffer.concat([le.shb(), le.idb(1), le.epb(0, 0n, pkt('01'))]);
  const cases: Array<[string, Buffer, string]> = [
    ['zero length', Buffer.from('0600000000000000000000000000000000', 'hex'), 'bad-block'],
    ['length 13', Buffer.concat([Buffer.from('060000000d000000', 'hex'), Buffer.alloc(8)]), 'bad-block'],
    ['trailing differs', Buffer.from('06000000100000000000000014000000', 'hex'), 'bad-block'],
    ['past the end', Buffer.from('0600000040000000000000000000', 'hex'), 'truncated-record'],
    ['8 stray bytes', Buffer.alloc(8), 'truncated-record'],
  ];
  for (const [what, tail, kind] of cases) {
    const { frames, problems } = readPcapng(Buffer.concat([head, tail]), 'z.pcapng');
    assert.equal(frames.length, 1, what);
    assert.deepEqual(problems.map((p) => p.kind), [kind], what);
    assert.match(problems[0]!.detail, new RegExp(`^block 3 at byte ${head.length}: `), what);
  }
});

test('a later section with an unknown byte-order magic or version stops reading with bad-block', () => {
  const bogus = le.shb();
  bogus.writeUInt32LE(0x11223344, 8);
  const v2 = le.shb();
  v2.writeUInt16LE(2, 12);
  for (const shb of [bogus, v2]) {
    const { frames, problems } = readPcapng(Buffer.concat([le.shb(), le.idb(1), le.epb(0, 0n, pkt('01')), shb, le.idb(1), le.epb(0, 0n, pkt('02'))]), 'x');
    assert.equal(frames.length, 1);
    assert.deepEqual(problems.map((p) => p.kind), ['bad-block']);
  }
});

test('an unusable first section header is a ReplayInputError', () => {
  const bogus = le.shb();
  bogus.writeUInt32LE(0x11223344, 8);
  const cases: Array<[Buffer, RegExp]> = [
    [le.shb().subarray(0, 20), /section header cut short \(20 of 28 bytes\)/],
    [bogus, /unknown byte-order magic 44332211/],
    [Buffer.concat([le.shb().subarray(0, 24), Buffer.alloc(4)]), /trailing length differs/],
  ];
  for (const [buf, message] of cases) {
    assert.throws(() => readPcapng(buf, 'f.pcapng'), (err: unknown) => err instanceof ReplayInputError && message.test(err.message));
  }
});
