/**
 * TLS where the network is not trusted (issue 16 item 8), the ext_proc side: `vigil serve` as a real
 * process with mTLS on its port (certificates made by openssl for this run: test/helpers/test-pki.ts),
 * played by envoy-sim over the real gRPC wire. A client with a certificate from the configured CA is
 * answered; one without a certificate, with one from another CA, or speaking plaintext is refused at
 * the handshake (Envoy sees gRPC UNAVAILABLE). And a non-loopback bind in plaintext is refused at
 * start-up unless VIGIL_GRPC_INSECURE=true says so.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { EnvoySim, failureOf, type SimTls } from '../../src/envoy-sim/index.js';
import { projectRoot } from '../../src/paths.js';
import { makeTestPki, type Pair, type TestPki } from '../helpers/test-pki.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';
import { startVigilProcess, type VigilProcess } from '../helpers/vigil-process.js';

let pki: TestPki;
let vigil: VigilProcess;
/** 127.0.0.1:<port> of the vigil under test (it binds all interfaces). */
let target: string;

before(async () => {
  pki = makeTestPki();
  // The deployment the setting is for: all interfaces, mTLS.
  vigil = await startVigilProcess({
    VIGIL_GRPC_ADDRESS: '0.0.0.0:0',
    VIGIL_GRPC_TLS_CERT: pki.server.cert,
    VIGIL_GRPC_TLS_KEY: pki.server.key,
    VIGIL_GRPC_TLS_CLIENT_CA: pki.ca.cert,
  });
  target = `127.0.0.1:${vigil.target.split(':').pop()}`;
});

after(async () => {
  await vigil?.stop();
  pki?.cleanup();
});

const login = { method: 'POST', path: '/login', headers: [['host', 'shop.example'], ['content-type', 'application/json']] as Array<[string, string]>, body: Buffer.from('{"username":"ann"}') };

async function once(tls: SimTls | undefined) {
  const sim = new EnvoySim(target, { message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS }, tls ? { tls } : {});
  try {
    return await sim.exchange(login);
  } finally {
    sim.close();
  }
}

const clientTls = (client: Pair | null): SimTls => ({
  ca: readFileSync(pki.ca.cert),
  ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
});

test('mTLS on a non-loopback bind: vigil says so when it starts', () => {
  const serving = vigil.lines.find((l) => l.msg === 'vigil serving');
  assert.equal(serving?.grpcTls, 'mtls');
});

test('mTLS: envoy-sim with a client certificate from the configured CA is answered', async () => {
  const r = await once(clientTls(pki.client));
  assert.equal(failureOf(r), null, `expected an answer, got: ${failureOf(r)} (${r.details})`);
  assert.equal(r.outcome, 'passed');
  assert.ok(r.upstreamRequest, 'the request reached the upstream');
});

test('mTLS: a client with no certificate is refused at the handshake (gRPC UNAVAILABLE)', async () => {
  const r = await once(clientTls(null));
  assert.notEqual(failureOf(r), null);
  assert.equal(r.details, `ext_proc_error_gRPC_error_${GrpcStatus.UNAVAILABLE}`);
  assert.equal(r.upstreamRequest, null, 'fail-closed: the request never reached the upstream');
});

test('mTLS: a client certificate from another CA is refused at the handshake', async () => {
  const r = await once(clientTls(pki.rogueClient));
  assert.notEqual(failureOf(r), null);
  assert.equal(r.details, `ext_proc_error_gRPC_error_${GrpcStatus.UNAVAILABLE}`);
});

test('mTLS: a plaintext client gets no answer', async () => {
  const r = await once(undefined);
  assert.notEqual(failureOf(r), null);
  assert.equal(r.details, `ext_proc_error_gRPC_error_${GrpcStatus.UNAVAILABLE}`);
});

test('mTLS: envoy-sim refuses a server whose certificate its CA did not sign', async () => {
  const r = await once({ ca: readFileSync(pki.rogueCa.cert), cert: readFileSync(pki.client.cert), key: readFileSync(pki.client.key) });
  assert.equal(r.details, `ext_proc_error_gRPC_error_${GrpcStatus.UNAVAILABLE}`);
});

