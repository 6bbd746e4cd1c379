/**
 * Before anything is measured: prove that the exact bytes h2load will send get a real gRPC answer
 * (HTTP 200, grpc-status 0, one ProcessingResponse of the request_headers kind), using node's own
 * HTTP/2 client, and read the server-side counters the bench compares with h2load's counts.
 */
import { connect } from 'node:http2';
import { get } from 'node:http';
import { PROCESS_METHOD } from '../src/extproc/proto.js';
import { decodeResponseFrames } from './payload.js';

export async function checkOneExchange(port: number, frame: Buffer): Promise<void> {
  const session = connect(`http://127.0.0.1:${port}`);
  try {
    const result = await new Promise<{ status: number; grpcStatus: string | undefined; grpcMessage: string | undefined; body: Buffer }>(
      (resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': PROCESS_METHOD, 'content-type': 'application/grpc', te: 'trailers' });
        const chunks: Buffer[] = [];
        let status = 0;
        let grpcStatus: string | undefined;
        let grpcMessage: string | undefined;
        req.on('response', (h) => {
          status = Number(h[':status']);
          // A trailers-only answer carries grpc-status in the headers.
          if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
        });
        req.on('trailers', (t) => {
          grpcStatus = String(t['grpc-status']);
          grpcMessage = t['grpc-message'] === undefined ? undefined : String(t['grpc-message']);
        });
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => resolve({ status, grpcStatus, grpcMessage, body: Buffer.concat(chunks) }));
        req.on('error', reject);
        req.setTimeout(5000, () => reject(new Error('no answer within 5 s')));
        req.end(frame);
      },
    );
    const replies = decodeResponseFrames(result.body);
    const problems: string[] = [];
    if (result.status !== 200) problems.push(`HTTP status ${result.status}`);
    if (result.grpcStatus !== '0') problems.push(`grpc-status ${result.grpcStatus} ${result.grpcMessage ?? ''}`.trim());
    if (replies.length !== 1) problems.push(`${replies.length} response messages`);
    else if (replies[0]!.response !== 'request_headers') problems.push(`reply kind ${String(replies[0]!.response)}`);
    if (problems.length) throw new Error(`port ${port}: not a real ext_proc answer: ${problems.join('; ')}`);
  } finally {
    session.close();
  }
}

export function scrape(adminPort: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port: adminPort, path: '/metrics' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`/metrics: HTTP ${res.statusCode}`))));
    }).on('error', reject);
  });
}

/** Sum of a counter over the label sets whose label text contains `labelFilter` (all when omitted). */
export function counterSum(text: string, name: string, labelFilter = ''): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    if (labelFilter && !rest.includes(labelFilter)) continue;
    sum += Number(rest.slice(rest.lastIndexOf(' ') + 1));
  }
  return sum;
}
