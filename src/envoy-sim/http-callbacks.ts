/**
 * The ext_proc filter's HTTP-side callbacks, one handler per direction, after Envoy's `ext_proc.cc`
 * decodeHeaders/decodeData/decodeTrailers (and encode*): what is sent to the processor and when the
 * HTTP stream waits (docs/envoy-ext-proc.md §1.8, §2.3, §2.9, §8.2–8.3).
 */
import type { DataFrame, DataStatus, DirectionCallbacks, HeadersStatus, TrailersStatus } from './filter-manager.js';
import type { HeaderList } from './headers.js';
import type { Direction, ProcessorState } from './processor-state.js';
import type { ExtProcFilter } from './ext-proc-filter.js';

const EMPTY = Buffer.alloc(0);

export class DirectionHandler implements DirectionCallbacks {
  constructor(
    private readonly filter: ExtProcFilter,
    private readonly direction: Direction,
  ) {}

  private get state(): ProcessorState {
    return this.direction === 'request' ? this.filter.decoding : this.filter.encoding;
  }

  headers(headers: HeaderList, endStream: boolean): HeadersStatus {
    const f = this.filter;
    const state = this.state;
    // §2.9 observability mode: send and go.
    if (state.sendHeaders && f.config.observability) return this.sendHeadersInObservabilityMode(headers, endStream);
    if (endStream) state.completeBodyAvailable = true;
    let status: HeadersStatus = 'Continue';
    if (!f.processingComplete && state.sendHeaders) status = this.onHeaders(headers, endStream);
    // §1.4: STREAMED, BUFFERED_PARTIAL and BUFFERED+SKIP strip content-length.
    if (!f.processingComplete && state.shouldRemoveContentLength()) headers.remove('content-length');
    // §6.3 (1.37): close the stream once the response path needs no processing.
    if (this.direction === 'response' && f.config.version === '1.37' && state.noExternalProcess()) {
      f.closeStreamMaybeGraceful();
    }
    return status;
  }

  private onHeaders(headers: HeaderList, endStream: boolean): HeadersStatus {
    const f = this.filter;
    const state = this.state;
    const open = f.openStream();
    if (open !== 'ok') return open === 'error' ? 'StopIteration' : 'Continue';
    state.headers = headers;
    state.noBody = endStream;
    const req = f.buildHeaderRequest(state, headers, endStream, false);
    state.onStartProcessorCall('HeadersCallback');
    f.sendRequest(req);
    // §2.3: wait for the headers reply.
    state.paused = true;
    return 'StopIteration';
  }

  private sendHeadersInObservabilityMode(headers: HeaderList, endStream: boolean): HeadersStatus {
    const f = this.filter;
    const open = f.openStream();
    if (open !== 'ok') return open === 'error' ? 'StopIteration' : 'Continue';
    f.sendRequest(f.buildHeaderRequest(this.state, headers, endStream, true));
    return 'Continue';
  }

  data(frame: DataFrame, endStream: boolean): DataStatus {
    const f = this.filter;
    const state = this.state;
    if (f.config.observability) return this.sendDataInObservabilityMode(frame, endStream);
    if (endStream) state.completeBodyAvailable = true;
    if (state.bodyReplaced) {
      // §1.4 CONTINUE_AND_REPLACE: later body chunks are drained.
      frame.data = EMPTY;
      return 'Continue';
    }
    if (f.processingComplete) return 'Continue';
    if (state.callbackState === 'HeadersCallback') {
      // Hold the body until the headers reply says what to do with it.
      state.paused = true;
      return state.bodyMode === 'BUFFERED' ? 'StopIterationAndBuffer' : 'StopIterationAndWatermark';
    }
    switch (state.bodyMode) {
      case 'BUFFERED':
        return this.bufferedMode(frame, endStream);
      case 'STREAMED':
        return this.streamedMode(frame, endStream);
      case 'BUFFERED_PARTIAL':
        return this.bufferedPartialMode(frame, endStream);
      default:
        return 'Continue';
    }
  }

  /** §1.8.3 BUFFERED: buffer until end of stream, then send the whole body in one message. */
  private bufferedMode(frame: DataFrame, endStream: boolean): DataStatus {
    const state = this.state;
    if (!endStream) {
      state.paused = true;
      return 'StopIterationAndBuffer';
    }
    const f = this.filter;
    const open = f.openStream();
    if (open !== 'ok') return open === 'error' ? 'StopIterationNoBuffer' : 'Continue';
    const data = frame.data;
    frame.data = EMPTY;
    if (!state.fm.addBufferedData(data)) return 'StopIterationNoBuffer';
    const req = f.setupBodyChunk(state, state.fm.bufferedData() ?? EMPTY, true);
    f.sendBodyChunk(state, 'BufferedBodyCallback', req);
    state.paused = true;
    return 'StopIterationNoBuffer';
  }

