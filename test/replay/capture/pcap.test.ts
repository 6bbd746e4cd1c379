/** Classic pcap: magic and byte order, µs/ns timestamps, FCS bits, truncation, unreadable headers. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReplayInputError } from '../../../src/errors.js';
import { pcapMagic, readPcap, splitLinkTypeField } from '../../../src/replay/capture/pcap.js';
import { writePcap } from '../fixtures/pcap-writer.js';

const frame = (tsNs: bigint, bytes: string, origLen?: number) => ({ tsNs, data: Buffer.from(bytes, 'hex'), origLen });

test('magic: µs and ns, both byte orders; anything else is not pcap', () => {
  assert.deepEqual(pcapMagic(Buffer.from('d4c3b2a1', 'hex')), { nanos: false, littleEndian: true });
  assert.deepEqual(pcapMagic(Buffer.from('a1b2c3d4', 'hex')), { nanos: false, littleEndian: false });
  assert.deepEqual(pcapMagic(Buffer.from('4d3cb2a1', 'hex')), { nanos: true, littleEndian: true });
  assert.deepEqual(pcapMagic(Buffer.from('a1b23c4d', 'hex')), { nanos: true, littleEndian: false });
  assert.equal(pcapMagic(Buffer.from('0a0d0d0a', 'hex')), null);
  assert.equal(pcapMagic(Buffer.from('d4c3', 'hex')), null);
});

for (const bigEndian of [false, true]) {
  for (const nanos of [false, true]) {
    test(`records: ${nanos ? 'ns' : 'µs'} ${bigEndian ? 'big' : 'little'}-endian`, () => {
      const buf = writePcap({ linkType: 101, nanos, bigEndian }, [
        frame(1_700_000_000_123_456_789n, '4500', 60),
        frame(1_700_000_001_000_000_500n, 'aabbcc'),
      ]);
      const { frames, problems } = readPcap(buf, 'x.pcap');
      assert.deepEqual(problems, []);
      assert.equal(frames.length, 2);
      assert.deepEqual(frames.map((f) => [f.index, f.linkType, f.data.toString('hex'), f.origLen]), [
        [0, 101, '4500', 60],
        [1, 101, 'aabbcc', 3],
      ]);
      assert.equal(frames[0]!.tsUs, nanos ? 1_700_000_000_123_456.789 : 1_700_000_000_123_456);
      assert.equal(frames[1]!.tsUs, nanos ? 1_700_000_001_000_000.5 : 1_700_000_001_000_000);
    });
  }
}

test('LinkType field: link type in the low 16 bits, FCS length (16-bit words) when the P bit is set', () => {
  assert.deepEqual(splitLinkTypeField(1), { linkType: 1, fcsBytes: 0 });
  assert.deepEqual(splitLinkTypeField(0x24000001), { linkType: 1, fcsBytes: 4 });
  assert.deepEqual(splitLinkTypeField(0x20000001), { linkType: 1, fcsBytes: 0 }, 'FCS length without the P bit means nothing');
  const buf = writePcap({ linkType: 1, linkTypeField: 0x24000001 }, [frame(0n, '0102030405deadbeef'), frame(0n, '0102030405', 9)]);
  const { frames } = readPcap(buf, 'fcs.pcap');
  assert.equal(frames[0]!.linkType, 1);
  assert.equal(frames[0]!.data.toString('hex'), '0102030405', 'whole frame: FCS dropped');
  assert.equal(frames[1]!.data.toString('hex'), '0102030405', 'snapped frame: kept as captured');
});

test('unknown link type: one problem for the file, frames still counted', () => {
  const { frames, problems } = readPcap(writePcap({ linkType: 147 }, [frame(0n, '00'), frame(0n, '01')]), 'u.pcap');
  assert.equal(frames.length, 2);
  assert.deepEqual(problems.map((p) => p.kind), ['unknown-link-type']);
  assert.match(problems[0]!.detail, /link type LINKTYPE 147 is not supported/);
});

test('a cut record header or record body: frames so far plus truncated-record', () => {
  const whole = writePcap({ linkType: 1 }, [frame(0n, '00112233'), frame(0n, '44556677')]);
  for (const cut of [whole.length - 1, whole.length - 4 - 10]) {
    const { frames, problems } = readPcap(whole.subarray(0, cut), 't.pcap');
    assert.equal(frames.length, 1);
    assert.deepEqual(problems.map((p) => p.kind), ['truncated-record']);
    assert.match(problems[0]!.detail, /^record 1 at byte 44: /);
  }
});

test('a corrupt captured length stops reading, it does not allocate or loop', () => {
  const buf = writePcap({ linkType: 1 }, [frame(0n, '00112233')]);
  buf.writeUInt32LE(0xffffffff, 24 + 8);
  const { frames, problems } = readPcap(buf, 'c.pcap');
  assert.equal(frames.length, 0);
  assert.match(problems[0]!.detail, /4294967295 captured bytes announced, 4 left/);
});

test('a file header shorter than 24 bytes is a ReplayInputError', () => {
  assert.throws(() => readPcap(Buffer.from('d4c3b2a102000400', 'hex'), 'short.pcap'), (err: unknown) => {
    assert.ok(err instanceof ReplayInputError);
    assert.equal(err.message, 'short.pcap: pcap file header cut short (8 of 24 bytes)');
    return true;
  });
});

test('a header with no records: no frames, no problems', () => {
  assert.deepEqual(readPcap(writePcap({ linkType: 1 }, []), 'e.pcap'), { frames: [], problems: [] });
});
