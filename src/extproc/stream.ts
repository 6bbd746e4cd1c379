import * as grpc from '@grpc/grpc-js';
import { ProtocolError } from '../errors.js';
import type { HeaderMap, ProcessingRequest, ProcessingResponse, RequestCase, Struct } from './messages.js';
import { continueHeaders } from './respond.js';

/**
 * One ext_proc stream = one HTTP exchange. A per-direction state machine checks the order Envoy
 * guarantees (headers → body chunks → trailers, per direction; directions may interleave), and a
 * serial queue makes every message get exactly one reply of the matching kind, in order — never an
 * empty ProcessingResponse, nothing at all for observability_mode messages (docs/protocol.md).
 * What to answer to request headers is the ExchangeHandler's business; everything else continues.
 */

export type Call = grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>;

export interface ExchangeHandler {
  /** Decide on request headers. Must not throw: failures become fail-open answers inside. */
  requestHeaders(headers: HeaderMap | undefined, sourceAddress: string | undefined, observe: boolean): Promise<ProcessingResponse>;
  /** Every message received, by kind (for metrics). */
  message(kind: string): void;
  /** A body chunk's size (bytes kept for inspection are capped by the stream). */
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

  constructor(
    private readonly call: Call,
    private readonly handler: ExchangeHandler,
    private readonly maxBodyBytes: number,
    private readonly onDone: () => void,
  ) {
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
   * Envoy's order. Only request headers wait for the store; everything else answers synchronously.
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
        return this.handler.requestHeaders(msg.request_headers?.headers, this.sourceAddress, observe);
      case 'response_headers':
        return continueHeaders('response_headers');
      case 'request_body':
      case 'response_body': {
        const size = (msg[kind]?.body ?? Buffer.alloc(0)).length;
        const before = this.bodyBytes[direction];
        this.bodyBytes[direction] = before + size;
        this.handler.bodyChunk(direction, size, before + size > this.maxBodyBytes);
        return { [kind]: {} };
      }
      case 'request_trailers':
      case 'response_trailers':
        return { [kind]: {} };
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
