/**
 * Scenarios as data (test/scenarios/README.md): one describe per directory under test/scenarios/,
 * one test per store, identical expectations on the embedded MemoryStore and on a real redis-server.
 * ONLY=<case>[,<case>…] runs just those. A scenario that fails to load fails both its tests.
 */
import assert from 'node:assert/strict';
import { basename } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { checkExpectations, formatFailures } from '../helpers/scenario/check.js';
import { discoverScenarios, loadScenario } from '../helpers/scenario/load.js';
import { runScenario, type RunOptions } from '../helpers/scenario/run-scenario.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

let redis: Promise<RedisServer> | undefined;
/** One redis-server for the file, started on first use, emptied (restarted) before each scenario. */
async function freshRedis(): Promise<RedisServer> {
  redis ??= startRedis();
  const server = await redis;
  await server.restart();
  return server;
}
after(async () => {
  if (redis) await (await redis).stop();
});

async function play(t: TestContext, dir: string, opts: () => Promise<RunOptions>): Promise<void> {
  const scenario = loadScenario(dir);
  const result = await runScenario(scenario, await opts());
  t.diagnostic(`${result.exchanges} exchanges in ${Math.round(result.elapsedMs)} ms`);
  const failures = checkExpectations(scenario.expected, result.decisions);
  if (failures.length > 0) assert.fail(formatFailures(scenario.name, failures, result.decisions, scenario.traffic.startMs));
}

for (const dir of discoverScenarios(undefined, process.env['ONLY'])) {
  describe(`scenario ${basename(dir)}`, () => {
    it('on the memory store', (t) => play(t, dir, async () => ({})));
    it('on redis-server', (t) => play(t, dir, async () => ({ redisUrl: (await freshRedis()).url })));
  });
}
