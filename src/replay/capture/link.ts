/**
 * Link-layer frame → network-layer packet, per link type. Values and header layouts: tcpdump.org's
 * LINKTYPE list (https://www.tcpdump.org/linktypes.html) and its per-type pages (LINKTYPE_NULL,
 * LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2); VLAN tag protocol identifiers per IEEE 802.1Q (0x8100 C-tag,
 * 0x88a8 S-tag) and the pre-standard 0x9100 QinQ tag. Non-IP traffic (ARP, LLC, ...) is not a problem: it
 * comes back as `other` and is skipped without a word.
 */
import type { Problem } from '../types.js';

export const LINKTYPE_NULL = 0;
export const LINKTYPE_ETHERNET = 1;
/** DLT_RAW's value on most systems (12) and on OpenBSD (14); old files carry these instead of 101. */
export const DLT_RAW_12 = 12;
export const DLT_RAW_14 = 14;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LOOP = 108;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const VLAN_TPIDS = new Set([0x8100, 0x88a8, 0x9100]);
/** BSD loopback address families: AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD, OpenBSD), 28 (FreeBSD), 30 (Darwin). */
const BSD_AF_INET = 2;
const BSD_AF_INET6 = new Set([24, 28, 30]);

const NAMES: Record<number, string> = {
  [LINKTYPE_NULL]: 'NULL (BSD loopback)',
  [LINKTYPE_ETHERNET]: 'ETHERNET',
  [DLT_RAW_12]: 'RAW (DLT 12)',
  [DLT_RAW_14]: 'RAW (DLT 14)',
  [LINKTYPE_RAW]: 'RAW',
  [LINKTYPE_LOOP]: 'LOOP (OpenBSD loopback)',
  [LINKTYPE_LINUX_SLL]: 'LINUX_SLL',
  [LINKTYPE_IPV4]: 'IPV4',
  [LINKTYPE_IPV6]: 'IPV6',
  [LINKTYPE_LINUX_SLL2]: 'LINUX_SLL2',
};

export type LinkResult =
  /** An IP packet (IPv4 or IPv6: its version nibble tells which). */
  | { kind: 'ip'; data: Buffer }
  /** Not IP (ARP, LLC, IPX ...): skipped silently. */
  | { kind: 'other' }
  | { kind: 'problem'; problem: Problem };

export function isSupportedLinkType(linkType: number): boolean {
  return NAMES[linkType] !== undefined;
}

export function linkTypeName(linkType: number): string {
  return NAMES[linkType] ?? `LINKTYPE ${linkType}`;
}

const short = (where: string, what: string, have: number, need: number): LinkResult => ({
  kind: 'problem',
  problem: { kind: 'truncated-frame', detail: `${where}: ${what} header cut short (${have} of ${need} bytes)` },
});

const byEthertype = (type: number, data: Buffer): LinkResult =>
  type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6 ? { kind: 'ip', data } : { kind: 'other' };

/** Strip the link-layer header of a frame captured on an interface of `linkType`. */
export function unwrapLink(linkType: number, data: Buffer, where: string): LinkResult {
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      return unwrapEthernet(data, where);
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      // 4-byte address family: host byte order of the writer for NULL, network byte order for LOOP.
      if (data.length < 4) return short(where, 'loopback', data.length, 4);
      let family = data.readUInt32BE(0);
      if (linkType === LINKTYPE_NULL && family > 0xffff) family = data.readUInt32LE(0);
      if (family === BSD_AF_INET || BSD_AF_INET6.has(family)) return { kind: 'ip', data: data.subarray(4) };
      return { kind: 'other' };
    }
    case LINKTYPE_RAW:
    case DLT_RAW_12:
    case DLT_RAW_14:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return { kind: 'ip', data };
    case LINKTYPE_LINUX_SLL:
      // packet type (2), ARPHRD type (2), address length (2), address (8), protocol (2)
      if (data.length < 16) return short(where, 'Linux cooked (SLL)', data.length, 16);
      return byEthertype(data.readUInt16BE(14), data.subarray(16));
    case LINKTYPE_LINUX_SLL2:
      // protocol (2), reserved (2), interface index (4), ARPHRD type (2), packet type (1), address length (1), address (8)
      if (data.length < 20) return short(where, 'Linux cooked v2 (SLL2)', data.length, 20);
      return byEthertype(data.readUInt16BE(0), data.subarray(20));
    default:
      return {
        kind: 'problem',
        problem: { kind: 'unknown-link-type', detail: `${where}: link type ${linkType} is not supported` },
      };
  }
}

/** Destination (6), source (6), then tags of 4 bytes (TPID, TCI) for as long as the type field is a VLAN TPID. */
function unwrapEthernet(data: Buffer, where: string): LinkResult {
  if (data.length < 14) return short(where, 'Ethernet', data.length, 14);
  let off = 12;
  let type = data.readUInt16BE(off);
  while (VLAN_TPIDS.has(type)) {
    off += 4;
    if (off + 2 > data.length) return short(where, 'Ethernet VLAN', data.length, off + 2);
    type = data.readUInt16BE(off);
  }
  // A type below 0x0600 is an 802.3 length (LLC follows): not IP.
  return byEthertype(type, data.subarray(off + 2));
}