/** `vigil sim` as a child process against the mTLS vigil: exit code, stdout and stderr. */
function simCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const config = join(pki.dir, 'patient.json');
  writeFileSync(config, JSON.stringify({ message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS }));
  return new Promise((resolve) => {
    execFile(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'sim', '--target', target, '--config', config, ...args], { timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('vigil sim --tls-ca --tls-cert --tls-key plays Envoy over mTLS; without the certificate it reports UNAVAILABLE', async () => {
  const ok = await simCli(['--tls-ca', pki.ca.cert, '--tls-cert', pki.client.cert, '--tls-key', pki.client.key]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^exchange 1: passed/m);
  const bare = await simCli(['--tls-ca', pki.ca.cert]);
  assert.equal(bare.code, 1);
  assert.match(bare.stderr, /1 × no ext_proc server reachable there, or the connection dropped \(gRPC 14 UNAVAILABLE\)/);
  const usage = await simCli(['--tls-cert', pki.client.cert, '--tls-key', pki.client.key]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--tls-cert needs --tls-ca/);
});

test('vigil is still serving after the refused handshakes, which it counted by reason and logged', async () => {
  const r = await once(clientTls(pki.client));
  assert.equal(failureOf(r), null);
  assert.equal((await vigil.admin('/healthz')).status, 200);
  assert.ok((await vigil.metric('vigil_tls_handshake_failures_total', { reason: 'no-client-certificate' })) >= 1, 'the client without a certificate');
  assert.ok((await vigil.metric('vigil_tls_handshake_failures_total', { reason: 'not-tls' })) >= 1, 'the plaintext client');
  const warned = vigil.lines.filter((l) => /^TLS handshake on the ext_proc port refused/.test(String(l.msg)));
  assert.ok(warned.some((l) => l.reason === 'no-client-certificate' && l.peer !== undefined));
  assert.ok(warned.some((l) => l.reason === 'not-tls'));
  assert.equal(warned.filter((l) => l.reason === 'not-tls').length, 1, 'one line a minute per reason, however many handshakes');
});

/** `vigil serve` with `env`; resolves with its exit code and stderr once it exits, or null if it serves. */
function serveUntilExit(env: Record<string, string>): Promise<{ code: number | null; stderr: string; served: boolean }> {
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'serve'], {
    env: { PATH: process.env.PATH ?? '', VIGIL_ADMIN_ADDRESS: '127.0.0.1:0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let served = false;
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    if (!served && d.toString().includes('"vigil serving"')) {
      served = true;
      child.kill('SIGTERM');
    }
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr, served })));
}

test('a non-loopback plaintext bind is refused at start-up, naming VIGIL_GRPC_INSECURE', async () => {
  const r = await serveUntilExit({ VIGIL_GRPC_ADDRESS: '0.0.0.0:0' });
  assert.equal(r.served, false);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /VIGIL_GRPC_ADDRESS: 0\.0\.0\.0:0 is not a loopback address/);
  assert.match(r.stderr, /VIGIL_GRPC_INSECURE=true/);
});

test('VIGIL_GRPC_INSECURE=true allows the non-loopback plaintext bind', async () => {
  const r = await serveUntilExit({ VIGIL_GRPC_ADDRESS: '0.0.0.0:0', VIGIL_GRPC_INSECURE: 'true' });
  assert.equal(r.served, true, r.stderr);
  assert.equal(r.code, 0);
});

test('an unreadable TLS file is refused at start-up, naming its setting', async () => {
  const r = await serveUntilExit({
    VIGIL_GRPC_TLS_CERT: pki.server.cert,
    VIGIL_GRPC_TLS_KEY: join(pki.dir, 'no-such-key.pem'),
    VIGIL_GRPC_TLS_CLIENT_CA: pki.ca.cert,
  });
  assert.equal(r.served, false);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /VIGIL_GRPC_TLS_KEY: cannot read ".*no-such-key\.pem" \(ENOENT\)/);
});
