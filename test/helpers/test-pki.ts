/**
 * Throwaway certificates for the TLS tests, made by the `openssl` command into a temp folder (no
 * private key is ever committed): a CA, a server certificate for 127.0.0.1 and localhost, a client
 * certificate from that CA (Envoy's), and a second, unrelated CA with its own client certificate (the
 * "wrong" one). Keys are P-256 and unencrypted; certificates last a day. Every leaf carries both
 * serverAuth and clientAuth, since a Redis Cluster node uses one certificate both ways on its bus.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pair {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  /** The CA's certificate (ca.cert) and key. */
  ca: Pair;
  /** CN=localhost, subjectAltName IP:127.0.0.1, DNS:localhost, DNS:vigil (the name envoy/examples/mtls.yaml checks); signed by `ca`. */
  server: Pair;
  /** CN=envoy; signed by `ca`. */
  client: Pair;
  /** An unrelated CA and a client certificate it signed. */
  rogueCa: Pair;
  rogueClient: Pair;
  cleanup(): void;
}

const CURVE = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCa(dir: string, name: string): Pair {
  const pair = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
  openssl(dir, [
    'req', '-x509', ...CURVE, '-keyout', pair.key, '-out', pair.cert, '-days', '1', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return pair;
}

function makeLeaf(dir: string, name: string, cn: string, ca: Pair, san: string): Pair {
  const pair = { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=${san}\n`);
  openssl(dir, ['req', '-new', ...CURVE, '-keyout', pair.key, '-out', csr, '-subj', `/CN=${cn}`]);
  openssl(dir, ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', pair.cert, '-days', '1', '-extfile', ext]);
  return pair;
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-pki-'));
  try {
    const ca = makeCa(dir, 'ca');
    const rogueCa = makeCa(dir, 'rogue-ca');
    return {
      dir,
      ca,
      server: makeLeaf(dir, 'server', 'localhost', ca, 'IP:127.0.0.1,DNS:localhost,DNS:vigil'),
      client: makeLeaf(dir, 'client', 'envoy', ca, 'DNS:envoy'),
      rogueCa,
      rogueClient: makeLeaf(dir, 'rogue-client', 'envoy', rogueCa, 'DNS:envoy'),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
