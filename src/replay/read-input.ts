/**
 * One input file → the exchanges in it, whatever it is: a pcap or pcapng capture (by its magic
 * number), an Envoy JSON access log (lines of JSON objects) or an Apache/Nginx combined log. A gzip
 * file is unpacked first. A file that is none of these is refused with a ReplayInputError.
 */
import { basename } from 'node:path';
import { ReplayInputError } from '../errors.js';
import { readCapture } from './capture/read-capture.js';
import { exchangesFromConnections } from './http/exchanges.js';
import { readCombinedLog } from './logs/combined-log.js';
import { readEnvoyJsonLog } from './logs/envoy-json-log.js';
import { gunzipBounded, MAX_INPUT_BYTES, readBounded } from './read-file.js';
import type { ReplayInput } from './types.js';

export interface ReadOptions {
  /** Body bytes kept per message (the rest is counted, not kept). Default 64 KiB. */
  maxBodyBytes?: number;
  /** The most bytes an input may hold, after decompression (default MAX_INPUT_BYTES, 1 GiB). */
  maxInputBytes?: number;
}

const PCAP_MAGICS = new Set([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1]);
const PCAPNG_MAGIC = 0x0a0d0d0a;

export function sniff(buf: Buffer): 'pcap' | 'pcapng' | 'gzip' | 'text' {
  if (buf.length >= 4) {
    const magic = buf.readUInt32BE(0);
    if (PCAP_MAGICS.has(magic)) return 'pcap';
    if (magic === PCAPNG_MAGIC) return 'pcapng';
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip';
  return 'text';
}

function firstLine(buf: Buffer): string {
  const text = buf.subarray(0, 64 * 1024).toString('latin1');
  return text.split(/\r?\n/).find((l) => l.trim() !== '')?.trim() ?? '';
}

/** Reads buffer contents already in memory; `file` names it in messages. */
export function readInputBuffer(data: Buffer, file: string, opts: ReadOptions = {}): ReplayInput {
  let buf = data;
  if (sniff(buf) === 'gzip') buf = gunzipBounded(buf, file, opts.maxInputBytes ?? MAX_INPUT_BYTES);
  if (buf.length === 0) throw new ReplayInputError(file, 'is empty');
  const kind = sniff(buf);
  const name = basename(file);
  let input: ReplayInput;
  if (kind === 'pcap' || kind === 'pcapng') {
    const capture = readCapture(buf, file);
    const http = exchangesFromConnections(capture.connections, { maxBodyBytes: opts.maxBodyBytes ?? 65_536 });
    input = {
      file,
      kind: capture.format,
      requests: http.requests,
      responses: http.responses,
      exchanges: http.exchanges,
      udpHttpRequests: capture.udpHttpRequests,
      problems: [...capture.problems, ...http.problems],
    };
  } else if (kind === 'gzip') {
    throw new ReplayInputError(file, 'is gzip inside gzip: unpack it first');
  } else if (firstLine(buf).startsWith('{')) {
    input = readEnvoyJsonLog(buf, file);
  } else {
    input = readCombinedLog(buf, file);
  }
  for (const x of input.exchanges) x.origin = `${name} ${x.origin}`;
  return input;
}

/** Reads a file (bounded: read-file.ts) and what is in it. */
export function readInput(file: string, opts: ReadOptions = {}): ReplayInput {
  return readInputBuffer(readBounded(file, opts.maxInputBytes ?? MAX_INPUT_BYTES), file, opts);
}

/** Every input's exchanges merged into one timeline (stable: equal times keep input order). */
export function mergeExchanges(inputs: readonly ReplayInput[]): ReplayInput['exchanges'] {
  const all = inputs.flatMap((i) => i.exchanges);
  return all.map((x, k) => ({ x, k })).sort((a, b) => a.x.tsUs - b.x.tsUs || a.k - b.k).map(({ x }) => x);
}
