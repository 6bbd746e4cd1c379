/**
 * The shapes replay's stages hand to each other, one way:
 *
 *   capture file ─▶ frames ─▶ TCP segments ─▶ connections (reassembled byte streams)
 *                                                   └─▶ HTTP/1 messages ─▶ paired exchanges ─┐
 *   access log ─────────────────────────────────────────────────────────────▶ exchanges ─────┴▶ replay
 *
 * Times are microseconds since the Unix epoch (a double: exact to the microsecond for any date we meet;
 * nanosecond captures keep a fraction).
 */

/** Header list in wire order, names as sent. */
export type HeaderPairs = Array<[string, string]>;

/** Something in the input that was skipped or could not be read whole. Counted, never fatal on its own. */
export interface Problem {
  /** Stable, low-cardinality kind, e.g. 'truncated-record', 'bad-request-line', 'tcp-gap'. */
  kind: string;
  /** One line for a human: where and what. */
  detail: string;
}

/** One captured link-layer frame. */
export interface Frame {
  tsUs: number;
  /** pcap LINKTYPE_* of the interface it was captured on. */
  linkType: number;
  /** The captured bytes (may be shorter than the original frame: snaplen). */
  data: Buffer;
  /** The original frame length on the wire. */
  origLen: number;
  /** 0-based index of the frame in the file (for messages). */
  index: number;
}

export interface TcpEndpoint {
  ip: string;
  port: number;
}

/** One contiguous run of a direction's byte stream, or a hole where bytes were never captured. */
export type StreamPiece =
  | { kind: 'data'; tsUs: number; data: Buffer }
  | { kind: 'gap'; tsUs: number; bytes: number };

/** A reassembled TCP connection: each direction's bytes in sequence order. */
export interface TcpConnection {
  /** 0-based, in order of first packet. */
  id: number;
  /** The side that opened the connection (SYN sender), or the best guess when no SYN was seen. */
  client: TcpEndpoint;
  server: TcpEndpoint;
  firstTsUs: number;
  /** True when the three-way handshake's SYN was not captured (stream started mid-connection). */
  midStream: boolean;
  toServer: StreamPiece[];
  toClient: StreamPiece[];
}

/** What a capture reader found, before HTTP. */
export interface CaptureContents {
  format: 'pcap' | 'pcapng';
  frames: number;
  connections: TcpConnection[];
  /** HTTP requests seen in UDP datagrams (SSDP and the like): counted, never replayed (Envoy proxies TCP). */
  udpHttpRequests: number;
  problems: Problem[];
}

export interface HttpRequest {
  tsUs: number;
  method: string;
  /** The request-target as sent: origin-form '/a?b', absolute-form 'http://h/a', '*' or authority-form. */
  target: string;
  /** 'HTTP/1.1', 'HTTP/1.0'. */
  version: string;
  headers: HeaderPairs;
  /** The decoded body (chunked framing removed), at most the reader's body cap. */
  body: Buffer;
  /** Decoded body length before the cap. */
  bodyBytes: number;
  /** False when the message was cut short (gap, end of capture) before its end. */
  complete: boolean;
}

export interface HttpResponse {
  tsUs: number;
  status: number;
  version: string;
  headers: HeaderPairs;
  body: Buffer;
  bodyBytes: number;
  complete: boolean;
}

/** One request and (when one was seen) its response: the unit replay plays. */
export interface ReplayExchange {
  /** When the request's first byte was seen (captures) or logged (access logs). */
  tsUs: number;
  clientIp: string;
  /** null for access logs, which do not record it. */
  clientPort: number | null;
  /** Where the exchange came from, for messages: 'conn 12', 'line 408'. */
  origin: string;
  request: HttpRequest;
  response: HttpResponse | null;
}

/** Everything a reader extracted from one file. */
export interface ReplayInput {
  file: string;
  kind: 'pcap' | 'pcapng' | 'combined-log' | 'envoy-json-log';
  /** HTTP requests found (paired or not). */
  requests: number;
  /** HTTP responses found (final responses; 1xx interim responses are not counted). */
  responses: number;
  /** In request order (tsUs, then order within the file). */
  exchanges: ReplayExchange[];
  /** Counted, never replayed; see CaptureContents.udpHttpRequests. */
  udpHttpRequests: number;
  problems: Problem[];
  /** Logs only: the non-empty lines read; each became an exchange or was rejected as a problem. */
  lines?: number;
}
