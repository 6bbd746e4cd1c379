/**
 * Envoy's local replies (`sendLocalReply`): the headers and body a client gets when Envoy answers by
 * itself (docs/envoy-ext-proc.md §1.6, §2.3–2.7).
 */
import { loadWire } from '../extproc/proto.js';
import { HeaderList } from './headers.js';

export interface LocalReplySpec {
  /** HTTP status before header mutations. */
  code: number;
  body: Buffer;
  /** Response code details, whitespace already replaced by '_'. */
  details: string;
  grpcStatus?: number;
  /** The ImmediateResponse header mutation, run on the reply's headers (§1.6). */
  mutateHeaders?: (headers: HeaderList) => void;
  kind: 'immediate-response' | 'local-reply';
}

/** Grpc::Utility::httpToGrpcStatus. */
function httpToGrpcStatus(code: number): number {
  switch (code) {
    case 400:
      return 13;
    case 401:
      return 16;
    case 403:
      return 7;
    case 404:
      return 12;
    case 429:
    case 502:
    case 503:
    case 504:
      return 14;
    default:
      return 2;
  }
}

function percentEncode(text: string): string {
  let out = '';
  for (const b of Buffer.from(text, 'utf8')) {
    out += b < 0x20 || b > 0x7e || b === 0x25 ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  }
  return out;
}

/**
 * The reply's headers (with `:status`) and body. gRPC requests get a trailers-only gRPC error (status 200,
 * grpc-status, grpc-message); HEAD requests get no body.
 */
export function buildLocalReply(
  spec: LocalReplySpec,
  request: { grpc: boolean; head: boolean },
): { headers: HeaderList; body: Buffer } {
  const headers = new HeaderList([[':status', String(spec.code)]]);
  spec.mutateHeaders?.(headers);
  if (request.grpc) {
    headers.set(':status', '200');
    headers.set('content-type', 'application/grpc');
    if (!headers.has('grpc-status')) headers.set('grpc-status', String(spec.grpcStatus ?? httpToGrpcStatus(spec.code)));
    const text = spec.body.toString('utf8').replace(/\n$/, '');
    if (text !== '' && !request.head) headers.set('grpc-message', percentEncode(text));
    headers.remove('content-length');
    return { headers, body: Buffer.alloc(0) };
  }
  if (spec.body.length > 0) {
    headers.set('content-length', String(spec.body.length));
    if (!headers.has('content-type')) headers.set('content-type', 'text/plain');
  }
  return { headers, body: request.head ? Buffer.alloc(0) : spec.body };
}

let statusNumbers: Map<string, number> | undefined;

/** `envoy.type.v3.StatusCode` (decoded as a name) → its number; unknown names → 0. */
export function statusCodeNumber(code: string | number | undefined): number {
  if (code === undefined) return 0;
  if (typeof code === 'number') return code;
  if (!statusNumbers) {
    statusNumbers = new Map();
    const def = loadWire().packageDefinition['envoy.type.v3.StatusCode'] as
      | { type?: { value?: Array<{ name: string; number: number }> } }
      | undefined;
    for (const v of def?.type?.value ?? []) statusNumbers.set(v.name, v.number);
  }
  return statusNumbers.get(code) ?? (/^\d+$/.test(code) ? Number(code) : 0);
}