  /** §1.8.2 STREAMED: every chunk sent as it arrives, kept in a FIFO until its reply re-injects it. */
  private streamedMode(frame: DataFrame, endStream: boolean): DataStatus {
    const f = this.filter;
    const state = this.state;
    const open = f.openStream();
    if (open !== 'ok') return open === 'error' ? 'StopIterationNoBuffer' : 'Continue';
    const data = frame.data;
    frame.data = EMPTY;
    const req = f.setupBodyChunk(state, data, endStream);
    state.chunkQueue.push(data, endStream);
    const waitingForHeaders = state.callbackState === 'HeadersCallback';
    f.sendBodyChunk(state, waitingForHeaders ? 'HeadersCallback' : 'StreamedBodyCallback', req);
    if (endStream || waitingForHeaders) {
      state.paused = true;
      return 'StopIterationNoBuffer';
    }
    return 'Continue';
  }

  /** §1.8.4 BUFFERED_PARTIAL: buffer up to the limit, send what is buffered, let the rest through. */
  private bufferedPartialMode(frame: DataFrame, endStream: boolean): DataStatus {
    const state = this.state;
    if (state.partialBodyProcessed) {
      state.headers = null;
      return 'Continue';
    }
    const data = frame.data;
    frame.data = EMPTY;
    state.chunkQueue.push(data, endStream);
    if (state.callbackState === 'BufferedPartialBodyCallback') {
      state.paused = true;
      return 'StopIterationNoBuffer';
    }
    if (endStream || state.chunkQueue.bytes() > this.filter.config.bufferLimitBytes) {
      const f = this.filter;
      const open = f.openStream();
      if (open !== 'ok') return open === 'error' ? 'StopIterationNoBuffer' : 'Continue';
      const all = state.chunkQueue.consolidate();
      f.sendBodyChunk(state, 'BufferedPartialBodyCallback', f.setupBodyChunk(state, all.data, all.endStream));
      state.paused = true;
    }
    return 'StopIterationNoBuffer';
  }

  /** §2.9: only STREAMED bodies are sent in observability mode; the data continues untouched. */
  private sendDataInObservabilityMode(frame: DataFrame, endStream: boolean): DataStatus {
    const f = this.filter;
    const state = this.state;
    if (state.bodyMode !== 'STREAMED') return 'Continue';
    const open = f.openStream();
    if (open !== 'ok') return open === 'error' ? 'StopIterationNoBuffer' : 'Continue';
    const req = f.setupBodyChunk(state, frame.data, endStream);
    req.observability_mode = true;
    f.sendRequest(req);
    return 'Continue';
  }

  trailers(trailers: HeaderList): TrailersStatus {
    const f = this.filter;
    const state = this.state;
    if (f.processingComplete) return 'Continue';
    if (state.sendTrailers && f.config.observability) {
      const open = f.openStream();
      if (open !== 'ok') return open === 'error' ? 'StopIteration' : 'Continue';
      f.sendTrailers(state, trailers, true);
      return 'Continue';
    }
    const bodyDelivered = state.completeBodyAvailable;
    state.completeBodyAvailable = true;
    state.trailersAvailable = true;
    state.trailers = trailers;
    if (state.callbackState !== 'Idle') {
      // §1.8.1: one outstanding message per direction; the trailers wait.
      state.paused = true;
      return 'StopIteration';
    }
    const buffered = state.fm.bufferedData() !== null && state.bodyMode === 'BUFFERED';
    const partial = state.chunkQueue.length > 0 && state.bodyMode === 'BUFFERED_PARTIAL';
    if (!bodyDelivered && (buffered || partial)) {
      const open = f.openStream();
      if (open !== 'ok') return open === 'error' ? 'StopIteration' : 'Continue';
      // §1.2: the body is complete but trailers follow, so end_of_stream is false.
      if (buffered) {
        f.sendBodyChunk(state, 'BufferedBodyCallback', f.setupBodyChunk(state, state.fm.bufferedData() ?? EMPTY, false));
      } else {
        const all = state.chunkQueue.consolidate();
        f.sendBodyChunk(state, 'BufferedPartialBodyCallback', f.setupBodyChunk(state, all.data, false));
      }
      state.paused = true;
      return 'StopIteration';
    }
    if (!state.sendTrailers) return 'Continue';
    const open = f.openStream();
    if (open !== 'ok') return open === 'error' ? 'StopIteration' : 'Continue';
    f.sendTrailers(state, trailers, false);
    state.paused = true;
    return 'StopIteration';
  }
}
