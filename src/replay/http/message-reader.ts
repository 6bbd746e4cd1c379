/**
 * Reads the HTTP/1.x messages of one direction of a reassembled TCP connection: requests from the client's bytes,
 * responses from the server's (which need the request methods, in order, to frame bodies: RFC 9112 §6.3).
 *
 * Messages follow each other back to back (keep-alive, pipelining: RFC 9112 §9.3, §9.3.2). Empty lines before a
 * start line are skipped (RFC 9112 §2.2). When a start line or message cannot be read, the problem is counted and
 * the reader resyncs: it looks, line by line, for the next line that is a start line by the strict grammar.
 * The rules are described in full in docs/replay-http.md.
 */
import type { HeaderPairs, HttpRequest, HttpResponse, Problem, StreamPiece } from '../types.js';
import { readChunkedBody, readLengthBody, readUntilClose, type BodyResult } from './body-reader.js';
import { abs, excerpt, readLine, toRuns, tsAt, type Cursor, type Run } from './byte-stream.js';
import { requestFraming, responseFraming, type FramingDecision } from './framing.js';
import { readHeaderSection } from './header-section.js';
import { endsWithVersion, findStartLine, startsWithHttp, type StartLineTests } from './resync.js';
import { isStatusLine, isStrictRequestLine, parseRequestLine, parseStatusLine, type RequestLine, type StatusLine } from './start-line.js';

export interface ReaderOptions {
  /** Body bytes kept per message (default 65,536); `bodyBytes` still counts them all. */
  maxBodyBytes?: number;
  /** Limit on a start line plus header section, and on a chunk-size line or trailer section (default 65,536). */
  maxHeaderBytes?: number;
  /** Stop after this many requests, or final responses (default: no limit). */
  maxMessages?: number;
  /**
   * Drop messages that were not captured whole (a gap in the body, cut off by the end of the stream, unknown body
   * length) instead of keeping them with `complete: false`. This is what Wireshark counts: it dissects a message
   * only once TCP reassembly has delivered all of it. Default false.
   */
  completeOnly?: boolean;
}

export interface RequestsResult {
  requests: HttpRequest[];
  problems: Problem[];
}

export interface ResponsesResult {
  /** Final responses (status >= 200, and 101 Switching Protocols), in order. */
  responses: HttpResponse[];
  /** 1xx interim responses seen (other than 101): read and skipped. */
  interim: number;
  problems: Problem[];
  /** For each response, the index in `requestMethods` of the request it answers (dropped responses still count). */
  answers: number[];
  /** Index of the response after which HTTP ended (101, or 2xx to CONNECT), or null. */
  endedAfter: number | null;
}

export const DEFAULT_MAX_BODY_BYTES = 65_536;
export const DEFAULT_MAX_HEADER_BYTES = 65_536;

type Head = { req: RequestLine; res?: undefined } | { res: StatusLine; req?: undefined };

interface Message {
  tsUs: number;
  head: Head;
  headers: HeaderPairs;
  body: Buffer;
  bodyBytes: number;
  complete: boolean;
}

/** What differs between reading requests and reading responses. */
interface Side extends StartLineTests {
  noun: 'request' | 'response';
  badLineKind: 'bad-request-line' | 'bad-status-line';
  parseHead(text: string): { head: Head; loose: boolean } | null;
  isResyncLine(text: string): boolean;
  quick(buf: Buffer, from: number, end: number): boolean;
  framing(head: Head, headers: HeaderPairs): FramingDecision;
  /** Takes a message; false stops reading. */
  accept(msg: Message): boolean;
  /** A message whose start line was read was dropped. */
  dropped(head: Head): void;
}

const CR = 0x0d;
const LF = 0x0a;
const EMPTY = Buffer.alloc(0);

