import * as grpc from '@grpc/grpc-js';
import { ProtocolError } from '../errors.js';
import type { HeaderMap, ProcessingRequest, ProcessingResponse, RequestCase, Struct } from './messages.js';
import { CONTINUE } from './respond.js';

/**
 * One ext_proc stream = one HTTP exchange. A per-direction state machine checks the order Envoy
 * guarantees (headers → body chunks → trailers, per direction; directions may interleave), and a
 * serial queue makes every message get exactly one reply of the matching kind, in order — never an
 * empty ProcessingResponse, nothing at all for observability_mode messages (docs/protocol.md).
 * What to answer is the ExchangeSession's business (one per stream); trailers of the response and
 * protocol checks are this file's.
 */

export type Call = grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>;

/**
 * The answers for one exchange. Every method must not throw: failures become fail-open answers
 * inside. Body chunks arrive capped: `chunk` holds only bytes within the stream's body cap.
 */
export interface ExchangeSession {
  requestHeaders(headers: HeaderMap | undefined, endOfStream: boolean, sourceAddress: string | undefined, observe: boolean): Promise<ProcessingResponse>;
  requestBody(chunk: Buffer, endOfStream: boolean, observe: boolean): ProcessingResponse | Promise<ProcessingResponse>;
  requestTrailers(observe: boolean): ProcessingResponse | Promise<ProcessingResponse>;
  responseHeaders(headers: HeaderMap | undefined, endOfStream: boolean, observe: boolean): ProcessingResponse;
  responseBody(chunk: Buffer, endOfStream: boolean, observe: boolean): ProcessingResponse;
  /** The stream ended (answered, cancelled or failed); releases anything held. */
  close(): void;
}

export interface ExchangeHandler {
  /** A session for a new stream (one HTTP exchange). */
  open(): ExchangeSession;
  /** Every message received, by kind (for metrics). */
  message(kind: string): void;
  /** A body chunk's size; truncated once the direction's bytes pass the cap. */
  bodyChunk(direction: 'request' | 'response', bytes: number, truncated: boolean): void;
  /** The protocol was broken or something failed; counted and logged (throttled) by the handler. */
  problem(kind: string, detail: string): void;
}

type Phase = 'idle' | 'headers' | 'body' | 'trailers';
const ORDER: Record<Phase, number> = { idle: 0, headers: 1, body: 2, trailers: 3 };

export class ExchangeStream {
  private readonly phase = { request: 'idle' as Phase, response: 'idle' as Phase };
  private readonly bodyBytes = { request: 0, response: 0 };
  /** Messages received and not yet answered; the head is being handled. */
  private readonly queue: ProcessingRequest[] = [];
  private closed = false;
  private sourceAddress: string | undefined;
  private idleWaiters: Array<() => void> = [];
  private readonly session: ExchangeSession;

  constructor(
    private readonly call: Call,
    private readonly handler: ExchangeHandler,
    private readonly maxBodyBytes: number,
    private readonly onDone: () => void,
  ) {
    this.session = handler.open();
    call.on('data', (msg: ProcessingRequest) => this.enqueue(msg));
    call.on('end', () => this.whenIdle(() => this.finish(grpc.status.OK)));
    // Envoy half-closes and then resets every stream (docs/protocol.md): cancellation is normal.
    call.on('cancelled', () => this.markClosed());
    call.on('error', (err: Error) => {
      if (this.closed) return; // our own finish() with an error status
      this.handler.problem('stream-error', err.message);
      this.markClosed();
    });
    call.on('close', () => this.markClosed());
  }

  /** Drain: once in-flight messages are answered, close with OK so Envoy carries on without vigil. */
  closeWhenIdle(): void {
    this.whenIdle(() => this.finish(grpc.status.OK));
  }

  private whenIdle(fn: () => void): void {
    if (this.queue.length === 0) fn();
    else this.idleWaiters.push(fn);
  }

  /**
   * Serial per stream: a message is handled once every earlier one is answered, so replies keep
   * Envoy's order. Request headers (and a login's request body) wait for the store; everything else
   * answers synchronously.
   */
  private enqueue(msg: ProcessingRequest): void {
    if (this.closed) return;
    this.handler.message(msg?.request ?? 'empty');
    this.queue.push(msg);
    if (this.queue.length === 1) this.next();
  }

