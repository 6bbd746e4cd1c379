/**
 * Scripted and deliberately broken ext_proc servers (grpc-js on 127.0.0.1, port 0) for the envoy-sim
 * conformance suite, plus an HTTP/2 frame sniffer to see how a client ends its streams.
 */
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import net from 'node:net';
import type {
  CommonResponse,
  HeaderValueOption,
  ProcessingRequest,
  ProcessingResponse,
} from '../../src/extproc/messages.js';
import { loadWire } from '../../src/extproc/proto.js';
import { EnvoySim } from '../../src/envoy-sim/envoy-sim.js';
import type { HttpExchange, SimFilterConfig, SimResult } from '../../src/envoy-sim/types.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from './timeouts.js';

/** One Process stream as the server sees it. */
export interface ServerCall {
  /** Every ProcessingRequest received, in order. */
  readonly received: ProcessingRequest[];
  /** Stream events in order: 'request_headers', 'request_body', …, 'end', 'cancelled'. */
  readonly events: string[];
  write(response: ProcessingResponse): void;
  /** Close with status OK. */
  end(): void;
  /** Close with an error status. */
  fail(code: grpc.status, details?: string): void;
  /** The server ended the call, or the client cancelled it. */
  readonly closed: boolean;
}

/** Called for each received message; returns the replies to send at once (or nothing). */
export type Script = (req: ProcessingRequest, call: ServerCall) => ProcessingResponse | ProcessingResponse[] | void;

export interface TestServer {
  target: string;
  port: number;
  calls: ServerCall[];
  close(): Promise<void>;
}

export async function startProcessor(script: Script): Promise<TestServer> {
  const server = new grpc.Server();
  const calls: ServerCall[] = [];
  server.addService(loadWire().processorService, {
    Process: (stream: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>) => {
      let over = false;
      const call: ServerCall = {
        received: [],
        events: [],
        write: (response) => {
          if (!over) stream.write(response);
        },
        end: () => {
          if (over) return;
          over = true;
          stream.end();
        },
        fail: (code, details = 'test failure') => {
          if (over) return;
          over = true;
          stream.emit('error', { code, details });
        },
        get closed() {
          return over;
        },
      };
      calls.push(call);
      stream.on('data', (req: ProcessingRequest) => {
        call.received.push(req);
        call.events.push(req.request ?? 'unknown');
        const out = script(req, call);
        for (const r of out === undefined ? [] : Array.isArray(out) ? out : [out]) call.write(r);
      });
      stream.on('end', () => call.events.push('end'));
      stream.on('cancelled', () => {
        over = true;
        call.events.push('cancelled');
      });
      stream.on('error', () => {});
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    target: `127.0.0.1:${port}`,
    port,
    calls,
    // forceShutdown: a call the client never closed must not hang the test run.
    close: async () => server.forceShutdown(),
  };
}

/** The reply case answering `req` (request_headers → request_headers, …). */
export function kindOf(req: ProcessingRequest): NonNullable<ProcessingRequest['request']> {
  if (!req.request) throw new Error('request without a oneof case');
  return req.request;
}

export interface Simulated {
  result: SimResult;
  server: TestServer;
  /** The first (usually only) Process call the server saw. */
  call: ServerCall | undefined;
  sim: EnvoySim;
  elapsedMs: number;
}

/**
 * One exchange against a fresh server running `script`; waits for the side stream to close, then tears down.
 * Every exchange here is a connection's first, the slowest on a loaded machine: unless the test sets its own,
 * the message timeout is a patient one.
 */
export async function simulate(script: Script, config: SimFilterConfig, x: HttpExchange): Promise<Simulated> {
  const server = await startProcessor(script);
  const sim = new EnvoySim(server.target, { message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS, ...config });
  try {
    const start = Date.now();
    const result = await sim.exchange(x);
    const elapsedMs = Date.now() - start;
    await waitFor(() => server.calls.every((c) => c.closed), 10_000).catch(() => {});
    return { result, server, call: server.calls[0], sim, elapsedMs };
  } finally {
    sim.close();
    await server.close();
  }
}

/** The matching reply, with an optional CommonResponse (ignored for trailers; use `trailerMutation`). */
export function replyTo(req: ProcessingRequest, common?: CommonResponse): ProcessingResponse {
  const kind = kindOf(req);
  if (kind.endsWith('_trailers')) return { [kind]: {} };
  return { [kind]: common ? { response: common } : {} };
}

/** A well-behaved processor: answers every message with the matching empty reply. */
export const echo: Script = (req) => replyTo(req);

/** A header to set, value in raw_value (§1.5); `append` sets the deprecated BoolValue. */
export function setHeader(key: string, value: string, append?: boolean): HeaderValueOption {
  const option: HeaderValueOption = { header: { key, raw_value: Buffer.from(value) } };
  if (append !== undefined) option.append = { value: append };
  return option;
}

/** Header values of a request's HeaderMap, decoded from raw_value. */
export function headerOf(req: ProcessingRequest, name: string): string | undefined {
  const map = (req.request_headers ?? req.response_headers)?.headers ?? req.request_trailers?.trailers ?? req.response_trailers?.trailers;
  const h = map?.headers?.find((x) => x.key === name);
  return h ? Buffer.from(h.raw_value ?? Buffer.alloc(0)).toString('utf8') : undefined;
}

/** A 127.0.0.1 port nobody listens on. */
export async function unusedPort(): Promise<number> {
  const s = net.createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (cond()) return resolve();
      if (Date.now() - start > ms) return reject(new Error('waitFor: timed out'));
      setTimeout(tick, 5);
    };
    tick();
  });
}

export interface FrameLog {
  /** TCP connections the client opened. */
  connections: number;
  /** Client → server frames on streams other than 0: type name, stream id, flags, RST error code. */
  frames: Array<{ type: string; stream: number; flags: number; errorCode?: number }>;
}

const FRAME_TYPES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];

/** A TCP proxy in front of `port` that records the HTTP/2 frames the client sends. */
export async function startSniffer(port: number): Promise<{ target: string; log: FrameLog; close(): Promise<void> }> {
  const log: FrameLog = { connections: 0, frames: [] };
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    log.connections++;
    sockets.add(client).add(upstream);
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    client.on('data', (d: Buffer) => {
      upstream.write(d);
      buf = Buffer.concat([buf, d]);
      if (!prefaceSeen && buf.length >= 24) {
        buf = buf.subarray(24);
        prefaceSeen = true;
      }
      while (prefaceSeen && buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3] ?? 0;
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        const frame: FrameLog['frames'][number] = { type: FRAME_TYPES[type] ?? String(type), stream, flags: buf[4] ?? 0 };
        if (type === 3) frame.errorCode = buf.readUInt32BE(9);
        if (stream !== 0) log.frames.push(frame);
        buf = buf.subarray(9 + len);
      }
    });
    upstream.on('data', (d: Buffer) => client.write(d));
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('error', () => {});
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  return {
    target: `127.0.0.1:${(proxy.address() as net.AddressInfo).port}`,
    log,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
