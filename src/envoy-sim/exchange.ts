/**
 * One simulated HTTP exchange through the ext_proc filter: the downstream client, the upstream and the
 * local-reply paths around ExtProcFilter (docs/envoy-ext-proc.md §8).
 *
 * Timing model: the client sends its body after the filter is done with the request headers (the
 * headers reply came back, or the headers were not sent), all chunks back to back; the upstream answers
 * once the whole request has reached it (or at once on `upstream.early`), its body likewise after the
 * response-headers phase. Each body chunk is one decodeData/encodeData call.
 */
import type * as grpc from '@grpc/grpc-js';
import type { AttributeSource } from './attributes.js';
import type { ResolvedConfig } from './config.js';
import { ExtProcFilter } from './ext-proc-filter.js';
import type { HopSink } from './filter-manager.js';
import { bodyChunks, HeaderList } from './headers.js';
import { buildLocalReply, type LocalReplySpec } from './local-reply.js';
import type { MutationChecker } from './mutation-rules.js';
import type { Direction } from './processor-state.js';
import type { StreamRegistry } from './side-stream.js';
import { emptyStats, type HeaderPairs, type HttpExchange, type SimOutcome, type SimResult, type StatName } from './types.js';

export interface ExchangeDeps {
  client: grpc.Client;
  config: ResolvedConfig;
  checker: MutationChecker;
  registry: StreamRegistry;
  /** Cumulative stats of the EnvoySim. */
  count(stat: StatName): void;
  /** Harness safeguard (not Envoy): an exchange still open after this long ends as 'reset'. */
  watchdogMs: number;
}

interface Collected {
  headers: HeaderList | null;
  body: Buffer[];
  trailers?: HeaderPairs;
  ended: boolean;
}

interface Waiter {
  ready: () => boolean;
  run: () => void;
}

export class ExchangeRun {
  private readonly stats = emptyStats();
  private readonly filter: ExtProcFilter;
  private readonly requestHeaders: HeaderList;
  private readonly attributes: AttributeSource;
  private readonly upstream: Collected = { headers: null, body: [], ended: false };
  private readonly client: Collected = { headers: null, body: [], ended: false };
  private readonly waiters: Waiter[] = [];
  private localReply: LocalReplySpec | null = null;
  private resetDetails: string | undefined;
  private responseScheduled = false;
  private upstreamCancelled = false;
  private done = false;
  private watchdog: NodeJS.Timeout | undefined;
  private settle: { resolve: (r: SimResult) => void; reject: (e: Error) => void } | undefined;

  constructor(
    private readonly deps: ExchangeDeps,
    private readonly x: HttpExchange,
  ) {
    this.requestHeaders = requestHeadersOf(x);
    this.attributes = { requestHeaders: this.requestHeaders, responseHeaders: null, sourceAddress: x.sourceAddress };
    this.filter = new ExtProcFilter({
      client: deps.client,
      config: deps.config,
      checker: deps.checker,
      registry: deps.registry,
      attributes: this.attributes,
      count: (stat) => {
        this.stats[stat]++;
        deps.count(stat);
      },
      hooks: {
        sendLocalReply: (spec) => this.sendLocalReply(spec),
        stateChanged: () => setImmediate(() => this.kick()),
        unsupported: (message) => this.fail(new Error(message)),
      },
      upstream: this.sink(this.upstream, () => this.scheduleResponse()),
      downstream: this.sink(this.client, () => this.finish(this.localReply ? this.localReply.kind : 'passed')),
      overflow: (direction) => this.overflow(direction),
    });
  }

  run(): Promise<SimResult> {
    return new Promise<SimResult>((resolve, reject) => {
      this.settle = { resolve, reject };
      this.watchdog = setTimeout(() => {
        this.resetDetails = 'envoy_sim_watchdog_expired';
        this.finish('reset');
      }, this.deps.watchdogMs);
      const chunks = bodyChunks(this.x.body);
      const trailers = this.x.trailers;
      this.filter.decoderFm.headers(this.requestHeaders, chunks.length === 0 && trailers === undefined);
      this.whenReady(
        () => this.filter.decoding.callbackState !== 'HeadersCallback',
        () => this.deliver('request', chunks, trailers),
      );
    });
  }

  private sink(target: Collected, ended: () => void): HopSink {
    const end = (): void => {
      if (target.ended) return;
      target.ended = true;
      ended();
    };
    return {
      headers: (headers, endStream) => {
        target.headers = headers;
        if (endStream) end();
        else if (target === this.upstream && this.x.upstream?.early === true) this.scheduleResponse();
      },
      data: (data, endStream) => {
        target.body.push(data);
        if (endStream) end();
      },
      trailers: (trailers) => {
        target.trailers = trailers.pairs();
        end();
      },
    };
  }

  private whenReady(ready: () => boolean, run: () => void): void {
    if (this.done) return;
    if (ready()) run();
    else this.waiters.push({ ready, run });
  }

  private kick(): void {
    for (const waiter of [...this.waiters]) {
      if (this.done) return;
      if (!waiter.ready()) continue;
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.run();
    }
  }