  private next(): void {
    while (this.queue.length > 0) {
      const msg = this.queue[0]!;
      let reply: ProcessingResponse | Promise<ProcessingResponse> | null;
      try {
        reply = this.closed ? null : this.handle(msg);
      } catch (err) {
        this.fail(err);
        reply = null;
      }
      if (reply instanceof Promise) {
        reply.then(
          (r) => this.answered(msg, r),
          (err: unknown) => {
            this.fail(err);
            this.answered(msg, null);
          },
        );
        return;
      }
      this.answered(msg, reply, false);
    }
  }

  /** Writes the reply of the head message and, when called asynchronously, moves on. */
  private answered(msg: ProcessingRequest, reply: ProcessingResponse | null, resume = true): void {
    if (reply && msg.observability_mode !== true) this.write(reply);
    this.queue.shift();
    if (this.queue.length === 0) for (const fn of this.idleWaiters.splice(0)) fn();
    else if (resume) this.next();
  }

  private fail(err: unknown): void {
    if (err instanceof ProtocolError) {
      this.handler.problem(err.kind, err.message);
      this.finish(grpc.status.INVALID_ARGUMENT, `vigil: ${err.message}`);
    } else {
      // A bug of ours: close cleanly, so Envoy carries on without vigil even when fail-closed.
      this.handler.problem('internal', String((err as Error)?.stack ?? err));
      this.finish(grpc.status.OK);
    }
  }

  /** The reply to one message (a promise only for request headers). Throws ProtocolError. */
  private handle(msg: ProcessingRequest): ProcessingResponse | Promise<ProcessingResponse> {
    const kind = msg.request;
    if (!kind) throw new ProtocolError('empty-message', 'ProcessingRequest with no request field set');
    const observe = msg.observability_mode === true;
    if (this.sourceAddress === undefined && msg.attributes) this.sourceAddress = sourceAddressOf(msg.attributes);
    const direction = kind.startsWith('request') ? 'request' : 'response';
    const next: Phase = kind.endsWith('headers') ? 'headers' : kind.endsWith('body') ? 'body' : 'trailers';
    this.advance(direction, next, kind);

    switch (kind) {
      case 'request_headers':
        return this.session.requestHeaders(msg.request_headers?.headers, msg.request_headers?.end_of_stream === true, this.sourceAddress, observe);
      case 'response_headers':
        return this.session.responseHeaders(msg.response_headers?.headers, msg.response_headers?.end_of_stream === true, observe);
      case 'request_body':
      case 'response_body': {
        const body = msg[kind]?.body;
        const buf = body ? (Buffer.isBuffer(body) ? body : Buffer.from(body)) : Buffer.alloc(0);
        const before = this.bodyBytes[direction];
        this.bodyBytes[direction] = before + buf.length;
        this.handler.bodyChunk(direction, buf.length, before + buf.length > this.maxBodyBytes);
        const kept = buf.subarray(0, Math.max(0, this.maxBodyBytes - before));
        const eos = msg[kind]?.end_of_stream === true;
        return kind === 'request_body' ? this.session.requestBody(kept, eos, observe) : this.session.responseBody(kept, eos, observe);
      }
      case 'request_trailers':
        return this.session.requestTrailers(observe);
      case 'response_trailers':
        return CONTINUE.response_trailers;
      default:
        throw new ProtocolError('unknown-message', `unknown ProcessingRequest field ${String(kind)}`);
    }
  }

  /** Per direction: headers once, then any body chunks, then trailers once. */
  private advance(direction: 'request' | 'response', next: Phase, kind: RequestCase): void {
    const now = this.phase[direction];
    const ok = next === 'body' ? now === 'headers' || now === 'body' || now === 'idle' : ORDER[next] > ORDER[now];
    if (!ok) throw new ProtocolError('out-of-order', `${kind} after ${direction} ${now}`);
    this.phase[direction] = next;
  }

  private write(reply: ProcessingResponse): void {
    if (this.closed) return;
    this.call.write(reply);
    if (reply.immediate_response) this.phase.request = this.phase.response = 'trailers';
  }

  private finish(code: grpc.status, details?: string): void {
    if (this.closed) return;
    this.markClosed();
    try {
      if (code === grpc.status.OK) this.call.end();
      else this.call.emit('error', { code, details: details ?? '' });
    } catch {
      /* the peer is already gone */
    }
  }

  private markClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.session.close();
    this.onDone();
  }
}

/** Envoy's `source.address` request attribute (request_attributes: [source.address]), if sent. */
export function sourceAddressOf(attributes: Record<string, Struct> | undefined): string | undefined {
  if (!attributes) return undefined;
  for (const struct of Object.values(attributes)) {
    const v = struct?.fields?.['source.address'];
    if (v && typeof v.stringValue === 'string' && v.stringValue !== '') return v.stringValue;
  }
  return undefined;
}
