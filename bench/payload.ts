/**
 * The request every benchmark stream carries: a gRPC-framed envoy.service.ext_proc.v3
 * ProcessingRequest (request_headers, end_of_stream) as Envoy sends it for a typical API call, encoded
 * once with the service's own serializer so h2load and the paced generator can replay the bytes. The
 * many-keys scenario uses the same request with a different x-api-key per payload.
 */
import { writeFileSync } from 'node:fs';
import { loadWire } from '../src/extproc/proto.js';
import type { ProcessingRequest, ProcessingResponse } from '../src/extproc/messages.js';

export const SOURCE_ADDRESS = '203.0.113.7:50000';

export const BENCH_API_KEY = 'ak_live_4f9c2b7e1d8a4c6f9e0b3a5d7c1e2f40';

/** ≈12 browser/API-like request headers, values in raw_value as Envoy sends them. */
export const BENCH_HEADERS: ReadonlyArray<readonly [string, string]> = [
  [':method', 'GET'],
  [':path', '/api/v1/orders/12345'],
  [':authority', 'api.example.com'],
  [':scheme', 'https'],
  ['user-agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36'],
  ['accept', 'application/json, text/plain, */*'],
  ['accept-encoding', 'gzip, deflate, br'],
  ['accept-language', 'en-GB,en;q=0.9'],
  ['x-api-key', BENCH_API_KEY],
  ['x-request-id', '9b2f6a1c-3d4e-4f5a-8b6c-7d8e9f0a1b2c'],
  ['x-forwarded-proto', 'https'],
  ['referer', 'https://app.example.com/orders'],
];

/** The i-th of the many-keys scenario's API keys: same shape as BENCH_API_KEY, distinct for every i. */
export function apiKeyFor(i: number): string {
  return `ak_live_${i.toString(16).padStart(32, '0')}`;
}

export function benchRequest(apiKey = BENCH_API_KEY): ProcessingRequest {
  return {
    request_headers: {
      headers: {
        headers: BENCH_HEADERS.map(([key, value]) => ({ key, raw_value: Buffer.from(key === 'x-api-key' ? apiKey : value) })),
      },
      end_of_stream: true,
    },
    attributes: {
      'envoy.filters.http.ext_proc': { fields: { 'source.address': { stringValue: SOURCE_ADDRESS } } },
    },
  };
}

/** gRPC length-prefixed message: 1 byte compressed flag (0), 4 bytes big-endian length, the message. */
export function grpcFrame(message: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

export function encodeBenchFrame(apiKey = BENCH_API_KEY): Buffer {
  const method = loadWire().processorService['Process'];
  if (!method) throw new Error('ExternalProcessor service has no Process method');
  return grpcFrame(method.requestSerialize(benchRequest(apiKey)));
}

/** Writes `n` frames back to back, the i-th with apiKeyFor(i) (the paced generator cycles through them). */
export function writeKeyedPayloads(path: string, n: number): void {
  const frames: Buffer[] = [];
  for (let i = 0; i < n; i++) frames.push(encodeBenchFrame(apiKeyFor(i)));
  writeFileSync(path, Buffer.concat(frames));
}

/** The gRPC frames in a buffer of back-to-back frames (views, not copies). */
export function splitFrames(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at + 5 <= buf.length) {
    const end = at + 5 + buf.readUInt32BE(at + 1);
    if (end > buf.length) throw new Error(`truncated gRPC frame at byte ${at}`);
    out.push(buf.subarray(at, end));
    at = end;
  }
  if (out.length === 0) throw new Error('no gRPC frame in the payload file');
  return out;
}

/** Writes the framed request to `path` (h2load --data) and returns its size in bytes. */
export function writeBenchPayload(path: string): number {
  const frame = encodeBenchFrame();
  writeFileSync(path, frame);
  return frame.length;
}

/** Decodes the framed ProcessingResponse(s) in a gRPC response body. */
export function decodeResponseFrames(body: Buffer): ProcessingResponse[] {
  const method = loadWire().processorService['Process'];
  if (!method) throw new Error('ExternalProcessor service has no Process method');
  const out: ProcessingResponse[] = [];
  let at = 0;
  while (at + 5 <= body.length) {
    const len = body.readUInt32BE(at + 1);
    out.push(method.responseDeserialize(body.subarray(at + 5, at + 5 + len)) as ProcessingResponse);
    at += 5 + len;
  }
  return out;
}
