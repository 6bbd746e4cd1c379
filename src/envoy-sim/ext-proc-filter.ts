/**
 * Envoy's ext_proc HTTP filter for one exchange (docs/envoy-ext-proc.md §8): owns the lazily opened side
 * stream, builds ProcessingRequests, and maps stream failures, timeouts and processing errors to
 * Envoy's outcomes (§2.3–2.7). The HTTP callbacks are in http-callbacks.ts, reply handling in
 * receive-message.ts.
 */
import type * as grpc from '@grpc/grpc-js';
import type { ImmediateResponse, ProcessingRequest, ProcessingResponse } from '../extproc/messages.js';
import { ATTRIBUTES_KEY, type AttributeSource, evaluateAttributes } from './attributes.js';
import type { ResolvedConfig } from './config.js';
import { FilterManagerDirection, type HopSink } from './filter-manager.js';
import type { HeaderList } from './headers.js';
import { DirectionHandler } from './http-callbacks.js';
import { type LocalReplySpec, statusCodeNumber } from './local-reply.js';
import type { MutationChecker } from './mutation-rules.js';
import { applyHeaderMutations, detailsOf } from './mutations.js';
import { type CallbackState, type Direction, ProcessorState, type StateHost } from './processor-state.js';
import { receiveMessage } from './receive-message.js';
import { SideStream, type SideStreamCallbacks, type StreamRegistry } from './side-stream.js';
import type { StatName } from './types.js';

/** What the filter needs from the exchange around it. */
export interface FilterHooks {
  sendLocalReply(spec: LocalReplySpec): void;
  /** Called after every asynchronous event (reply, close, error, timeout). */
  stateChanged(): void;
  /** The processor used something envoy-sim does not emulate; the exchange fails with this message. */
  unsupported(message: string): void;
}

export interface FilterDeps {
  client: grpc.Client;
  config: ResolvedConfig;
  checker: MutationChecker;
  count(stat: StatName): void;
  registry: StreamRegistry;
  hooks: FilterHooks;
  attributes: AttributeSource;
  upstream: HopSink;
  downstream: HopSink;
  overflow(direction: Direction): void;
}

export type OpenState = 'ok' | 'error' | 'ignore';

export class ExtProcFilter implements StateHost, SideStreamCallbacks {
  processingComplete = false;
  sentImmediateResponse = false;
  readonly config: ResolvedConfig;
  readonly checker: MutationChecker;
  readonly hooks: FilterHooks;
  readonly decoderFm: FilterManagerDirection;
  readonly encoderFm: FilterManagerDirection;
  readonly decoding: ProcessorState;
  readonly encoding: ProcessorState;
  private stream: SideStream | null = null;
  private protocolConfigEncoded = false;

  constructor(private readonly deps: FilterDeps) {
    this.config = deps.config;
    this.checker = deps.checker;
    this.hooks = deps.hooks;
    const limit = deps.config.bufferLimitBytes;
    this.decoderFm = new FilterManagerDirection(new DirectionHandler(this, 'request'), deps.upstream, limit, () =>
      deps.overflow('request'),
    );
    this.encoderFm = new FilterManagerDirection(new DirectionHandler(this, 'response'), deps.downstream, limit, () =>
      deps.overflow('response'),
    );
    this.decoding = new ProcessorState('request', this.decoderFm, this, deps.config.mode);
    this.encoding = new ProcessorState('response', this.encoderFm, this, deps.config.mode);
  }

  count(stat: StatName): void {
    this.deps.count(stat);
  }

  get hasStream(): boolean {
    return this.stream !== null;
  }

  /** §0.1: the stream is opened lazily, on the first message to send. */
  openStream(): OpenState {
    if (this.processingComplete) return 'ignore';
    if (!this.stream) {
      let stream: SideStream;
      try {
        stream = new SideStream(this.deps.client, this, this.deps.config.gracefulClose);
      } catch (err) {
        // The stream could not even start (e.g. the client was closed): a gRPC error (§2.4).
        this.onGrpcError(14, String(err));
        return this.sentImmediateResponse ? 'error' : 'ignore';
      }
      this.count('streams_started');
      this.stream = stream;
      this.deps.registry.add(stream);
    }
    return 'ok';
  }

