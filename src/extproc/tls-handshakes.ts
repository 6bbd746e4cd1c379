/**
 * Refused TLS handshakes on the ext_proc port (mTLS, VIGIL_GRPC_TLS_*): a client without a certificate,
 * with one vigil does not accept, or not speaking TLS at all. Node's TLS server drops such a connection
 * before grpc-js sees it, so without this it would end in silence. Each one is counted by reason and
 * logged at most once a minute per reason (the client's address, never its certificate).
 */
import type { Http2Server } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Metrics } from '../obs/metrics.js';
import type { ThrottledLog } from '../obs/throttled-log.js';

export type HandshakeFailure = 'no-client-certificate' | 'client-certificate-rejected' | 'not-tls' | 'other';

export const HANDSHAKE_FAILURES: readonly HandshakeFailure[] = ['no-client-certificate', 'client-certificate-rejected', 'not-tls', 'other'];

/** The reason of a handshake error, from OpenSSL's code as Node reports it. */
export function handshakeFailure(code: string | undefined): HandshakeFailure {
  if (code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE') return 'no-client-certificate';
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_HTTP_REQUEST' || code === 'ERR_SSL_UNKNOWN_PROTOCOL') return 'not-tls';
  if (code !== undefined && /CERTIFICATE|UNKNOWN_CA|VERIFY/.test(code)) return 'client-certificate-rejected';
  return 'other';
}

export function watchTlsHandshakes(server: Http2Server, metrics: Metrics, log: ThrottledLog): void {
  for (const reason of HANDSHAKE_FAILURES) metrics.tlsHandshakeFailures.inc({ reason }, 0);
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    const reason = handshakeFailure(err.code);
    metrics.tlsHandshakeFailures.inc({ reason });
    log.warn(
      `tls-${reason}`,
      { reason, code: err.code, peer: socket.remoteAddress },
      'TLS handshake on the ext_proc port refused: the client needs a certificate from VIGIL_GRPC_TLS_CLIENT_CA (Envoy fails open meanwhile)',
    );
  });
}
