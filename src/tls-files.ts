/**
 * TLS material from PEM files, for the two places vigil speaks TLS: the ext_proc port (server
 * certificate and key, and the CA client certificates must chain to) and the Redis connection (CA, and
 * a client certificate and key when Redis asks for one). settings.ts checks each file here at start-up
 * (readable, the right kind of PEM, certificate and key belong together), naming the setting in every
 * problem; main.ts then reads the material with the same functions. A problem names the file, never
 * its content: a key is a secret.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';

/** TLS of the ext_proc port: all three files, or none (plaintext). */
export interface GrpcTlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle that clients' certificates must chain to; a client without one is refused. */
  clientCaFile: string;
}

/** TLS of the Redis connection (rediss://); each part optional. */
export interface RedisTlsFiles {
  /** CA bundle Redis's certificate must chain to; null = Node's roots (and NODE_EXTRA_CA_CERTS). */
  caFile: string | null;
  /** Client certificate and key, for a Redis with tls-auth-clients; both or neither. */
  certFile: string | null;
  keyFile: string | null;
  /** Name checked against Redis's certificate (and sent as SNI) instead of REDIS_URL's host. */
  servername: string | null;
}

type Read = { pem: Buffer } | { problem: string };

function readPem(setting: string, file: string): Read {
  try {
    return { pem: readFileSync(file) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { problem: `${setting}: cannot read "${file}" (${code ?? (err as Error).message})` };
  }
}

/** Problems with a PEM file of certificates (a bundle: every block must parse). */
function certificates(setting: string, file: string): { certs: X509Certificate[] } | { problem: string } {
  const read = readPem(setting, file);
  if ('problem' in read) return read;
  const blocks = read.pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) return { problem: `${setting}: "${file}" holds no PEM certificate (-----BEGIN CERTIFICATE-----)` };
  try {
    return { certs: blocks.map((b) => new X509Certificate(b)) };
  } catch (err) {
    return { problem: `${setting}: "${file}" holds a certificate that does not parse (${(err as Error).message})` };
  }
}

function privateKey(setting: string, file: string): { key: KeyObject } | { problem: string } {
  const read = readPem(setting, file);
  if ('problem' in read) return read;
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(read.pem.toString('latin1'))) {
    return { problem: `${setting}: "${file}" holds no PEM private key (-----BEGIN … PRIVATE KEY-----)` };
  }
  if (/ENCRYPTED/.test(read.pem.toString('latin1'))) {
    return { problem: `${setting}: "${file}" is an encrypted private key; vigil takes an unencrypted one (protect the file instead)` };
  }
  try {
    return { key: createPrivateKey(read.pem) };
  } catch {
    // The parser's message could quote key material: say only that it failed.
    return { problem: `${setting}: "${file}" holds a private key that does not parse` };
  }
}

/** Problems with a certificate/key pair: each file, then whether the key is the certificate's. */
function checkPair(certSetting: string, certFile: string, keySetting: string, keyFile: string): string[] {
  const cert = certificates(certSetting, certFile);
  const key = privateKey(keySetting, keyFile);
  const problems: string[] = [];
  if ('problem' in cert) problems.push(cert.problem);
  if ('problem' in key) problems.push(key.problem);
  if (problems.length === 0 && 'certs' in cert && 'key' in key && !cert.certs[0]!.checkPrivateKey(key.key)) {
    problems.push(`${keySetting}: "${keyFile}" is not the private key of the certificate in ${certSetting} ("${certFile}")`);
  }
  return problems;
}

/** Start-up check of the ext_proc port's files; the setting names are settings.ts's. */
export function checkGrpcTlsFiles(f: GrpcTlsFiles): string[] {
  const problems = checkPair('VIGIL_GRPC_TLS_CERT', f.certFile, 'VIGIL_GRPC_TLS_KEY', f.keyFile);
  const ca = certificates('VIGIL_GRPC_TLS_CLIENT_CA', f.clientCaFile);
  if ('problem' in ca) problems.push(ca.problem);
  return problems;
}

/** Start-up check of the Redis TLS files. */
export function checkRedisTlsFiles(f: RedisTlsFiles): string[] {
  const problems: string[] = [];
  if (f.caFile !== null) {
    const ca = certificates('VIGIL_REDIS_TLS_CA', f.caFile);
    if ('problem' in ca) problems.push(ca.problem);
  }
  if (f.certFile !== null && f.keyFile !== null) problems.push(...checkPair('VIGIL_REDIS_TLS_CERT', f.certFile, 'VIGIL_REDIS_TLS_KEY', f.keyFile));
  return problems;
}

/** The ext_proc port's material, as grpc.ServerCredentials.createSsl takes it. */
export function readGrpcTls(f: GrpcTlsFiles): { cert: Buffer; key: Buffer; clientCa: Buffer } {
  return { cert: readFileSync(f.certFile), key: readFileSync(f.keyFile), clientCa: readFileSync(f.clientCaFile) };
}

/**
 * Node tls.connect options for Redis (ioredis `tls`, and a cluster's `redisOptions.tls`). The server's
 * certificate is always verified (rejectUnauthorized stays true: there is no setting to turn it off).
 */
export function redisTlsOptions(f: RedisTlsFiles): ConnectionOptions {
  return {
    ...(f.caFile !== null ? { ca: readFileSync(f.caFile) } : {}),
    ...(f.certFile !== null ? { cert: readFileSync(f.certFile) } : {}),
    ...(f.keyFile !== null ? { key: readFileSync(f.keyFile) } : {}),
    ...(f.servername !== null ? { servername: f.servername } : {}),
    rejectUnauthorized: true,
  };
}

/**
 * Whether a listen host is loopback-only: `localhost`, 127.0.0.0/8, ::1 (and ::ffff:127.x). Anything
 * else — 0.0.0.0, ::, a pod or host address, a hostname — may be reachable from the network.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}
