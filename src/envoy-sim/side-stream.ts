/**
 * One `Process` call on the shared grpc-js client, with Envoy's stream semantics
 * (docs/envoy-ext-proc.md §2.11, Envoy `client_impl.cc`): close = half-close then reset, and no
 * callbacks after a local close.
 */
import * as grpc from '@grpc/grpc-js';
import type { ProcessingRequest, ProcessingResponse } from '../extproc/messages.js';

export interface SideStreamCallbacks {
  onReceiveMessage(response: ProcessingResponse): void;
  /** The server closed with status OK (§2.6). */
  onGrpcClose(): void;
  /** Any other status, from the server or the transport (§2.4). */
  onGrpcError(code: number, details: string): void;
}

/** How long Envoy's graceful close waits for the server's status before resetting (docs/protocol.md §11). */
export const GRACEFUL_CLOSE_MS = 1000;

type ProcessCall = grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;

export class SideStream {
  private readonly call: ProcessCall;
  private closed = false;
  private callbacks: SideStreamCallbacks | null;
  private graceTimer: NodeJS.Timeout | null = null;

  /** `graceful`: the ext_proc_graceful_grpc_close runtime guard (see close()). */
  constructor(client: grpc.Client, callbacks: SideStreamCallbacks, private readonly graceful = false) {
    this.callbacks = callbacks;
    const method = (client as unknown as { Process: () => ProcessCall }).Process.bind(client);
    this.call = method();
    // An 'error' event always comes with a 'status' one; handle everything from 'status'.
    this.call.on('error', () => {});
    this.call.on('data', (msg: ProcessingResponse) => this.callbacks?.onReceiveMessage(msg));
    this.call.on('status', (status: grpc.StatusObject) => {
      if (this.graceTimer) clearTimeout(this.graceTimer);
      this.graceTimer = null;
      if (this.closed) return;
      // Envoy's onRemoteClose: the stream counts as closed before the callbacks run.
      this.closed = true;
      const cb = this.callbacks;
      this.callbacks = null;
      if (status.code === grpc.status.OK) cb?.onGrpcClose();
      else cb?.onGrpcError(status.code, status.details);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  send(request: ProcessingRequest): void {
    if (this.closed) return;
    this.call.write(request);
  }

  /** Stop delivering callbacks (Envoy's notifyFilterDestroy in observability mode). */
  detach(): void {
    this.callbacks = null;
  }

  /**
   * §0.7 / §2.11: `closeStream()` (END_STREAM) then `resetStream()` (RST_STREAM CANCEL), with no callbacks
   * afterwards. With the graceful-close runtime guard (1.34+), the reset waits up to GRACEFUL_CLOSE_MS
   * for the server's status and is skipped when it arrives. Returns false when the stream was already
   * closed, like Envoy's close().
   */
  close(): boolean {
    if (this.closed) return false;
    this.closed = true;
    this.callbacks = null;
    this.call.end();
    if (!this.graceful) {
      this.call.cancel();
      return true;
    }
    this.graceTimer = setTimeout(() => this.call.cancel(), GRACEFUL_CLOSE_MS);
    this.graceTimer.unref();
    return true;
  }
}

/** The open side streams of one EnvoySim, so that close() can end them all, deferred ones included. */
export class StreamRegistry {
  private readonly open = new Set<SideStream>();
  private readonly deferred = new Map<SideStream, { timer: NodeJS.Timeout; done: (closed: boolean) => void }>();

  add(stream: SideStream): void {
    this.open.add(stream);
  }

  delete(stream: SideStream): void {
    this.open.delete(stream);
  }

  /** §2.9: observability mode keeps the stream for deferred_close_timeout after the exchange ends. */
  deferClose(stream: SideStream, ms: number, done: (closed: boolean) => void): void {
    const timer = setTimeout(() => this.closeDeferred(stream), ms);
    timer.unref();
    this.deferred.set(stream, { timer, done });
  }

  private closeDeferred(stream: SideStream): void {
    const entry = this.deferred.get(stream);
    this.deferred.delete(stream);
    this.open.delete(stream);
    if (entry) clearTimeout(entry.timer);
    const closed = stream.close();
    entry?.done(closed);
  }

  closeAll(): void {
    for (const stream of [...this.deferred.keys()]) this.closeDeferred(stream);
    for (const stream of [...this.open]) stream.close();
    this.open.clear();
  }
}
