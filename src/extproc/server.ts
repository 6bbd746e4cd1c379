import * as grpc from '@grpc/grpc-js';
import type { Http2Server } from 'node:http2';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { formatAddress } from '../settings.js';
import { ThrottledLog } from '../obs/throttled-log.js';
import { ConnectionWatch } from './connections.js';
import { watchTlsHandshakes } from './tls-handshakes.js';
import { EXT_PROC_SERVICE_NAME, loadWire } from './proto.js';
import type { Call, ExchangeHandler } from './stream.js';
import { ExchangeStream } from './stream.js';

export interface ExtProcServerOptions {
  host: string;
  port: number;
  maxStreams: number;
  maxBodyBytes: number;
  maxMessageBytes: number;
  /** Ping period of each HTTP/2 connection; one that misses a ping is closed and counted (connections.ts). 0 = off. */
  connectionPingMs?: number;
  /**
   * mTLS (PEM): the server's certificate chain and key, and the CA bundle clients must present a
   * certificate from (checkClientCertificate: a client without one, or with one from another CA, fails
   * the handshake). Unset = plaintext, which settings allow only on loopback unless told otherwise.
   */
  tls?: { cert: Buffer; key: Buffer; clientCa: Buffer };
}

type ServingStatus = 'SERVING' | 'NOT_SERVING';

/**
 * The gRPC server: envoy.service.ext_proc.v3.ExternalProcessor/Process (one stream per HTTP exchange)
 * and grpc.health.v1.Health. `drain()` implements graceful shutdown: report NOT_SERVING, stop
 * accepting, let in-flight streams finish for up to `graceMs`, then answer what is in flight and close
 * the rest with OK — Envoy then continues those requests without vigil (docs/protocol.md).
 */
export class ExtProcServer {
  private readonly server: grpc.Server;
  private readonly streams = new Set<ExchangeStream>();
  private status: ServingStatus = 'NOT_SERVING';
  private readonly watchers = new Set<grpc.ServerWritableStream<{ service?: string }, { status: ServingStatus }>>();
  private readonly connections: ConnectionWatch;
  port = 0;

