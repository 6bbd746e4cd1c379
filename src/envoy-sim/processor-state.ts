/**
 * One direction's ext_proc state machine, after Envoy's `processor_state.cc` (docs/envoy-ext-proc.md §1.8,
 * §8.3): the callback state awaiting a reply, the STREAMED chunk FIFO, the per-message timer, and the
 * handling of headers/body/trailers replies.
 */
import type { BodyResponse, BodySendMode, CommonResponse, HeadersResponse, ProcessingRequest, TrailersResponse } from '../extproc/messages.js';
import { ChunkQueue } from './chunk-queue.js';
import type { Mode, ResolvedConfig } from './config.js';
import type { FilterManagerDirection } from './filter-manager.js';
import type { HeaderList } from './headers.js';
import type { MutationChecker } from './mutation-rules.js';
import { applyBodyMutation, applyHeaderMutations, mutatedBodyLength } from './mutations.js';
import type { StatName } from './types.js';

export type Direction = 'request' | 'response';
export type CallbackState =
  | 'Idle'
  | 'HeadersCallback'
  | 'BufferedBodyCallback'
  | 'StreamedBodyCallback'
  | 'BufferedPartialBodyCallback'
  | 'TrailersCallback';

/** ok, a spurious reply (§2.7, FailedPrecondition in Envoy), or a processing error (→ 500 local reply). */
export type HandleStatus = { ok: true } | { ok: false; spurious: boolean; message: string };

const OK: HandleStatus = { ok: true };
const spurious = (message = 'spurious message'): HandleStatus => ({ ok: false, spurious: true, message });
const failure = (message: string): HandleStatus => ({ ok: false, spurious: false, message });

/** What a direction needs from the filter. */
export interface StateHost {
  readonly config: ResolvedConfig;
  readonly checker: MutationChecker;
  count(stat: StatName): void;
  setupBodyChunk(state: ProcessorState, data: Buffer, endStream: boolean): ProcessingRequest;
  sendBodyChunk(state: ProcessorState, next: CallbackState, req: ProcessingRequest): void;
  sendTrailers(state: ProcessorState, trailers: HeaderList): void;
  onMessageTimeout(): void;
}

export class ProcessorState {
  callbackState: CallbackState = 'Idle';
  sendHeaders = true;
  sendTrailers = false;
  bodyMode: BodySendMode = 'NONE';
  /** Headers still held by the filter and open to mutation (Envoy's headers_). */
  headers: HeaderList | null = null;
  trailers: HeaderList | null = null;
  trailersAvailable = false;
  trailersSentToServer = false;
  noBody = false;
  completeBodyAvailable = false;
  bodyReplaced = false;
  partialBodyProcessed = false;
  paused = false;
  sentAttributes = false;
  readonly chunkQueue = new ChunkQueue();
  private timer: NodeJS.Timeout | null = null;
  private newTimeoutReceived = false;

  constructor(
    readonly direction: Direction,
    readonly fm: FilterManagerDirection,
    private readonly host: StateHost,
    mode: Mode,
  ) {
    this.setProcessingMode(mode);
  }

  /** §2.1: send_headers = mode != SKIP, send_trailers = mode == SEND. */
  setProcessingMode(mode: Mode): void {
    const req = this.direction === 'request';
    this.sendHeaders = (req ? mode.request_header_mode : mode.response_header_mode) !== 'SKIP';
    this.sendTrailers = (req ? mode.request_trailer_mode : mode.response_trailer_mode) === 'SEND';
    this.bodyMode = req ? mode.request_body_mode : mode.response_body_mode;
  }

  /** Nothing left to send to the processor in this direction. */
  noExternalProcess(): boolean {
    return !this.sendHeaders && !this.sendTrailers && this.bodyMode === 'NONE';
  }

  /** §1.4: content-length is stripped in STREAMED, BUFFERED_PARTIAL and BUFFERED with headers skipped. */
  shouldRemoveContentLength(): boolean {
    return (
      this.bodyMode === 'STREAMED' ||
      this.bodyMode === 'BUFFERED_PARTIAL' ||
      (this.bodyMode === 'BUFFERED' && !this.sendHeaders)
    );
  }

