/**
 * VIGIL_WORKERS (src/cli/workers.ts): N worker processes on one ext_proc port sharing state through
 * Redis; the primary serves the summed metrics, health and readiness; SIGTERM drains them all.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';
import { startVigilProcess } from '../helpers/vigil-process.js';

let redis: RedisServer;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

test('VIGIL_WORKERS > 1 without Redis: refused at start, naming the setting', async () => {
  await assert.rejects(startVigilProcess({ VIGIL_WORKERS: '2' }), /VIGIL_WORKERS: more than 1 worker needs REDIS_URL/);
});

test('two workers: one port, decisions from both summed on /metrics, shared state, SIGTERM drains both', async () => {
  const v = await startVigilProcess({ REDIS_URL: redis.url, VIGIL_KEY_SECRET: 'workers-test-secret-0123456789', VIGIL_WORKERS: '2' });
  try {
    const ready = JSON.parse((await v.admin('/readyz')).body) as { serving: boolean; workers: Array<{ index: number; serving: boolean }> };
    assert.equal(ready.serving, true);
    assert.deepEqual(ready.workers.map((w) => w.index).sort(), [1, 2]);
    const started = v.lines.filter((l) => l.msg === 'vigil serving' && l.worker !== undefined);
    assert.deepEqual(started.map((l) => l.worker).sort(), [1, 2]);
    assert.ok(started.every((l) => l.grpc === v.target), 'both workers serve the one ext_proc port');

    // node:cluster hands connections to the workers in turn: several connections reach both.
    let sent = 0;
    for (let c = 0; c < 6; c++) {
      const sim = new EnvoySim(v.target, { request_attributes: ['source.address'], message_timeout_ms: 10_000 });
      for (let i = 0; i < 5; i++) {
        const r = await sim.exchange({ method: 'GET', path: '/api/items', headers: [['x-api-key', `key-${c}`]], sourceAddress: '203.0.113.60:4000' });
        assert.equal(r.client.status, 200);
        sent++;
      }
      sim.close();
    }
    assert.equal(await v.metric('vigil_decisions_total'), sent, 'every worker\'s decisions, summed by the primary');
    assert.equal(await v.metric('vigil_fail_open_total'), 0);
    assert.equal((await v.admin('/admin/penalties')).status, 404);
  } finally {
    assert.equal(await v.stop(), 0, 'SIGTERM: every worker drained, exit 0');
  }
});
