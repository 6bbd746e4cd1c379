/**
 * A pcap or pcapng file, whole in memory → reassembled TCP connections (docs/replay-captures.md):
 * format by magic, then per frame link layer → IP → TCP (into the reassembler) or UDP (HTTP request lines
 * counted, never replayed). Only an unrecognisable file throws (ReplayInputError); everything else that
 * cannot be read becomes a Problem next to what could.
 */
import { ReplayInputError } from '../../errors.js';
import type { CaptureContents, Problem } from '../types.js';
import { parseIp } from './ip.js';
import { isSupportedLinkType, unwrapLink } from './link.js';
import { pcapMagic, readPcap, type FramesRead } from './pcap.js';
import { isPcapng, readPcapng } from './pcapng.js';
import { TcpReassembler } from './reassembly.js';
import { parseTcp, parseUdp } from './tcp.js';

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

/** An HTTP/1 request line: method token, target, version, line end (RFC 9112 §3). */
const REQUEST_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^\s]+ HTTP\/\d\.\d\r?\n/;

export function isHttpRequestDatagram(payload: Buffer): boolean {
  return REQUEST_LINE.test(payload.subarray(0, 8192).toString('latin1'));
}

export function readCapture(buf: Buffer, file: string): CaptureContents {
  let format: CaptureContents['format'];
  let read: FramesRead;
  if (pcapMagic(buf)) {
    format = 'pcap';
    read = readPcap(buf, file);
  } else if (isPcapng(buf)) {
    format = 'pcapng';
    read = readPcapng(buf, file);
  } else {
    throw new ReplayInputError(file, `not a pcap or pcapng capture (${describeStart(buf)})`);
  }
  const problems: Problem[] = [...read.problems];
  const reassembler = new TcpReassembler();
  let udpHttpRequests = 0;
  for (const frame of read.frames) {
    // Unsupported link types were reported once per interface by the format reader.
    if (!isSupportedLinkType(frame.linkType)) continue;
    const where = `frame ${frame.index}`;
    const link = unwrapLink(frame.linkType, frame.data, where);
    if (link.kind === 'other') continue;
    if (link.kind === 'problem') {
      problems.push(link.problem);
      continue;
    }
    const ip = parseIp(link.data, where);
    if (!ip.ok) {
      problems.push(ip.problem);
      continue;
    }
    const { src, dst, protocol, payload, payloadLen } = ip.packet;
    if (protocol === IPPROTO_TCP) {
      const parsed = parseTcp(payload, payloadLen, where);
      if (!parsed.ok) {
        problems.push(parsed.problem);
        continue;
      }
      const t = parsed.tcp;
      reassembler.add({
        tsUs: frame.tsUs,
        src: { ip: src, port: t.srcPort },
        dst: { ip: dst, port: t.dstPort },
        seq: t.seq,
        ack: t.ack,
        flags: t.flags,
        payload: t.payload,
        payloadLen: t.payloadLen,
      });
    } else if (protocol === IPPROTO_UDP) {
      const parsed = parseUdp(payload, where);
      if (!parsed.ok) problems.push(parsed.problem);
      else if (isHttpRequestDatagram(parsed.udp.payload)) udpHttpRequests++;
    }
  }
  const tcp = reassembler.finish();
  problems.push(...tcp.problems);
  return { format, frames: read.frames.length, connections: tcp.connections, udpHttpRequests, problems };
}

/** "first bytes 3c 21 44 4f", with a hint for the usual suspects. */
function describeStart(buf: Buffer): string {
  if (buf.length === 0) return 'empty file';
  const hex = [...buf.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  if (buf[0] === 0x1f && buf[1] === 0x8b) return `first bytes ${hex}: gzip-compressed, decompress it first`;
  return `first bytes ${hex}`;
}
