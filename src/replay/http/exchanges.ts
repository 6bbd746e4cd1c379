/**
 * All the HTTP exchanges in a capture's TCP connections: each connection paired on its own (pair.ts), then the
 * exchanges merged in order of their request's first byte (a stable sort, so ties keep connection order).
 */
import type { Problem, ReplayExchange, TcpConnection } from '../types.js';
import type { ReaderOptions } from './message-reader.js';
import { pairConnection } from './pair.js';

export interface ExchangesResult {
  requests: number;
  responses: number;
  exchanges: ReplayExchange[];
  problems: Problem[];
}

export function exchangesFromConnections(conns: readonly TcpConnection[], opts: ReaderOptions = {}): ExchangesResult {
  let requests = 0;
  let responses = 0;
  const exchanges: ReplayExchange[] = [];
  const problems: Problem[] = [];
  for (const conn of conns) {
    const one = pairConnection(conn, opts);
    requests += one.requests;
    responses += one.responses;
    for (const e of one.exchanges) exchanges.push(e);
    for (const p of one.problems) problems.push(p);
  }
  exchanges.sort((a, b) => a.tsUs - b.tsUs);
  return { requests, responses, exchanges, problems };
}