  /** §2.3: a timer per sent message, (re)armed on each send. */
  onStartProcessorCall(next: CallbackState): void {
    this.callbackState = next;
    this.armTimer(this.host.config.messageTimeoutMs);
    this.newTimeoutReceived = false;
  }

  onFinishProcessorCall(next: CallbackState = 'Idle'): void {
    this.stopMessageTimer();
    this.callbackState = next;
    this.newTimeoutReceived = false;
  }

  stopMessageTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** §1.3 override_message_timeout: restarts a running timer once per processing state. */
  restartMessageTimer(ms: number): boolean {
    if (this.timer === null || this.newTimeoutReceived) return false;
    this.armTimer(ms);
    this.newTimeoutReceived = true;
    return true;
  }

  private armTimer(ms: number): void {
    this.stopMessageTimer();
    this.timer = setTimeout(() => {
      this.timer = null;
      this.host.onMessageTimeout();
    }, ms);
  }

  continueIfNecessary(): void {
    if (!this.paused) return;
    this.paused = false;
    this.fm.continueIteration();
  }

  hasBufferedData(): boolean {
    const data = this.fm.bufferedData();
    return data !== null && data.length > 0;
  }

  sendBufferedDataInStreamedMode(endStream: boolean): void {
    if (this.hasBufferedData()) {
      const data = this.fm.takeBufferedData();
      const req = this.host.setupBodyChunk(this, data, endStream);
      this.chunkQueue.push(data, endStream);
      this.host.sendBodyChunk(this, 'StreamedBodyCallback', req);
    }
    this.continueIfNecessary();
  }

  private processHeaderMutation(common: CommonResponse): string | null {
    if (!common.header_mutation || !this.headers) return null;
    const replacing = common.status === 'CONTINUE_AND_REPLACE';
    return applyHeaderMutations(common.header_mutation, this.headers, replacing, this.host.checker, () =>
      this.host.count('rejected_header_mutations'),
    );
  }

  /** §1.4: clear_route_cache is request-path only and ignored without a header_mutation. */
  private clearRouteCache(common: CommonResponse): void {
    if (this.direction === 'request' && common.clear_route_cache === true && !common.header_mutation) {
      this.host.count('clear_route_cache_ignored');
    }
  }

  handleHeadersResponse(response: HeadersResponse): HandleStatus {
    if (this.callbackState !== 'HeadersCallback') return spurious();
    const common = response.response ?? {};
    const error = this.processHeaderMutation(common);
    if (error !== null) return failure(error);
    this.clearRouteCache(common);
    this.onFinishProcessorCall('Idle');
    if (common.status === 'CONTINUE_AND_REPLACE') {
      // §1.4 CONTINUE_AND_REPLACE: drop content-length, replace the body, send nothing more this direction.
      if (common.body_mutation) {
        this.headers?.remove('content-length');
        this.bodyReplaced = true;
        if (this.fm.bufferedData() === null) this.fm.addBufferedData(applyBodyMutation(common.body_mutation, Buffer.alloc(0)));
        else this.fm.modifyBufferedData((data) => applyBodyMutation(common.body_mutation, data));
      }
      this.chunkQueue.clear();
      this.bodyMode = 'NONE';
      this.sendTrailers = false;
    } else if (!this.noBody) {
      if (this.completeBodyAvailable && this.bodyMode !== 'NONE') {
        // The whole body came in while the headers were out: send it in one message (§1.8.3).
        if (this.fm.bufferedData() !== null) {
          const req = this.host.setupBodyChunk(this, this.fm.bufferedData() ?? Buffer.alloc(0), !this.trailersAvailable);
          this.host.sendBodyChunk(this, 'BufferedBodyCallback', req);
          return OK;
        }
      } else if (this.bodyMode === 'BUFFERED') {
        // Keep the headers: a BUFFERED body reply may still mutate them (§1.4).
        return OK;
      } else if (this.bodyMode === 'STREAMED') {
        this.sendBufferedDataInStreamedMode(false);
        return OK;
      } else if (this.bodyMode === 'BUFFERED_PARTIAL') {
        if (this.hasBufferedData()) this.chunkQueue.push(this.fm.takeBufferedData(), false);
        if (this.chunkQueue.bytes() > this.host.config.bufferLimitBytes) {
          const all = this.chunkQueue.consolidate();
          this.host.sendBodyChunk(this, 'BufferedPartialBodyCallback', this.host.setupBodyChunk(this, all.data, false));
        }
        return OK;
      }
      if (this.sendTrailers && this.trailersAvailable && this.trailers) {
        this.host.sendTrailers(this, this.trailers);
        return OK;
      }
    }
    this.headers = null;
    this.continueIfNecessary();
    return OK;
  }

