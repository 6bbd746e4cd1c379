/**
 * Classic pcap files → frames. Layout per draft-ietf-opsawg-pcap (§4 file header, §5 packet record):
 *
 *   file header (24): magic, version major (2), minor (2), reserved1/thiszone (4), reserved2/sigfigs (4),
 *                     snaplen (4), LinkType and additional information (4)
 *   record header (16): timestamp seconds, timestamp µs or ns, captured length, original length
 *
 * The magic, as read in the writer's byte order, is 0xA1B2C3D4 (µs timestamps) or 0xA1B23C4D (ns).
 */
import { ReplayInputError } from '../../errors.js';
import type { Frame, Problem } from '../types.js';
import { isSupportedLinkType, linkTypeName } from './link.js';

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;

const FILE_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;

/** What a capture-format reader hands on: every frame it could read, and what it could not. */
export interface FramesRead {
  frames: Frame[];
  problems: Problem[];
}

/** The timestamp precision and byte order the first four bytes announce, or null when they are not a pcap magic. */
export function pcapMagic(buf: Buffer): { nanos: boolean; littleEndian: boolean } | null {
  if (buf.length < 4) return null;
  const le = buf.readUInt32LE(0);
  const be = buf.readUInt32BE(0);
  if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS) return { nanos: le === PCAP_MAGIC_NS, littleEndian: true };
  if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) return { nanos: be === PCAP_MAGIC_NS, littleEndian: false };
  return null;
}

/**
 * The draft's "LinkType and additional information" field: link type in the low 16 bits; when the P bit
 * (0x04000000) is set, the top 4 bits give the FCS length in 16-bit words (libpcap's LT_FCS_LENGTH).
 */
export function splitLinkTypeField(field: number): { linkType: number; fcsBytes: number } {
  const linkType = field & 0xffff;
  const fcsPresent = (field & 0x04000000) !== 0;
  return { linkType, fcsBytes: fcsPresent ? (field >>> 28) * 2 : 0 };
}

/** Read every record of a classic pcap file. Throws ReplayInputError only when the file header is unusable. */
export function readPcap(buf: Buffer, file: string): FramesRead {
  const magic = pcapMagic(buf);
  if (!magic) throw new ReplayInputError(file, 'not a pcap file (bad magic)');
  if (buf.length < FILE_HEADER_LEN) {
    throw new ReplayInputError(file, `pcap file header cut short (${buf.length} of ${FILE_HEADER_LEN} bytes)`);
  }
  const u32 = (off: number): number => (magic.littleEndian ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const { linkType, fcsBytes } = splitLinkTypeField(u32(20));
  const frames: Frame[] = [];
  const problems: Problem[] = [];
  if (!isSupportedLinkType(linkType)) {
    problems.push({ kind: 'unknown-link-type', detail: `link type ${linkTypeName(linkType)} is not supported; its frames are skipped` });
  }
  const fracPerUs = magic.nanos ? 1000 : 1;
  let off = FILE_HEADER_LEN;
  while (off < buf.length) {
    const index = frames.length;
    const left = buf.length - off;
    if (left < RECORD_HEADER_LEN) {
      problems.push({ kind: 'truncated-record', detail: `record ${index} at byte ${off}: header cut short (${left} of ${RECORD_HEADER_LEN} bytes)` });
      break;
    }
    const sec = u32(off);
    const frac = u32(off + 4);
    const inclLen = u32(off + 8);
    const origLen = u32(off + 12);
    if (inclLen > left - RECORD_HEADER_LEN) {
      problems.push({
        kind: 'truncated-record',
        detail: `record ${index} at byte ${off}: ${inclLen} captured bytes announced, ${left - RECORD_HEADER_LEN} left (file cut short or corrupt)`,
      });
      break;
    }
    const start = off + RECORD_HEADER_LEN;
    let data = buf.subarray(start, start + inclLen);
    // Drop a trailing FCS when the frame was captured whole (a snapped frame has lost it already).
    if (fcsBytes > 0 && inclLen === origLen && inclLen >= fcsBytes) data = data.subarray(0, inclLen - fcsBytes);
    frames.push({ tsUs: sec * 1e6 + frac / fracPerUs, linkType, data, origLen, index });
    off = start + inclLen;
  }
  return { frames, problems };
}
