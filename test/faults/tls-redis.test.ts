/**
 * TLS where the network is not trusted (issue 16 item 8), the Redis side: `vigil serve` as a real
 * process against a real redis-server that speaks TLS only and demands a client certificate
 * (tls-auth-clients yes; test/helpers/redis-tls.ts), with certificates made by openssl for this run.
 * With VIGIL_REDIS_TLS_CA, _CERT and _KEY vigil connects and its decisions' state reaches Redis; with
 * the CA alone (no client certificate) Redis refuses it and vigil serves on, failing open, saying the
 * store is down. The same over a Redis Cluster whose nodes and bus speak TLS (VIGIL_REDIS_CLUSTER).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EnvoySim, failureOf } from '../../src/envoy-sim/index.js';
import { makeTestPki, type TestPki } from '../helpers/test-pki.js';
import { startTlsRedis, startTlsRedisCluster, type TlsRedis, type TlsRedisCluster } from '../helpers/redis-tls.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';
import { startVigilProcess, type VigilProcess } from '../helpers/vigil-process.js';

const SECRET = 'test-secret-0123456789abcdef';
/** Bound for "eventually" (the sync loop runs every 50 ms); generous for a loaded machine. */
const EVENTUALLY_MS = 30_000;

let pki: TestPki;
let redis: TlsRedis;
let cluster: TlsRedisCluster | undefined;
const vigils: VigilProcess[] = [];

before(async () => {
  pki = makeTestPki();
  redis = await startTlsRedis(pki, { authClients: true });
});

after(async () => {
  for (const v of vigils) await v.stop();
  await redis?.stop();
  await cluster?.stop();
  pki?.cleanup();
});

async function vigilOn(env: Record<string, string>): Promise<VigilProcess> {
  const v = await startVigilProcess({ VIGIL_KEY_SECRET: SECRET, ...env });
  vigils.push(v);
  return v;
}

async function storeUp(v: VigilProcess): Promise<boolean> {
  const { body } = await v.admin('/readyz');
  return (JSON.parse(body) as { store: { up: boolean } }).store.up;
}

async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + EVENTUALLY_MS;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${EVENTUALLY_MS} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A few failed logins through envoy-sim (plaintext ext_proc on loopback); each must be answered. */
async function failedLogins(v: VigilProcess, n = 3): Promise<void> {
  const sim = new EnvoySim(v.target, { message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
  try {
    for (let i = 0; i < n; i++) {
      const r = await sim.exchange({
        method: 'POST',
        path: '/login',
        headers: [['host', 'shop.example'], ['content-type', 'application/json']],
        body: Buffer.from(`{"username":"user${i}@example.com","password":"x"}`),
        sourceAddress: '203.0.113.7:5555',
        upstream: { status: 401 },
      });
      assert.equal(failureOf(r), null, `exchange ${i}: ${failureOf(r)}`);
    }
  } finally {
    sim.close();
  }
}

const keysIn = async (nodes: TlsRedis[]): Promise<number> =>
  (await Promise.all(nodes.map(async (n) => Number((await n.cli('DBSIZE')).trim())))).reduce((a, b) => a + b, 0);

test('rediss:// with VIGIL_REDIS_TLS_CA, _CERT and _KEY: vigil reaches a Redis that demands client certificates', async () => {
  const v = await vigilOn({ REDIS_URL: redis.url, VIGIL_REDIS_TLS_CA: pki.ca.cert, VIGIL_REDIS_TLS_CERT: pki.client.cert, VIGIL_REDIS_TLS_KEY: pki.client.key });
  await eventually('/readyz says the store is up', () => storeUp(v));
  await failedLogins(v);
  await eventually('vigil state keys in Redis', async () => (await keysIn([redis])) > 0);
  const keys = (await redis.cli('--scan', '--pattern', 'vigil:*')).trim().split('\n').filter(Boolean);
  assert.ok(keys.length > 0, 'the keys are vigil:… keys');
  assert.equal(await v.metric('vigil_store_up'), 1);
  assert.equal(v.stderr(), '', 'nothing but the JSON log');
});

test('rediss:// with the CA but no client certificate: Redis refuses it, vigil serves on (fail-open) and says the store is down', async () => {
  const before = await keysIn([redis]);
  const v = await vigilOn({ REDIS_URL: redis.url, VIGIL_REDIS_TLS_CA: pki.ca.cert });
  assert.ok(
    v.lines.some((l) => /Redis at REDIS_URL .* is not reachable yet/.test(String(l.msg))),
    'the start-up warning that Redis cannot be reached',
  );
  await failedLogins(v); // answered all the same
  assert.equal(await storeUp(v), false);
  assert.equal(await v.metric('vigil_store_up'), 0);
  assert.equal(await keysIn([redis]), before, 'nothing of this vigil reached Redis');
  assert.equal(v.stderr(), '', 'the refusals go to the JSON log, not to stderr');
  assert.ok(v.lines.every((l) => !l.notJson), 'every stdout line is JSON');
});

test('rediss:// with a client certificate but not the CA that signed Redis: vigil does not trust Redis', async () => {
  const v = await vigilOn({ REDIS_URL: redis.url, VIGIL_REDIS_TLS_CA: pki.rogueCa.cert, VIGIL_REDIS_TLS_CERT: pki.client.cert, VIGIL_REDIS_TLS_KEY: pki.client.key });
  assert.ok(v.lines.some((l) => /Redis at REDIS_URL .* is not reachable yet/.test(String(l.msg))));
  assert.equal(await storeUp(v), false);
});

test('Redis Cluster over TLS (tls-cluster, client certificates): vigil connects to every node with VIGIL_REDIS_TLS_*', async () => {
  cluster = await startTlsRedisCluster(pki);
  const v = await vigilOn({
    REDIS_URL: cluster.url,
    VIGIL_REDIS_CLUSTER: 'true',
    VIGIL_REDIS_TLS_CA: pki.ca.cert,
    VIGIL_REDIS_TLS_CERT: pki.client.cert,
    VIGIL_REDIS_TLS_KEY: pki.client.key,
  });
  await eventually('/readyz says the cluster store is up', () => storeUp(v));
  await failedLogins(v, 6);
  await eventually('vigil state keys in the cluster', async () => (await keysIn(cluster!.nodes)) > 0);
  // The library is loaded on every master: each answers FUNCTION LIST with vigil's library.
  for (const n of cluster.nodes) assert.match(await n.cli('FUNCTION', 'LIST'), /vigil/);
});
