import { constants as h2 } from 'node:http2';
import type { Http2Server, ServerHttp2Session } from 'node:http2';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { ThrottledLog } from '../obs/throttled-log.js';

export type DropReason = 'lost' | 'unresponsive' | 'session-error' | 'peer-goaway';

const RESET_LIMIT = 'on Node 20, typically after the GOAWAY Node sends past its stream-reset limit (docs/protocol.md §14)';
const MESSAGES: Record<DropReason, string> = {
  lost: `HTTP/2 connection from Envoy ended without a GOAWAY from Envoy: reset by the peer, or ${RESET_LIMIT}; Envoy reconnects, streams in flight failed open`,
  unresponsive: `HTTP/2 connection from Envoy stopped answering pings: vigil closed it; ${RESET_LIMIT}; Envoy reconnects, streams in flight failed open`,
  'session-error': 'HTTP/2 connection from Envoy failed: Node ended the session with an error (its HTTP/2 flood protections); Envoy reconnects',
  'peer-goaway': 'Envoy closed its HTTP/2 connection with an error code (GOAWAY)',
};

/**
 * Watches the HTTP/2 connections (sessions) of the ext_proc port, which grpc-js does not expose, so
 * that no connection ends in silence. A connection ends normally when Envoy says so (GOAWAY with
 * NO_ERROR, as Envoy and grpc clients do before closing) or when vigil drains; every other end is
 * counted once, by its first sign, and logged (once a minute per reason at most):
 *  - `peer-goaway`: Envoy sent GOAWAY with an error code;
 *  - `session-error`: Node ended the session with an error (its flood protections);
 *  - `unresponsive`: a ping still unanswered a whole period later; vigil destroys the session, which
 *    frees its socket. Node's HTTP/2 server answers too many received stream resets (Envoy's default
 *    close resets every stream, docs/protocol.md §14) with a GOAWAY sent by nghttp2 itself; Node 20 is
 *    not told: the session emits nothing and stops reading, so while the peer keeps its end open
 *    the session and its socket would stay forever;
 *  - `lost`: closed with no GOAWAY from Envoy and not by vigil: the TCP connection reset, or the same
 *    nghttp2 GOAWAY when the peer hung up at once.
 * One ping per connection per period: Envoy keeps one connection per worker thread.
 */
interface Tracked {
  /** A ping was sent at the last sweep and has not been answered. */
  awaitingPing: boolean;
  /** Its end is accounted for: counted as a drop, or announced by Envoy's GOAWAY(NO_ERROR). */
  ended: boolean;
}

export class ConnectionWatch {
  private readonly sessions = new Map<ServerHttp2Session, Tracked>();
  private readonly problems: ThrottledLog;
  private timer: NodeJS.Timeout | undefined;
  private lastSweep = 0;
  private draining = false;

  constructor(
    private readonly metrics: Metrics,
    logger: Logger,
    /** Ping period; a ping still unanswered at the next one means the connection is dead. 0 = no pings. */
    private readonly pingMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.problems = new ThrottledLog(logger);
    for (const reason of Object.keys(MESSAGES)) metrics.connectionDrops.inc({ reason }, 0);
  }

  /** Follows the sessions of one HTTP/2 server (grpc-js makes one per bound address). */
  attach(server: Http2Server): void {
    server.on('session', (session: ServerHttp2Session) => this.track(session));
    if (this.pingMs > 0 && !this.timer) {
      this.lastSweep = this.now();
      this.timer = setInterval(() => this.sweep(), this.pingMs);
      this.timer.unref();
    }
  }

  /** Stops pinging (drain): grpc-js closes the sessions itself, and those closes are no drops. */
  stop(): void {
    this.draining = true;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  get open(): number {
    return this.sessions.size;
  }

  private track(session: ServerHttp2Session): void {
    const t: Tracked = { awaitingPing: false, ended: false };
    this.sessions.set(session, t);
    this.metrics.connections.inc();
    this.metrics.live.connections = this.sessions.size;
    session.on('goaway', (code: number) => {
      if (code === h2.NGHTTP2_NO_ERROR) t.ended = true;
      else this.dropped(t, 'peer-goaway', session, { code });
    });
    // Node's server also forwards session errors as 'sessionError'; listening here changes nothing else.
    session.on('error', (err: NodeJS.ErrnoException) => this.dropped(t, 'session-error', session, { code: err.code, err: err.message }));
    session.once('close', () => {
      if (!this.draining) this.dropped(t, 'lost', session, {});
      this.sessions.delete(session);
      this.metrics.live.connections = this.sessions.size;
    });
  }

  /**
   * Pings every open session; one whose previous ping is still unanswered is dead. A sweep that comes
   * late (vigil's own event loop was blocked) judges nobody: the answers may be waiting unread.
   */
  private sweep(): void {
    const t0 = this.now();
    const onTime = t0 - this.lastSweep < this.pingMs * 1.5;
    this.lastSweep = t0;
    for (const [session, t] of this.sessions) {
      if (session.destroyed || session.closed) continue;
      if (t.awaitingPing && !onTime) continue;
      if (t.awaitingPing) {
        this.dropped(t, 'unresponsive', session, { pingMs: this.pingMs });
        session.destroy();
        continue;
      }
      t.awaitingPing = true;
      try {
        session.ping((err) => {
          if (!err) t.awaitingPing = false;
        });
      } catch {
        // A session closing under our feet: its 'close' removes it.
      }
    }
  }

  /** Counts and logs a connection's abnormal end, once per connection (its first sign). */
  private dropped(t: Tracked, reason: DropReason, session: ServerHttp2Session, fields: Record<string, unknown>): void {
    if (t.ended) return;
    t.ended = true;
    this.metrics.connectionDrops.inc({ reason });
    const peer = session.socket?.remoteAddress;
    this.problems.warn(`connection-${reason}`, { reason, ...(peer ? { peer: `${peer}:${session.socket.remotePort}` } : {}), ...fields }, MESSAGES[reason]);
  }
}
