/**
 * Before anything is measured: prove that the exact bytes the load generators send get a real gRPC
 * answer (HTTP 200, grpc-status 0, one ProcessingResponse of the request_headers kind), using node's
 * own HTTP/2 client; then that every stream h2load sends is a counted decision on the full allow path.
 */
import { connect } from 'node:http2';
import { PROCESS_METHOD } from '../src/extproc/proto.js';
import { runLoad } from './h2load.js';
import { decodeResponseFrames } from './payload.js';
import type { TargetHandle } from './targets.js';
import type { TargetSpec } from './types.js';
import { readCounters, scrape } from './vigil-metrics.js';

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

const VERIFY_REQUESTS = 2000;

/**
 * Same bytes over node's HTTP/2 client, then 2,000 requests through h2load: every stream must be a
 * counted decision (vigil: all allow, no fail-open, no stream errors; bare: its own count). A vigil of
 * several processes whose /metrics covers only one of them is reported, not failed.
 */
export async function verifyTarget(
  target: TargetHandle,
  spec: TargetSpec,
  frame: Buffer,
  load: { payloadFile: string; logFile: string; pin: string[] },
  log: (msg: string) => void,
): Promise<void> {
  await checkOneExchange(target.grpcPort, frame);
  const before = target.adminPort ? readCounters(await scrape(target.adminPort)) : null;
  const answered0 = before ? before.decisions : await target.answered();
  const result = await runLoad({
    port: target.grpcPort,
    payloadFile: load.payloadFile,
    logFile: load.logFile,
    connections: spec.connections,
    streams: 64,
    durationS: 0,
    requests: VERIFY_REQUESTS,
    pin: load.pin,
    dropMs: 0,
  });
  let counted: number;
  let extra = '';
  if (target.adminPort && before) {
    const after = readCounters(await scrape(target.adminPort));
    counted = after.decisions - before.decisions;
    const allowed = after.allowed - before.allowed;
    const failOpen = after.failOpen - before.failOpen;
    const streamErrors = after.streamErrors - before.streamErrors;
    if (failOpen > 0 || streamErrors > 0 || allowed !== counted) {
      throw new Error(`${target.name}: ${failOpen} fail-open, ${streamErrors} stream errors, ${counted - allowed} non-allow decisions — the bench would not measure the full allow path`);
    }
    extra = ', all allow, 0 fail-open, 0 stream errors';
  } else {
    counted = (await target.answered()) - answered0;
  }
  if (result.succeeded !== VERIFY_REQUESTS || result.status2xx < VERIFY_REQUESTS) {
    throw new Error(`${target.name}: h2load ${result.succeeded}/${VERIFY_REQUESTS} succeeded (${result.status2xx} 2xx)`);
  }
  if (counted !== VERIFY_REQUESTS) {
    if (spec.vigil && target.pids.length > 1 && counted > 0 && counted < VERIFY_REQUESTS) {
      log(`${target.name}: /metrics counted ${counted} of ${VERIFY_REQUESTS} decisions: with ${target.pids.length} processes it seems to cover one of them; its counters in this report are partial`);
    } else {
      throw new Error(`${target.name}: h2load ${result.succeeded} succeeded, server counted ${counted}`);
    }
  }
  log(`${target.name}: verified — gRPC OK with a request_headers reply; h2load ${result.succeeded} 2xx = ${counted} server-side decisions${extra}`);
}
