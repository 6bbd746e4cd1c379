/**
 * Builders for the HTTP reader tests: StreamPiece lists and TcpConnections made by hand, split at chosen places.
 * (Not a test file itself.)
 */
import type { StreamPiece, TcpConnection } from '../../../src/replay/types.js';

/** One data piece; strings are taken as latin1 so any byte can be written as \xNN. */
export function data(bytes: string | Buffer, tsUs = 1_000): StreamPiece {
  return { kind: 'data', tsUs, data: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes };
}

export function gap(bytes: number, tsUs = 1_000): StreamPiece {
  return { kind: 'gap', tsUs, bytes };
}

/** Splits `text` at the given offsets into data pieces with timestamps ts0, ts0 + 10, ... */
export function split(text: string, cuts: number[], ts0 = 1_000): StreamPiece[] {
  const out: StreamPiece[] = [];
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    out.push(data(text.slice(from, cut), ts0 + out.length * 10));
    from = cut;
  }
  return out;
}

/** One piece per byte, timestamps ts0, ts0 + 1, ... */
export function bytewise(text: string, ts0 = 1_000): StreamPiece[] {
  return [...text].map((ch, i) => data(ch, ts0 + i));
}

export function conn(toServer: StreamPiece[], toClient: StreamPiece[], id = 12): TcpConnection {
  return {
    id,
    client: { ip: '192.0.2.1', port: 50000 },
    server: { ip: '198.51.100.2', port: 80 },
    firstTsUs: 1_000,
    midStream: false,
    toServer,
    toClient,
  };
}

/** Problem kinds, sorted, for compact assertions. */
export function kinds(problems: Array<{ kind: string }>): string[] {
  return problems.map((p) => p.kind).sort();
}

export const GET = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: example.test\r\n${extra}\r\n`;
export const OK = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`;