function readMessages(pieces: readonly StreamPiece[], side: Side, opts: ReaderOptions): Problem[] {
  const problems: Problem[] = [];
  const runs = toRuns(pieces);
  const maxHeader = Math.max(64, opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES);
  const cap = Math.max(0, opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const problem = (kind: string, at: Cursor, detail: string): void => {
    problems.push({ kind, detail: `${side.noun} at byte ${abs(runs, at)}: ${detail}` });
  };
  let c: Cursor = { r: 0, o: 0 };
  let resync = false;
  /** When resyncing from a start line that failed: do not take that same place again. */
  let skipFirst = false;
  const resyncPast = (at: Cursor): void => {
    c = at;
    resync = true;
    skipFirst = true;
  };
  /** Bytes passed over while resyncing after a gap (after a problem, that problem already tells). */
  let afterGap: { at: Cursor; skipped: number } | null = null;
  const reportSkipped = (): void => {
    if (afterGap !== null && afterGap.skipped > 0) problem('skipped-after-gap', afterGap.at, `${afterGap.skipped} bytes after a gap skipped to find the next ${side.noun}`);
    afterGap = null;
  };
  while (c.r < runs.length) {
    const run = runs[c.r] as Run;
    const last = c.r === runs.length - 1;
    if (resync) {
      const found = findStartLine(run, c.o, skipFirst, maxHeader, side);
      skipFirst = false;
      if (afterGap !== null) afterGap.skipped += (found < 0 ? run.data.length : found) - c.o;
      if (found < 0) {
        c = { r: c.r + 1, o: 0 };
        continue;
      }
      c = { r: c.r, o: found };
      resync = false;
      reportSkipped();
    }
    while (c.o < run.data.length && (run.data[c.o] === CR || run.data[c.o] === LF)) c.o += 1;
    if (c.o >= run.data.length) {
      // A gap at a message boundary: whatever it held is lost, and the next run may begin mid-message.
      c = { r: c.r + 1, o: 0 };
      resync = true;
      afterGap = { at: c, skipped: 0 };
      continue;
    }
    const start: Cursor = { r: c.r, o: c.o };
    const line = readLine(run, c.o, maxHeader, last);
    if (line.kind !== 'line') {
      const partial = run.data.toString('latin1', c.o, Math.min(run.data.length, c.o + 200));
      const looksStarted = side.parseHead(partial) !== null;
      if (line.kind === 'end') problem(looksStarted ? 'truncated-message' : side.badLineKind, start, `stream ends inside the start line ${excerpt(partial)}`);
      else if (line.kind === 'gap') problem(looksStarted ? 'gap-in-headers' : side.badLineKind, start, `bytes missing inside the start line ${excerpt(partial)}`);
      else problem(side.badLineKind, start, `no line end within ${maxHeader} bytes: ${excerpt(partial)}`);
      if (line.kind === 'end') break;
      if (line.kind === 'gap') {
        c = { r: c.r + 1, o: 0 };
        resync = true;
      } else resyncPast(start);
      continue;
    }
    const parsed = side.parseHead(line.text);
    if (parsed === null) {
      problem(side.badLineKind, start, excerpt(line.text));
      resyncPast(start);
      continue;
    }
    const { head } = parsed;
    const hs = readHeaderSection(run, line.next, maxHeader - line.bytes, last);
    if (hs.kind !== 'ok') {
      if (hs.kind === 'end') {
        problem('truncated-message', start, `stream ends inside the header section of ${excerpt(line.text)}`);
        break;
      }
      side.dropped(head);
      if (hs.kind === 'gap') {
        problem('gap-in-headers', start, `bytes missing in the header section of ${excerpt(line.text)}`);
        c = { r: c.r + 1, o: 0 };
      } else {
        problem('header-section-too-large', start, `header section of ${excerpt(line.text)} over ${maxHeader} bytes`);
        resyncPast(start);
        continue;
      }
      resync = true;
      continue;
    }
    if (parsed.loose && (hs.headers.length === 0 || hs.badLines.length > 0)) {
      // A loose request line counts only with a well-formed header section as evidence that this is HTTP.
      problem(side.badLineKind, start, `${excerpt(line.text)} (malformed, and no well-formed header section follows)`);
      resyncPast(start);
      continue;
    }
    if (parsed.loose) problem('loose-request-line', start, `${excerpt(line.text)} read as method ${excerpt(head.req?.method ?? '')}`);
    for (const bad of hs.badLines) problem('bad-header', start, `skipped field line ${excerpt(bad)}`);
    const decision = side.framing(head, hs.headers);
    for (const p of decision.problems) problem(p.kind, start, p.detail);
    const framing = decision.framing;
    const bodyStart: Cursor = { r: c.r, o: hs.next };
    let res: BodyResult;
    if (framing.kind === 'length') res = readLengthBody(runs, bodyStart, framing.length, cap);
    else if (framing.kind === 'chunked') res = readChunkedBody(runs, bodyStart, cap, maxHeader);
    else if (framing.kind === 'close') res = readUntilClose(runs, bodyStart, cap);
    else {
      const invalid = framing.kind === 'invalid';
      res = { kind: 'done', body: EMPTY, bodyBytes: 0, complete: !invalid, gapBytes: 0, truncated: false, next: bodyStart, resync: invalid };
    }
    if (res.kind === 'dropped') {
      problem(res.problem, start, `${res.detail}; ${excerpt(line.text)} dropped`);
      side.dropped(head);
      c = res.resume;
      resync = true;
      continue;
    }
    if (res.gapBytes > 0) problem('gap-in-body', start, `${res.gapBytes} body bytes of ${excerpt(line.text)} not captured`);
    if (res.truncated) problem('truncated-body', start, `stream ends after ${res.bodyBytes} body bytes of ${excerpt(line.text)}`);
    if (opts.completeOnly === true && !res.complete) {
      problem('incomplete-message', start, `${excerpt(line.text)} not captured whole; dropped`);
      side.dropped(head);
      if (res.truncated) break;
      c = res.next;
      resync = res.resync;
      continue;
    }
    const ts = tsAt(run, start.o);
    const more = side.accept({ tsUs: ts, head, headers: hs.headers, body: res.body, bodyBytes: res.bodyBytes, complete: res.complete });
    if (!more || framing.kind === 'tunnel') break;
    c = res.next;
    resync = res.resync;
  }
  reportSkipped();
  return problems;
}

/** Reads the requests a client sent (RFC 9112 §3, §6.3 items 3–6). */
export function readRequests(pieces: readonly StreamPiece[], opts: ReaderOptions = {}): RequestsResult {
  const requests: HttpRequest[] = [];
  const max = opts.maxMessages ?? Infinity;
  const side: Side = {
    noun: 'request',
    badLineKind: 'bad-request-line',
    parseHead(text) {
      const req = parseRequestLine(text);
      return req === null ? null : { head: { req }, loose: !req.strict };
    },
    isResyncLine: isStrictRequestLine,
    quick: endsWithVersion,
    framing: (_head, headers) => requestFraming(headers),
    accept(msg) {
      const req = msg.head.req as RequestLine;
      requests.push({ tsUs: msg.tsUs, method: req.method, target: req.target, version: req.version, headers: msg.headers, body: msg.body, bodyBytes: msg.bodyBytes, complete: msg.complete });
      return requests.length < max;
    },
    dropped() {},
  };
  const problems = max > 0 ? readMessages(pieces, side, opts) : [];
  return { requests, problems };
}

/** Reads the responses a server sent; `requestMethods[i]` is the method of the request the i-th final response answers. */
export function readResponses(pieces: readonly StreamPiece[], requestMethods: readonly string[], opts: ReaderOptions = {}): ResponsesResult {
  const responses: HttpResponse[] = [];
  const answers: number[] = [];
  const max = opts.maxMessages ?? Infinity;
  let interim = 0;
  let answered = 0;
  let endedAfter: number | null = null;
  const isFinal = (status: number): boolean => status >= 200 || status === 101;
  const methodFor = (): string => requestMethods[answered] ?? '';
  const side: Side = {
    noun: 'response',
    badLineKind: 'bad-status-line',
    parseHead(text) {
      const res = parseStatusLine(text);
      return res === null ? null : { head: { res }, loose: false };
    },
    isResyncLine: isStatusLine,
    quick: startsWithHttp,
    framing: (head, headers) => responseFraming(methodFor(), (head.res as StatusLine).status, headers),
    accept(msg) {
      const res = msg.head.res as StatusLine;
      if (!isFinal(res.status)) {
        interim += 1;
        return true;
      }
      const method = methodFor();
      answers.push(answered);
      answered += 1;
      responses.push({ tsUs: msg.tsUs, status: res.status, version: res.version, headers: msg.headers, body: msg.body, bodyBytes: msg.bodyBytes, complete: msg.complete });
      if (res.status === 101 || (method === 'CONNECT' && res.status >= 200 && res.status < 300)) {
        endedAfter = responses.length - 1;
        return false;
      }
      return responses.length < max;
    },
    dropped(head) {
      if (head.res !== undefined && isFinal(head.res.status)) answered += 1;
    },
  };
  const problems = max > 0 ? readMessages(pieces, side, opts) : [];
  return { responses, interim, problems, answers, endedAfter };
}