  /** Body chunks then trailers, one callback each, stopping if the exchange ended meanwhile. */
  private deliver(direction: Direction, chunks: Buffer[], trailers: HeaderPairs | undefined): void {
    const fm = direction === 'request' ? this.filter.decoderFm : this.filter.encoderFm;
    chunks.forEach((chunk, i) => {
      if (!this.done && !fm.isAborted) fm.data(chunk, i === chunks.length - 1 && trailers === undefined);
    });
    if (trailers !== undefined && !this.done && !fm.isAborted) fm.trailers(new HeaderList(trailers));
  }

  private scheduleResponse(): void {
    if (this.responseScheduled) return;
    this.responseScheduled = true;
    const up = this.x.upstream ?? { status: 200 };
    const answer = (): void => {
      if (this.done || this.upstreamCancelled) return;
      const headers = new HeaderList([[':status', String(up.status)], ...(up.headers ?? [])]);
      this.respond(headers, bodyChunks(up.body), up.trailers);
    };
    if ((up.delayMs ?? 0) > 0) setTimeout(answer, up.delayMs);
    else setImmediate(answer);
  }

  /** A response (the upstream's, or a local reply sent through the filter chain) enters the encoder path. */
  private respond(headers: HeaderList, chunks: Buffer[], trailers: HeaderPairs | undefined): void {
    this.attributes.responseHeaders = headers;
    this.filter.encoderFm.headers(headers, chunks.length === 0 && trailers === undefined);
    this.whenReady(
      () => this.filter.encoding.callbackState !== 'HeadersCallback',
      () => this.deliver('response', chunks, trailers),
    );
  }

  /**
   * Envoy's sendLocalReply: through the encoder filters if the response has not started, straight to the
   * client if it started but nothing was sent downstream yet, otherwise a stream reset (§2.5).
   */
  private sendLocalReply(spec: LocalReplySpec): void {
    if (this.done) return;
    this.upstreamCancelled = true;
    this.filter.decoderFm.abort();
    if (this.client.headers !== null) {
      this.resetDetails = spec.details;
      return this.finish('reset');
    }
    this.localReply = spec;
    const grpc = (this.requestHeaders.first('content-type') ?? '').startsWith('application/grpc');
    const reply = buildLocalReply(spec, { grpc, head: this.x.method.toUpperCase() === 'HEAD' });
    const chunks = reply.body.length > 0 ? [reply.body] : [];
    if (this.filter.encoderFm.started) {
      this.filter.encoderFm.abort();
      this.client.headers = reply.headers;
      this.client.body = chunks;
      return this.finish(spec.kind);
    }
    this.respond(reply.headers, chunks, undefined);
  }

  /** A BUFFERED body over the buffer limit: 413 for requests, 500 for responses (§1.8.3). */
  private overflow(direction: Direction): void {
    const request = direction === 'request';
    this.sendLocalReply({
      code: request ? 413 : 500,
      body: Buffer.from(request ? 'Payload Too Large' : 'Internal Server Error'),
      details: request ? 'request_payload_too_large' : 'response_payload_too_large',
      kind: 'local-reply',
    });
  }

  private finish(outcome: SimOutcome): void {
    this.end(() => this.settle?.resolve(this.result(outcome)));
  }

  private fail(error: Error): void {
    this.end(() => this.settle?.reject(error));
  }

  private end(settle: () => void): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.watchdog);
    this.filter.decoderFm.abort();
    this.filter.encoderFm.abort();
    // Envoy destroys the filter after the event that completed the stream.
    queueMicrotask(() => {
      this.filter.onDestroy();
      settle();
    });
  }

  private result(outcome: SimOutcome): SimResult {
    const status = Number(this.client.headers?.first(':status') ?? 0);
    const headers = (this.client.headers?.pairs() ?? []).filter(([k]) => k !== ':status');
    const result: SimResult = {
      outcome,
      client: { status, headers, body: Buffer.concat(this.client.body) },
      upstreamRequest:
        this.upstream.headers === null
          ? null
          : { headers: this.upstream.headers.pairs(), body: Buffer.concat(this.upstream.body) },
      stats: { ...this.stats },
    };
    if (this.client.trailers) result.client.trailers = this.client.trailers;
    if (result.upstreamRequest && this.upstream.trailers) result.upstreamRequest.trailers = this.upstream.trailers;
    const details = outcome === 'passed' ? 'via_upstream' : outcome === 'reset' ? this.resetDetails : this.localReply?.details;
    if (details !== undefined) result.details = details;
    return result;
  }
}

/** Pseudo-headers first (§1.2); an HTTP/1-style `host` header becomes `:authority`. */
function requestHeadersOf(x: HttpExchange): HeaderList {
  const given = x.headers ?? [];
  const host = given.find(([k]) => k.toLowerCase() === 'host')?.[1];
  const headers = new HeaderList([
    [':method', x.method],
    [':path', x.path],
    [':authority', x.authority ?? host ?? 'localhost'],
    [':scheme', x.scheme ?? 'http'],
  ]);
  for (const [k, v] of given) if (k.toLowerCase() !== 'host') headers.add(k, v);
  return headers;
}
