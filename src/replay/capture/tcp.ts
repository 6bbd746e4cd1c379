/**
 * TCP and UDP headers → ports, sequence numbers, flags and payload. TCP layout per RFC 9293 §3.1 (data
 * offset in 32-bit words, flags CWR ECE URG ACK PSH RST SYN FIN in byte 13); UDP per RFC 768.
 * Checksums are not verified: captures of locally sent packets routinely carry offloaded (unfilled) ones.
 */
import type { Problem } from '../types.js';

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

export interface TcpHeader {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** The low 8 flag bits (FIN 0x01 … CWR 0x80). */
  flags: number;
  /** Captured payload bytes. */
  payload: Buffer;
  /** Payload length implied by the IP length; more than payload.length when the frame was snapped. */
  payloadLen: number;
}

export interface UdpHeader {
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export type TcpResult = { ok: true; tcp: TcpHeader } | { ok: false; problem: Problem };
export type UdpResult = { ok: true; udp: UdpHeader } | { ok: false; problem: Problem };

/**
 * `seg` is the IP payload as captured; `segLen` the length the IP header claims for it.
 */
export function parseTcp(seg: Buffer, segLen: number, where: string): TcpResult {
  if (seg.length < 20) {
    return { ok: false, problem: { kind: 'bad-tcp-header', detail: `${where}: TCP header cut short (${seg.length} of 20 bytes)` } };
  }
  const dataOffset = (seg[12]! >> 4) * 4;
  if (dataOffset < 20 || dataOffset > segLen) {
    return { ok: false, problem: { kind: 'bad-tcp-header', detail: `${where}: TCP data offset ${dataOffset} (segment is ${segLen} bytes)` } };
  }
  if (dataOffset > seg.length) {
    return { ok: false, problem: { kind: 'bad-tcp-header', detail: `${where}: TCP options cut short (${seg.length} of ${dataOffset} bytes captured)` } };
  }
  return {
    ok: true,
    tcp: {
      srcPort: seg.readUInt16BE(0),
      dstPort: seg.readUInt16BE(2),
      seq: seg.readUInt32BE(4),
      ack: seg.readUInt32BE(8),
      flags: seg[13]!,
      payload: seg.subarray(dataOffset, Math.min(segLen, seg.length)),
      payloadLen: segLen - dataOffset,
    },
  };
}

/** RFC 768: source port, destination port, length (header included), checksum. */
export function parseUdp(seg: Buffer, where: string): UdpResult {
  if (seg.length < 8) {
    return { ok: false, problem: { kind: 'bad-udp-header', detail: `${where}: UDP header cut short (${seg.length} of 8 bytes)` } };
  }
  let len = seg.readUInt16BE(4);
  if (len === 0) len = seg.length; // 0 = jumbogram over IPv6 (RFC 2675 §4); take what is there
  if (len < 8) return { ok: false, problem: { kind: 'bad-udp-header', detail: `${where}: UDP length ${len} (< 8)` } };
  return { ok: true, udp: { srcPort: seg.readUInt16BE(0), dstPort: seg.readUInt16BE(2), payload: seg.subarray(8, Math.min(len, seg.length)) } };
}