  constructor(
    private readonly options: ExtProcServerOptions,
    private readonly handler: ExchangeHandler,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    const wire = loadWire();
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxMessageBytes,
      'grpc.max_send_message_length': options.maxMessageBytes,
    });
    raiseResetLimit(this.server);
    this.connections = new ConnectionWatch(metrics, logger, options.connectionPingMs ?? 10_000);
    this.server.addService(wire.processorService, { Process: (call: Call) => this.process(call) });
    this.server.addService(wire.healthService, {
      Check: (call: grpc.ServerUnaryCall<{ service?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const service = call.request.service ?? '';
        if (service !== '' && service !== EXT_PROC_SERVICE_NAME) {
          cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${service}` });
          return;
        }
        cb(null, { status: this.status });
      },
      Watch: (call: grpc.ServerWritableStream<{ service?: string }, { status: ServingStatus }>) => {
        const service = call.request.service ?? '';
        if (service !== '' && service !== EXT_PROC_SERVICE_NAME) {
          call.write({ status: 'SERVICE_UNKNOWN' as ServingStatus });
          return;
        }
        this.watchers.add(call);
        call.write({ status: this.status });
        call.on('cancelled', () => this.watchers.delete(call));
      },
    });
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  get serving(): boolean {
    return this.status === 'SERVING';
  }

  async start(): Promise<number> {
    const address = formatAddress({ host: this.options.host, port: this.options.port });
    const tls = this.options.tls;
    const credentials = tls
      ? grpc.ServerCredentials.createSsl(tls.clientCa, [{ cert_chain: tls.cert, private_key: tls.key }], true)
      : grpc.ServerCredentials.createInsecure();
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port))),
    );
    const handshakes = tls ? new ThrottledLog(this.logger) : null;
    for (const h of http2ServersOf(this.server)) {
      this.connections.attach(h);
      if (handshakes) watchTlsHandshakes(h, this.metrics, handshakes);
    }
    this.setStatus('SERVING');
    return this.port;
  }

  private process(call: Call): void {
    this.metrics.streams.inc([]);
    if (this.streams.size >= this.options.maxStreams || this.status !== 'SERVING') {
      const why = this.status !== 'SERVING' ? 'draining' : 'over-max-streams';
      this.handler.problem(why, `refusing stream (${this.streams.size} open)`);
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `vigil: ${why}` });
      return;
    }
    const live = this.metrics.live;
    const stream = new ExchangeStream(call, this.handler, this.options.maxBodyBytes, () => {
      this.streams.delete(stream);
      live.streams = this.streams.size;
    });
    this.streams.add(stream);
    live.streams = this.streams.size;
  }

  private setStatus(status: ServingStatus): void {
    this.status = status;
    for (const w of this.watchers) w.write({ status });
  }

  /** Graceful shutdown; resolves when the server is down. */
  async drain(graceMs: number): Promise<void> {
    this.setStatus('NOT_SERVING');
    this.connections.stop();
    for (const w of this.watchers) w.end();
    this.watchers.clear();
    const stopped = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    const deadline = Date.now() + graceMs;
    while (this.streams.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (this.streams.size > 0) {
      this.logger.info({ streams: this.streams.size }, 'drain grace over: closing remaining streams (Envoy continues without vigil)');
      for (const s of this.streams) s.closeWhenIdle();
      const hard = Date.now() + 1000;
      while (this.streams.size > 0 && Date.now() < hard) await new Promise((r) => setTimeout(r, 10));
    }
    // Let the closes (status trailers) flush: tryShutdown resolves once every session has ended.
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 1000))]);
    this.server.forceShutdown();
  }
}

/**
 * Envoy ends every side stream with END_STREAM and then RST_STREAM (docs/protocol.md §11), so vigil
 * receives one reset per exchange. Node's HTTP/2 server counts received resets against nghttp2's
 * rapid-reset limit (CVE-2023-44487 mitigation: a burst of 1000, refilled at 33 a second) and sends
 * GOAWAY when it runs out, which would drop Envoy's connection every few seconds at ordinary load
 * (grpc/grpc-node#2625). Node releases that carry nodejs/node#54875 take `streamResetBurst` and
 * `streamResetRate` server options; Node 20.20.2 does not (the option name is absent from its binary),
 * so there the fix is Envoy's graceful close (docs/protocol.md §14). grpc-js builds its http2 server
 * from `commonServerOptions` at bind time and has no channel option for these, so they are set there
 * before binding, and take effect wherever Node knows them. The limit stays finite: vigil's peer is the
 * local Envoy on loopback, and VIGIL_MAX_STREAMS bounds concurrent streams.
 */
export const STREAM_RESET_BURST = 1_000_000;
export const STREAM_RESET_RATE = 1_000_000;

/**
 * The HTTP/2 servers grpc-js made at bind time (one per bound address), for their 'session' events:
 * grpc-js has no API for its connections. Checked like raiseResetLimit: a grpc-js without the map
 * fails start-up (and the tests) rather than leaving connection drops unseen.
 */
function http2ServersOf(server: grpc.Server): Http2Server[] {
  const map = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!(map instanceof Map) || map.size === 0) throw new Error('grpc-js Server has no http2Servers: cannot watch HTTP/2 connections (see server.ts)');
  return [...map.keys()];
}

function raiseResetLimit(server: grpc.Server): void {
  const opts = (server as unknown as { commonServerOptions?: Record<string, unknown> }).commonServerOptions;
  if (!opts) throw new Error('grpc-js Server has no commonServerOptions: cannot raise the HTTP/2 reset limit (see server.ts)');
  opts.streamResetBurst = STREAM_RESET_BURST;
  opts.streamResetRate = STREAM_RESET_RATE;
}
