/**
 * IPv4 and IPv6 headers → source, destination, transport protocol and payload (docs/replay-captures.md).
 * IPv4: RFC 791 (header layout, IHL, total length, flags and fragment offset). IPv6: RFC 8200 (fixed
 * 40-byte header, extension header chain §4, fragment header §4.5), AH length per RFC 4302 §2.2.
 * Addresses are text: IPv4 dotted quad, IPv6 in RFC 5952 canonical form.
 */
import type { Problem } from '../types.js';

export interface IpPacket {
  version: 4 | 6;
  src: string;
  dst: string;
  /** The upper-layer protocol number (6 TCP, 17 UDP, 50 ESP, 59 no next header, ...). */
  protocol: number;
  /** The captured payload, trimmed to what the IP header says belongs to it (Ethernet padding dropped). */
  payload: Buffer;
  /** The payload length the IP header claims; larger than payload.length when the frame was snapped. */
  payloadLen: number;
}

export type IpResult = { ok: true; packet: IpPacket } | { ok: false; problem: Problem };

const fail = (kind: string, detail: string): IpResult => ({ ok: false, problem: { kind, detail } });

/** Parse an IPv4 or IPv6 packet (the version nibble decides). `where` prefixes problem details. */
export function parseIp(data: Buffer, where: string): IpResult {
  if (data.length < 1) return fail('bad-ip-header', `${where}: empty IP packet`);
  const version = data[0]! >> 4;
  if (version === 4) return parseIpv4(data, where);
  if (version === 6) return parseIpv6(data, where);
  return fail('bad-ip-header', `${where}: IP version ${version} (expected 4 or 6)`);
}

/** RFC 791 §3.1: version/IHL, TOS, total length, id, flags+fragment offset, TTL, protocol, checksum, src, dst. */
export function parseIpv4(data: Buffer, where: string): IpResult {
  if (data.length < 20) return fail('bad-ip-header', `${where}: IPv4 header cut short (${data.length} of 20 bytes)`);
  const version = data[0]! >> 4;
  if (version !== 4) return fail('bad-ip-header', `${where}: IP version ${version} where IPv4 was expected`);
  const headerLen = (data[0]! & 0x0f) * 4;
  if (headerLen < 20) return fail('bad-ip-header', `${where}: IPv4 header length ${headerLen} (< 20)`);
  if (headerLen > data.length) {
    return fail('bad-ip-header', `${where}: IPv4 header length ${headerLen} beyond the ${data.length} captured bytes`);
  }
  let totalLen = data.readUInt16BE(2);
  // A total length of 0 is what TCP segmentation offload leaves in captured outgoing packets: take the captured length.
  if (totalLen === 0) totalLen = data.length;
  if (totalLen < headerLen) return fail('bad-ip-header', `${where}: IPv4 total length ${totalLen} < header length ${headerLen}`);
  const flagsFrag = data.readUInt16BE(6);
  const moreFragments = (flagsFrag & 0x2000) !== 0;
  const fragOffset = flagsFrag & 0x1fff;
  const src = ipv4Text(data, 12);
  const dst = ipv4Text(data, 16);
  const protocol = data[9]!;
  if (moreFragments || fragOffset !== 0) {
    return fail('ip-fragment', `${where}: IPv4 fragment ${src} → ${dst} (offset ${fragOffset * 8}${moreFragments ? ', more follow' : ''}) skipped`);
  }
  const end = Math.min(totalLen, data.length);
  return { ok: true, packet: { version: 4, src, dst, protocol, payload: data.subarray(headerLen, end), payloadLen: totalLen - headerLen } };
}

/** RFC 8200 §3: version/class/flow, payload length, next header, hop limit, src (16), dst (16); then §4's chain. */
export function parseIpv6(data: Buffer, where: string): IpResult {
  if (data.length < 40) return fail('bad-ip-header', `${where}: IPv6 header cut short (${data.length} of 40 bytes)`);
  const version = data[0]! >> 4;
  if (version !== 6) return fail('bad-ip-header', `${where}: IP version ${version} where IPv6 was expected`);
  // Payload length 0 with a hop-by-hop jumbo payload option (RFC 2675): take what was captured.
  let payloadLen = data.readUInt16BE(4);
  if (payloadLen === 0) payloadLen = data.length - 40;
  const src = ipv6Text(data, 8);
  const dst = ipv6Text(data, 24);
  const end = Math.min(40 + payloadLen, data.length);
  let next = data[6]!;
  let off = 40;
  for (;;) {
    if (next === 0 || next === 43 || next === 60 || next === 44 || next === 51) {
      if (off + 8 > end) return fail('bad-ip-header', `${where}: IPv6 extension header ${next} cut short`);
      let len: number;
      if (next === 44) {
        // Fragment header (§4.5): 8 bytes; offset (13 bits) and M flag. An "atomic fragment" (offset 0, M 0) is whole.
        const offM = data.readUInt16BE(off + 2);
        if ((offM & 0xfff8) !== 0 || (offM & 1) !== 0) {
          return fail('ip-fragment', `${where}: IPv6 fragment ${src} → ${dst} (offset ${offM & 0xfff8}${offM & 1 ? ', more follow' : ''}) skipped`);
        }
        len = 8;
      } else if (next === 51) {
        len = (data[off + 1]! + 2) * 4; // AH: payload length in 4-octet units, minus 2 (RFC 4302 §2.2)
      } else {
        len = (data[off + 1]! + 1) * 8; // Hdr Ext Len in 8-octet units, not counting the first 8 (RFC 8200 §4.3)
      }
      if (off + len > end) return fail('bad-ip-header', `${where}: IPv6 extension header ${next} (${len} bytes) runs past the packet`);
      next = data[off]!;
      off += len;
      continue;
    }
    // Anything else (TCP, UDP, ESP 50, no next header 59, ICMPv6 ...) ends the chain.
    break;
  }
  const payload = next === 59 ? data.subarray(end, end) : data.subarray(off, end);
  const claimed = next === 59 ? 0 : 40 + payloadLen - off;
  return { ok: true, packet: { version: 6, src, dst, protocol: next, payload, payloadLen: claimed } };
}

export function ipv4Text(buf: Buffer, off: number): string {
  return `${buf[off]}.${buf[off + 1]}.${buf[off + 2]}.${buf[off + 3]}`;
}

/** RFC 5952 §4: lower-case hex, no leading zeros, the longest run (first if tied) of two or more zero groups as '::'. */
export function ipv6Text(buf: Buffer, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(off + i * 2));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (bestLen < 2) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}