  sendRequest(req: ProcessingRequest): void {
    this.stream?.send(req);
    this.count('stream_msgs_sent');
  }

  closeStream(): void {
    if (!this.stream) return;
    if (this.stream.close()) this.count('streams_closed');
    this.deps.registry.delete(this.stream);
    this.stream = null;
  }

  closeStreamMaybeGraceful(): void {
    this.processingComplete = true;
    this.closeStream();
  }

  /** §1.2: attributes once per direction, on that direction's first message. */
  private addAttributes(state: ProcessorState, req: ProcessingRequest): void {
    const names = state.direction === 'request' ? this.config.requestAttributes : this.config.responseAttributes;
    if (state.sentAttributes || names.length === 0) return;
    req.attributes = { [ATTRIBUTES_KEY]: evaluateAttributes(names, this.deps.attributes) };
    state.sentAttributes = true;
  }

  /** §1.2: protocol_config only in the stream's first message (1.37 here), never in observability mode. */
  private encodeProtocolConfig(req: ProcessingRequest): void {
    if (this.config.version !== '1.37' || this.protocolConfigEncoded || this.config.observability) return;
    const config: NonNullable<ProcessingRequest['protocol_config']> = {};
    if (this.decoding.bodyMode !== 'NONE') config.request_body_mode = this.decoding.bodyMode;
    if (this.encoding.bodyMode !== 'NONE') config.response_body_mode = this.encoding.bodyMode;
    req.protocol_config = config;
    this.protocolConfigEncoded = true;
  }

  /** Fields Envoy's C++ protobuf would leave off the wire (false, empty bytes) are left out here too. */
  private baseRequest(state: ProcessorState, observability: boolean): ProcessingRequest {
    const req: ProcessingRequest = {};
    if (observability) req.observability_mode = true;
    this.addAttributes(state, req);
    req.metadata_context = {};
    return req;
  }

  buildHeaderRequest(state: ProcessorState, headers: HeaderList, endStream: boolean, observability: boolean): ProcessingRequest {
    const req = this.baseRequest(state, observability);
    const body = { headers: headers.toProto(), ...(endStream ? { end_of_stream: true } : {}) };
    if (state.direction === 'request') req.request_headers = body;
    else req.response_headers = body;
    this.encodeProtocolConfig(req);
    return req;
  }

  setupBodyChunk(state: ProcessorState, data: Buffer, endStream: boolean): ProcessingRequest {
    const req = this.baseRequest(state, false);
    const body = { ...(data.length > 0 ? { body: Buffer.from(data) } : {}), ...(endStream ? { end_of_stream: true } : {}) };
    if (state.direction === 'request') req.request_body = body;
    else req.response_body = body;
    this.encodeProtocolConfig(req);
    return req;
  }

  sendBodyChunk(state: ProcessorState, next: CallbackState, req: ProcessingRequest): void {
    state.onStartProcessorCall(next);
    this.sendRequest(req);
  }

  sendTrailers(state: ProcessorState, trailers: HeaderList, observability = false): void {
    if (state.trailersSentToServer) return;
    state.trailersSentToServer = true;
    const req = this.baseRequest(state, observability);
    const body = { trailers: trailers.toProto() };
    if (state.direction === 'request') req.request_trailers = body;
    else req.response_trailers = body;
    if (!observability) state.onStartProcessorCall(state.callbackState === 'Idle' ? 'TrailersCallback' : state.callbackState);
    this.encodeProtocolConfig(req);
    this.sendRequest(req);
  }

  onReceiveMessage(response: ProcessingResponse): void {
    receiveMessage(this, response);
    this.hooks.stateChanged();
  }

