/**
 * Why an exchange got no answer from the ext_proc server, in words, from what Envoy shows of it: its
 * response code details and stats (docs/protocol.md §8, §9). Fail-closed, Envoy's details carry the gRPC
 * status code; fail-open, only the stats say that something failed. Used by `vigil sim` and `vigil replay`
 * to say why a run failed.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { SimResult } from './types.js';

const GRPC_ERROR = /^ext_proc_error_gRPC_error_(\d+)$/;

function grpcName(code: number): string {
  return (GrpcStatus as unknown as Record<number, string>)[code] ?? 'unknown';
}

/** What a gRPC status code usually means when it ends an ext_proc stream. */
function grpcFailure(code: number): string {
  const name = `gRPC ${code} ${grpcName(code)}`;
  switch (code) {
    case GrpcStatus.UNAVAILABLE:
      return `no ext_proc server reachable there, or the connection dropped (${name})`;
    case GrpcStatus.UNIMPLEMENTED:
      return `the server does not implement ext_proc (${name})`;
    case GrpcStatus.INTERNAL:
    case GrpcStatus.UNKNOWN:
      return `the stream failed; is it an ext_proc gRPC port and not an HTTP one? (${name})`;
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return `the server refused the stream: too many streams or too large a message (${name})`;
    default:
      return `the stream failed (${name})`;
  }
}

/** null when the exchange was answered (decided by the server); else why it was not. */
export function failureOf(r: SimResult): string | null {
  if (r.stats.message_timeouts > 0) return 'no answer within the message timeout';
  const grpc = GRPC_ERROR.exec(r.details ?? '');
  if (grpc) return grpcFailure(Number(grpc[1]));
  if (r.stats.streams_failed > 0) return 'the gRPC stream failed (Envoy failed open)';
  if (r.stats.spurious_msgs_received > 0) return 'a reply Envoy did not expect (spurious message)';
  if (r.outcome === 'reset') return 'the exchange was reset';
  if (r.outcome === 'local-reply') return `Envoy's local reply ${r.client.status} (${r.details ?? 'no details'})`;
  return null;
}