  handleBodyResponse(response: BodyResponse): HandleStatus {
    const state = this.callbackState;
    if (state !== 'BufferedBodyCallback' && state !== 'StreamedBodyCallback' && state !== 'BufferedPartialBodyCallback') {
      return spurious();
    }
    const common = response.response ?? {};
    let shouldContinue = false;
    if (state === 'BufferedBodyCallback') {
      const error = this.processHeaderMutation(common);
      if (error !== null) return failure(error);
      if (common.body_mutation) {
        // §1.4 content-length rule (BUFFERED with headers sent): a mismatch rejects the mutation with a 500.
        const length = this.headers?.first('content-length');
        if (length !== undefined && /^\s*\+?\d+\s*$/.test(length) && Number(length) !== mutatedBodyLength(common.body_mutation)) {
          return failure('mismatch between content length and the length of the mutated body');
        }
        this.fm.modifyBufferedData((data) => applyBodyMutation(common.body_mutation, data));
      }
      this.onFinishProcessorCall('Idle');
      shouldContinue = true;
    } else if (state === 'StreamedBodyCallback') {
      // §1.8.2: replies come in chunk order; each mutation applies to its chunk, re-injected in order.
      const chunk = this.chunkQueue.shift();
      if (!chunk) return spurious();
      const data = common.body_mutation ? applyBodyMutation(common.body_mutation, chunk.data) : chunk.data;
      shouldContinue = chunk.endStream;
      if (data.length > 0) this.fm.inject(data, chunk.endStream);
      this.onFinishProcessorCall(this.chunkQueue.length === 0 ? 'Idle' : state);
    } else {
      const chunk = this.chunkQueue.shift();
      if (!chunk) return spurious();
      const error = this.processHeaderMutation(common);
      if (error !== null) return failure(error);
      const data = common.body_mutation ? applyBodyMutation(common.body_mutation, chunk.data) : chunk.data;
      if (data.length > 0) this.fm.inject(data, chunk.endStream);
      shouldContinue = true;
      this.onFinishProcessorCall('Idle');
      this.partialBodyProcessed = true;
      if (this.chunkQueue.bytes() > 0) {
        const rest = this.chunkQueue.consolidate();
        this.chunkQueue.clear();
        this.fm.inject(rest.data, rest.endStream);
      }
    }
    this.clearRouteCache(common);
    this.headers = null;
    if (this.sendTrailers && this.trailersAvailable && this.trailers && this.chunkQueue.length === 0) {
      this.host.sendTrailers(this, this.trailers);
      return OK;
    }
    if (shouldContinue || (this.trailersAvailable && this.chunkQueue.length === 0)) this.continueIfNecessary();
    return OK;
  }

  handleTrailersResponse(response: TrailersResponse): HandleStatus {
    if (this.callbackState !== 'TrailersCallback') return spurious();
    if (response.header_mutation && this.trailers) {
      const error = applyHeaderMutations(response.header_mutation, this.trailers, false, this.host.checker, () =>
        this.host.count('rejected_header_mutations'),
      );
      if (error !== null) return failure(error);
    }
    this.trailers = null;
    this.onFinishProcessorCall('Idle');
    this.continueIfNecessary();
    return OK;
  }

  /** §2.6: give up on the processor; queued chunks go on unmodified and a paused direction resumes. */
  clearAsyncState(): void {
    this.onFinishProcessorCall('Idle');
    if (this.chunkQueue.bytes() > 0) {
      const all = this.chunkQueue.consolidate();
      this.chunkQueue.clear();
      this.fm.inject(all.data, all.endStream);
    }
    this.continueIfNecessary();
  }
}
