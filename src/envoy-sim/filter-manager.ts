/**
 * A one-filter model of Envoy's HTTP filter manager, per direction: it calls the ext_proc filter's
 * decode/encode callbacks, acts on their Continue / StopIteration statuses, holds the buffered body
 * (the filter's `bufferedData()`), and forwards headers, data and trailers to the next hop (the
 * upstream for requests, the client for responses). Backs the waiting of docs/envoy-ext-proc.md §2.3.
 */
import type { HeaderList } from './headers.js';

export type HeadersStatus = 'Continue' | 'StopIteration';
export type DataStatus = 'Continue' | 'StopIterationAndBuffer' | 'StopIterationAndWatermark' | 'StopIterationNoBuffer';
export type TrailersStatus = 'Continue' | 'StopIteration';

/** A data frame the filter may drain or replace (Envoy passes `Buffer::Instance&`). */
export interface DataFrame {
  data: Buffer;
}

export interface DirectionCallbacks {
  headers(headers: HeaderList, endStream: boolean): HeadersStatus;
  data(frame: DataFrame, endStream: boolean): DataStatus;
  trailers(trailers: HeaderList): TrailersStatus;
}

/** The next hop: receives what the filter lets through, in order. */
export interface HopSink {
  headers(headers: HeaderList, endStream: boolean): void;
  data(data: Buffer, endStream: boolean): void;
  trailers(trailers: HeaderList): void;
}

export class FilterManagerDirection {
  private liveHeaders: HeaderList | null = null;
  private headersPassed = false;
  private stopped = false;
  private inputEnded = false;
  private endPassed = false;
  private buffer: Buffer | null = null;
  private heldTrailers: HeaderList | null = null;
  private aborted = false;

  /** `overflow` runs when a non-streaming buffer goes over `limit` (413 / 500, §1.8.3). */
  constructor(
    private readonly callbacks: DirectionCallbacks,
    private readonly sink: HopSink,
    private readonly limit: number,
    private readonly overflow: () => void,
  ) {}

  /** No more input or output: the exchange ended, was reset or answered locally. */
  abort(): void {
    this.aborted = true;
  }

  get isAborted(): boolean {
    return this.aborted;
  }

  get started(): boolean {
    return this.liveHeaders !== null;
  }

  headers(headers: HeaderList, endStream: boolean): void {
    if (this.aborted) return;
    this.liveHeaders = headers;
    if (endStream) this.inputEnded = true;
    const status = this.callbacks.headers(headers, endStream);
    if (this.aborted) return;
    if (status === 'Continue') this.passHeaders(endStream);
    else this.stopped = true;
  }

  data(chunk: Buffer, endStream: boolean): void {
    if (this.aborted) return;
    if (endStream) this.inputEnded = true;
    const frame: DataFrame = { data: chunk };
    const status = this.callbacks.data(frame, endStream);
    if (this.aborted) return;
    if (status === 'Continue') {
      if (this.stopped) {
        this.appendBuffer(frame.data);
        this.continueIteration();
      } else if (frame.data.length > 0 || endStream) {
        this.emitData(frame.data, endStream);
      }
      return;
    }
    this.stopped = true;
    if (status === 'StopIterationAndBuffer' || status === 'StopIterationAndWatermark') {
      this.appendBuffer(frame.data);
      // Only a non-streaming buffer (StopIterationAndBuffer) turns an over-limit body into a local reply.
      if (status === 'StopIterationAndBuffer') this.checkLimit();
    }
  }

  trailers(trailers: HeaderList): void {
    if (this.aborted) return;
    this.inputEnded = true;
    const status = this.callbacks.trailers(trailers);
    if (this.aborted) return;
    if (status === 'Continue' && !this.stopped) return this.passTrailers(trailers);
    this.heldTrailers = trailers;
    if (status === 'Continue') this.continueIteration();
    else this.stopped = true;
  }

  /** continueDecoding()/continueEncoding(): headers, then the buffered body, then held trailers. */
  continueIteration(): void {
    if (this.aborted || !this.stopped) return;
    this.stopped = false;
    if (!this.headersPassed && this.liveHeaders) {
      this.passHeaders(this.inputEnded && this.buffer === null && this.heldTrailers === null);
    }
    if (this.buffer !== null) {
      const data = this.buffer;
      this.buffer = Buffer.alloc(0);
      if (data.length > 0 || (this.inputEnded && this.heldTrailers === null)) {
        this.emitData(data, this.inputEnded && this.heldTrailers === null);
      }
    }
    if (this.heldTrailers !== null) {
      const trailers = this.heldTrailers;
      this.heldTrailers = null;
      this.passTrailers(trailers);
    } else if (this.inputEnded && !this.endPassed && this.headersPassed) {
      this.emitData(Buffer.alloc(0), true);
    }
  }

  /** injectDecodedDataToFilterChain / injectEncodedDataToFilterChain: straight to the next hop. */
  inject(data: Buffer, endStream: boolean): void {
    if (this.aborted) return;
    if (!this.headersPassed) this.passHeaders(false);
    this.emitData(data, endStream);
  }

  /** The filter's bufferedData(): null until something was buffered. */
  bufferedData(): Buffer | null {
    return this.buffer;
  }

  /** addDecodedData / addEncodedData; false when the buffer went over the limit (the local reply is sent). */
  addBufferedData(data: Buffer): boolean {
    this.appendBuffer(data);
    return this.checkLimit();
  }

  /** modifyDecodingBuffer / modifyEncodingBuffer. */
  modifyBufferedData(fn: (data: Buffer) => Buffer): void {
    if (this.buffer !== null) this.buffer = fn(this.buffer);
  }

  /** Moves the buffered data out (the buffer stays, empty). */
  takeBufferedData(): Buffer {
    const data = this.buffer ?? Buffer.alloc(0);
    if (this.buffer !== null) this.buffer = Buffer.alloc(0);
    return data;
  }

  private appendBuffer(data: Buffer): void {
    this.buffer = this.buffer === null ? Buffer.from(data) : Buffer.concat([this.buffer, data]);
  }

  private checkLimit(): boolean {
    if (this.buffer === null || this.buffer.length <= this.limit) return true;
    this.overflow();
    return false;
  }

  private passHeaders(endStream: boolean): void {
    if (!this.liveHeaders || this.headersPassed) return;
    this.headersPassed = true;
    if (endStream) this.endPassed = true;
    this.sink.headers(this.liveHeaders.clone(), endStream);
  }

  private emitData(data: Buffer, endStream: boolean): void {
    if (this.endPassed) return;
    if (endStream) this.endPassed = true;
    this.sink.data(data, endStream);
  }

  private passTrailers(trailers: HeaderList): void {
    if (this.endPassed) return;
    this.endPassed = true;
    this.sink.trailers(trailers.clone());
  }
}