  /** §2.4: a non-OK status or transport failure. */
  onGrpcError(code: number, details: string): void {
    this.count('streams_failed');
    if (!this.processingComplete) {
      if (this.config.failureModeAllow) {
        this.onGrpcCloseWithStatus();
        this.count('failure_mode_allowed');
      } else {
        this.processingComplete = true;
        this.onFinishProcessorCalls();
        this.closeStream();
        this.sendErrorReply(this.config.statusOnError, `ext_proc_error_gRPC_error_${code}`);
      }
    }
    this.hooks.stateChanged();
  }

  /** §2.6: the server closed with OK, so the exchange goes on without it, even fail-closed. */
  onGrpcClose(): void {
    // 1.37's server_half_closed: counted here when the server ends the stream before Envoy does (assumed meaning).
    if (this.config.version === '1.37' && !this.processingComplete) this.count('server_half_closed');
    this.onGrpcCloseWithStatus();
    this.hooks.stateChanged();
  }

  private onGrpcCloseWithStatus(): void {
    if (this.processingComplete) return;
    this.processingComplete = true;
    this.count('streams_closed');
    this.closeStream();
    this.clearAsyncState();
  }

  /** §2.3: 504 with ext_proc_error_per-message_timeout_exceeded, or carry on unmodified when fail-open. */
  onMessageTimeout(): void {
    this.count('message_timeouts');
    this.processingComplete = true;
    this.closeStream();
    if (this.config.failureModeAllow) {
      this.count('failure_mode_allowed');
      this.clearAsyncState();
    } else {
      this.onFinishProcessorCalls();
      this.sendErrorReply(504, 'ext_proc_error_per-message_timeout_exceeded');
    }
    this.hooks.stateChanged();
  }

  clearAsyncState(): void {
    this.decoding.clearAsyncState();
    this.encoding.clearAsyncState();
  }

  onFinishProcessorCalls(): void {
    this.decoding.onFinishProcessorCall();
    this.encoding.onFinishProcessorCall();
  }

  /** §2.7 "other processing errors": a local reply 500 (status_on_error) whatever failure_mode_allow says. */
  handleErrorResponse(message: string): void {
    this.processingComplete = true;
    this.onFinishProcessorCalls();
    this.closeStream();
    this.sendErrorReply(this.config.statusOnError, message);
  }

  private sendErrorReply(code: number, details: string): void {
    this.sentImmediateResponse = true;
    this.hooks.sendLocalReply({ code, body: Buffer.alloc(0), details: detailsOf(details), kind: 'local-reply' });
  }

  /** §1.6: status missing or < 200 → 200; headers mutated under the filter's mutation rules; details. */
  sendImmediateResponse(response: ImmediateResponse): void {
    let code = response.status ? statusCodeNumber(response.status.code) : 200;
    if (code < 200) code = 200;
    const mutation = response.headers;
    const spec: LocalReplySpec = {
      code,
      body: response.body ? Buffer.from(response.body) : Buffer.alloc(0),
      details: detailsOf(response.details ?? ''),
      kind: 'immediate-response',
    };
    if (response.grpc_status) spec.grpcStatus = response.grpc_status.status ?? 0;
    if (mutation) {
      // A failed mutation is only logged by Envoy; the reply goes out with what was applied.
      spec.mutateHeaders = (headers) => {
        applyHeaderMutations(mutation, headers, false, this.checker, () => this.count('rejected_header_mutations'));
      };
    }
    this.sentImmediateResponse = true;
    this.hooks.sendLocalReply(spec);
  }

  /** The exchange is over: stop timers and close the stream (observability mode: after deferred_close_timeout). */
  onDestroy(): void {
    this.processingComplete = true;
    this.decoding.stopMessageTimer();
    this.encoding.stopMessageTimer();
    if (this.config.observability && this.stream) {
      const stream = this.stream;
      this.stream = null;
      stream.detach();
      this.deps.registry.deferClose(stream, this.config.deferredCloseTimeoutMs, (closed) => {
        if (closed) this.count('streams_closed');
      });
      return;
    }
    this.closeStreamMaybeGraceful();
  }
}
