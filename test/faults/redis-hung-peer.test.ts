/**
 * A hung TCP peer in front of Redis: the connection stays open and nothing answers, and a new
 * connection is accepted but answers nothing either (a stuck proxy, a dead NAT entry). vigil must
 * decide every request meanwhile (a flood throttled at its threshold, nothing allowed undecided, the
 * upstream told `x-vigil-degraded: store-sync`), abandon the dead connection by itself, and once the
 * path works again for new connections, recover without a restart: the hung connections never
 * answer, so recovering means vigil opened a new one.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { predictableRate, tempDir, until } from '../helpers/policy-files.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { startVigilProcess, type VigilProcess } from '../helpers/vigil-process.js';

let redis: RedisServer;
let proxy: TcpProxy;
let vigil: VigilProcess;
let sim: EnvoySim;

before(async () => {
  redis = await startRedis();
  proxy = await startTcpProxy(redis.port);
  const policy = join(tempDir(), 'policy.yaml');
  writeFileSync(policy, `format: 1\ndetectors:\n${predictableRate('flood', 'throttle', { penalty: '5m' })}`);
  vigil = await startVigilProcess({ REDIS_URL: `redis://127.0.0.1:${proxy.port}`, VIGIL_KEY_SECRET: 'hung-peer-test-secret-0123456789', VIGIL_POLICY: policy });
  sim = new EnvoySim(vigil.target, { request_attributes: ['source.address'], failure_mode_allow: false, message_timeout_ms: 10_000 });
  // The flood must not straddle a minute (the detector's bucket).
  if (Date.now() % 60_000 > 35_000) await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 50));
});
after(async () => {
  sim?.close();
  await vigil?.stop();
  await proxy?.close();
  await redis?.stop();
});

const send = (key: string) => sim.exchange({ method: 'GET', path: '/api/items', headers: [['x-api-key', key]], sourceAddress: '203.0.113.71:4000' });
const ready = () => vigil.readyz();

test('a hung peer: decisions go on from the tier; vigil abandons the dead connection and recovers on a new one', async () => {
  await until('the store to be up', async () => (await ready()).store.up);
  assert.equal((await send('warm')).client.status, 200);
  const acceptedBefore = proxy.accepted();

  proxy.hang();
  assert.equal((await send('after-hang')).client.status, 200, 'decided from the tier');
  await until('the sync to notice', async () => (await ready()).store.sync?.degraded === 'store-sync', 15_000);

  let first = 0;
  for (let i = 1; i <= 25 && first === 0; i++) {
    const r = await send('flood-while-hung');
    if (r.client.status === 429) first = i;
    else assert.equal(r.upstreamRequest?.headers.find(([k]) => k === 'x-vigil-degraded')?.[1], 'store-sync', `request ${i} is marked degraded`);
  }
  assert.equal(first, 21, 'the flood is throttled at its threshold behind a hung peer');
  assert.equal(await vigil.metric('vigil_fail_open_total'), 0, 'nothing allowed undecided');
  await until('vigil to abandon the hung connection', () => proxy.abandoned() >= 1, 15_000);

  proxy.heal();
  await until('the sync to recover', async () => {
    const r = await ready();
    return r.store.up && r.store.sync?.degraded === null && r.store.sync.dirtySubjects === 0;
  }, 30_000);
  assert.ok(proxy.accepted() > acceptedBefore, 'a new connection was opened: the hung ones never answer');
  assert.equal((await send('flood-while-hung')).client.status, 429, 'the penalty set meanwhile still applies');
  assert.equal(await vigil.metric('vigil_fail_open_total'), 0);
});
