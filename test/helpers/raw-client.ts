import * as grpc from '@grpc/grpc-js';
import { loadWire, PROCESS_METHOD } from '../../src/extproc/proto.js';
import type { ProcessingRequest, ProcessingResponse } from '../../src/extproc/messages.js';

/**
 * A bare grpc-js client for the Process stream, for tests that must send what Envoy never would
 * (undecodable bytes, empty messages, messages out of order) and watch every reply and the status.
 */
export interface RawStream {
  /** Send a message, or raw bytes that bypass protobuf encoding. */
  send(msg: ProcessingRequest | Buffer): void;
  end(): void;
  cancel(): void;
  replies: ProcessingResponse[];
  /** Resolves with the final gRPC status (OK, an error, or CANCELLED). */
  status: Promise<{ code: number; details: string }>;
  /** Resolves when `n` replies have arrived (rejects after timeoutMs). */
  waitReplies(n: number, timeoutMs?: number): Promise<ProcessingResponse[]>;
}

export function rawClient(target: string): { open(): RawStream; close(): void } {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const def = loadWire().processorService.Process!;
  const encode = (m: ProcessingRequest | Buffer) => (Buffer.isBuffer(m) ? m : def.requestSerialize(m));
  return {
    open() {
      const call = client.makeBidiStreamRequest(PROCESS_METHOD, encode, (b: Buffer) => def.responseDeserialize(b) as ProcessingResponse);
      const replies: ProcessingResponse[] = [];
      const waiters: Array<() => void> = [];
      call.on('data', (r: ProcessingResponse) => {
        replies.push(r);
        for (const w of waiters.splice(0)) w();
      });
      const status = new Promise<{ code: number; details: string }>((resolve) => {
        call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details }));
        call.on('error', () => undefined);
      });
      return {
        send: (m) => call.write(m),
        end: () => call.end(),
        cancel: () => call.cancel(),
        replies,
        status,
        waitReplies(n, timeoutMs = 30_000) {
          return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`got ${replies.length} of ${n} replies`)), timeoutMs);
            const check = () => {
              if (replies.length >= n) {
                clearTimeout(timer);
                resolve(replies);
              } else waiters.push(check);
            };
            check();
          });
        },
      };
    },
    close: () => client.close(),
  };
}

export function headers(pairs: Array<[string, string | Buffer]>, endOfStream = true): ProcessingRequest {
  return {
    request_headers: {
      headers: { headers: pairs.map(([key, v]) => ({ key, raw_value: Buffer.isBuffer(v) ? v : Buffer.from(v, 'latin1') })) },
      end_of_stream: endOfStream,
    },
  };
}

export function getRequest(path = '/api/items/1', extra: Array<[string, string | Buffer]> = []): ProcessingRequest {
  return headers([[':method', 'GET'], [':path', path], [':authority', 'api.example'], [':scheme', 'http'], ...extra]);
}
