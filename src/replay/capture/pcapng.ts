/**
 * pcapng files → frames. Layout per draft-ietf-opsawg-pcapng:
 *   §3.1 general block: type (4), total length (4), body, total length again (4); lengths are multiples of 4
 *   §3.5 options: code (2), length (2), value padded to 32 bits; opt_endofopt = 0
 *   §4.1 Section Header Block 0x0A0D0D0A: byte-order magic 0x1A2B3C4D, major 1, minor, section length (8)
 *   §4.2 Interface Description Block 1: link type (2), reserved (2), snaplen (4); options if_tsresol (9),
 *        if_fcslen (13), if_tsoffset (14)
 *   §4.3 Enhanced Packet Block 6: interface id, timestamp high, low, captured length, original length, data
 *   §4.4 Simple Packet Block 3: original length, data (interface 0, no timestamp)
 *   Appendix (obsolete) Packet Block 2: interface id (2), drops count (2), timestamp high, low, captured, original
 * Every other block type is skipped by its length. Each section has its own byte order and interfaces.
 */
import { ReplayInputError } from '../../errors.js';
import type { Frame, Problem } from '../types.js';
import { isSupportedLinkType, linkTypeName } from './link.js';
import type { FramesRead } from './pcap.js';

export const PCAPNG_SHB_TYPE = 0x0a0d0d0a;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const BLOCK_IDB = 1;
const BLOCK_PB = 2;
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;
const OPT_IF_TSRESOL = 9;
const OPT_IF_FCSLEN = 13;
const OPT_IF_TSOFFSET = 14;

interface Interface {
  linkType: number;
  snaplen: number;
  /** Timestamp units per second (if_tsresol; default 10^6). */
  unitsPerSec: bigint;
  /** Seconds added to every timestamp (if_tsoffset). */
  offsetSec: bigint;
  fcsBytes: number;
}

export function isPcapng(buf: Buffer): boolean {
  return buf.length >= 4 && buf.readUInt32BE(0) === PCAPNG_SHB_TYPE;
}

/** A timestamp in `unitsPerSec` units → µs since the epoch, keeping sub-µs digits as a fraction (to the ns). */
export function timestampUs(high: number, low: number, unitsPerSec: bigint, offsetSec: bigint): number {
  if (unitsPerSec === 1_000_000n && offsetSec === 0n) return high * 4294967296 + low;
  const ts = (BigInt(high) << 32n) | BigInt(low);
  const sec = ts / unitsPerSec + offsetSec;
  const nanos = ((ts % unitsPerSec) * 1_000_000_000n) / unitsPerSec;
  return Number(sec) * 1e6 + Number(nanos) / 1000;
}

/** Read every packet block of a pcapng file. Throws ReplayInputError only when the first section header is unusable. */
export function readPcapng(buf: Buffer, file: string): FramesRead {
  const frames: Frame[] = [];
  const problems: Problem[] = [];
  let littleEndian = true;
  let interfaces: Interface[] = [];
  let lastTsUs = 0;
  let off = 0;
  let blockNo = 0;
  const u16 = (o: number): number => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number): number => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const bad = (kind: string, what: string): void => {
    problems.push({ kind, detail: `block ${blockNo} at byte ${off}: ${what}` });
  };

  while (off < buf.length) {
    const left = buf.length - off;
    if (left < 12) {
      if (blockNo === 0) throw new ReplayInputError(file, `pcapng section header cut short (${left} bytes)`);
      bad('truncated-record', `block header cut short (${left} bytes left)`);
      break;
    }
    const rawType = buf.readUInt32BE(off);
    if (rawType === PCAPNG_SHB_TYPE) {
      if (left < 28) {
        if (blockNo === 0) throw new ReplayInputError(file, `pcapng section header cut short (${left} of 28 bytes)`);
        bad('truncated-record', `section header cut short (${left} of 28 bytes)`);
        break;
      }
      const bom = buf.readUInt32LE(off + 8);
      if (bom !== BYTE_ORDER_MAGIC && buf.readUInt32BE(off + 8) !== BYTE_ORDER_MAGIC) {
        const hex = buf.subarray(off + 8, off + 12).toString('hex');
        if (blockNo === 0) throw new ReplayInputError(file, `pcapng section header with unknown byte-order magic ${hex}`);
        bad('bad-block', `section header with unknown byte-order magic ${hex}; rest of file skipped`);
        break;
      }
      littleEndian = bom === BYTE_ORDER_MAGIC;
      const major = u16(off + 12);
      if (major !== 1) {
        if (blockNo === 0) throw new ReplayInputError(file, `pcapng major version ${major} is not supported (only 1)`);
        bad('bad-block', `section of pcapng major version ${major} (only 1 is supported); rest of file skipped`);
        break;
      }
      interfaces = [];
    }
    const type = u32(off);
    const total = u32(off + 4);
    if (total < 12 || total % 4 !== 0) {
      if (blockNo === 0) throw new ReplayInputError(file, `pcapng section header with bad block length ${total}`);
      bad('bad-block', `block length ${total} (must be a multiple of 4 and at least 12); rest of file skipped`);
      break;
    }
    if (total > left) {
      if (blockNo === 0) throw new ReplayInputError(file, `pcapng section header cut short (${left} of ${total} bytes)`);
      bad('truncated-record', `block of ${total} bytes, ${left} left (file cut short or corrupt)`);
      break;
    }
    if (u32(off + total - 4) !== total) {
      if (blockNo === 0) throw new ReplayInputError(file, `pcapng section header's trailing length differs from its leading length`);
      bad('bad-block', `trailing length ${u32(off + total - 4)} differs from leading length ${total}; rest of file skipped`);
      break;
    }
    const body = off + 8;
    const bodyLen = total - 12;

    const packet = (ifId: number, high: number, low: number, capLen: number, origLen: number, dataOff: number): void => {
      const iface = interfaces[ifId];
      if (!iface) return bad('bad-block', `packet on interface ${ifId}, which this section does not describe`);
      if (capLen > body + bodyLen - dataOff) return bad('bad-block', `captured length ${capLen} runs past the block`);
      let data = buf.subarray(dataOff, dataOff + capLen);
      if (iface.fcsBytes > 0 && capLen === origLen && capLen >= iface.fcsBytes) data = data.subarray(0, capLen - iface.fcsBytes);
      lastTsUs = timestampUs(high, low, iface.unitsPerSec, iface.offsetSec);
      frames.push({ tsUs: lastTsUs, linkType: iface.linkType, data, origLen, index: frames.length });
    };

    if (type === BLOCK_IDB) {
      if (bodyLen < 8) bad('bad-block', `interface description of ${bodyLen} bytes (< 8)`);
      else {
        const iface: Interface = {
          linkType: u16(body),
          snaplen: u32(body + 4),
          unitsPerSec: 1_000_000n,
          offsetSec: 0n,
          fcsBytes: 0,
        };
        readOptions(body + 8, body + bodyLen, (code, vOff, vLen) => {
          if (code === OPT_IF_TSRESOL && vLen >= 1) {
            const v = buf[vOff]!;
            // MSB clear: 10^-v seconds; MSB set: 2^-(v & 0x7f) seconds (§4.2, if_tsresol)
            iface.unitsPerSec = v & 0x80 ? 1n << BigInt(v & 0x7f) : 10n ** BigInt(v);
          } else if (code === OPT_IF_TSOFFSET && vLen >= 8) {
            iface.offsetSec = littleEndian ? buf.readBigInt64LE(vOff) : buf.readBigInt64BE(vOff);
          } else if (code === OPT_IF_FCSLEN && vLen >= 1) {
            iface.fcsBytes = buf[vOff]!;
          }
        });
        if (!isSupportedLinkType(iface.linkType)) {
          bad('unknown-link-type', `interface ${interfaces.length}: link type ${linkTypeName(iface.linkType)} is not supported; its frames are skipped`);
        }
        interfaces.push(iface);
      }
    } else if (type === BLOCK_EPB) {
      if (bodyLen < 20) bad('bad-block', `enhanced packet block of ${bodyLen} bytes (< 20)`);
      else packet(u32(body), u32(body + 4), u32(body + 8), u32(body + 12), u32(body + 16), body + 20);
    } else if (type === BLOCK_PB) {
      if (bodyLen < 20) bad('bad-block', `packet block of ${bodyLen} bytes (< 20)`);
      else packet(u16(body), u32(body + 4), u32(body + 8), u32(body + 12), u32(body + 16), body + 20);
    } else if (type === BLOCK_SPB) {
      const iface = interfaces[0];
      if (bodyLen < 4) bad('bad-block', `simple packet block of ${bodyLen} bytes (< 4)`);
      else if (!iface) bad('bad-block', 'simple packet block before any interface description');
      else {
        // No timestamp: the frame takes the previous frame's time (docs/replay-captures.md).
        const origLen = u32(body);
        let capLen = Math.min(origLen, bodyLen - 4);
        if (iface.snaplen > 0) capLen = Math.min(capLen, iface.snaplen);
        let data = buf.subarray(body + 4, body + 4 + capLen);
        if (iface.fcsBytes > 0 && capLen === origLen && capLen >= iface.fcsBytes) data = data.subarray(0, capLen - iface.fcsBytes);
        frames.push({ tsUs: lastTsUs, linkType: iface.linkType, data, origLen, index: frames.length });
      }
    }
    off += total;
    blockNo++;
  }
  return { frames, problems };

  /** Walk options from `from` to `to`, stopping at opt_endofopt or anything that would run past the end. */
  function readOptions(from: number, to: number, each: (code: number, valueOff: number, valueLen: number) => void): void {
    let o = from;
    while (o + 4 <= to) {
      const code = u16(o);
      const len = u16(o + 2);
      if (code === 0 || o + 4 + len > to) return;
      each(code, o + 4, len);
      o += 4 + ((len + 3) & ~3);
    }
  }
}
