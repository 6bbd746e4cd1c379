import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startBareServer, type BareServer } from '../../bench/bare-server.js';
import { runPaced } from '../../bench/paced-run.js';
import { writeKeyedPayloads } from '../../bench/payload.js';

// The paced generator end to end against the bare server: counts only (timing depends on the machine).
let server: BareServer;
let dir: string;
let keys: string;

before(async () => {
  server = await startBareServer('127.0.0.1', 0);
  dir = mkdtempSync(join(tmpdir(), 'vigil-paced-'));
  keys = join(dir, 'keys.bin');
  writeKeyedPayloads(keys, 3);
});

after(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('paced: every scheduled request is started, answered with grpc-status 0 and counted by the server', async () => {
  const answered0 = server.answered();
  const r = await runPaced({ port: server.port, payloadFile: keys, connections: 1, rate: 500, durationS: 0.4, dropMs: 0 }, []);
  assert.equal(r.done, 200);
  assert.equal(r.succeeded, 200);
  assert.equal(r.status2xx, 200);
  assert.equal(r.failed, 0);
  assert.equal(r.offeredRps, 500);
  assert.equal(r.distinctPayloads, 3);
  assert.equal(server.answered() - answered0, 200);
  assert.ok(r.lateP50 >= 0 && r.p50 > 0);
});

test('closed loop over two connections stops after the requested count', async () => {
  const answered0 = server.answered();
  const r = await runPaced({ port: server.port, payloadFile: keys, connections: 2, streams: 8, requests: 300, durationS: 30, dropMs: 0 }, []);
  assert.equal(r.succeeded, 300);
  assert.equal(r.offeredRps, null);
  assert.equal(server.answered() - answered0, 300);
});

test('a server that is not there fails the run with the generator\'s error', async () => {
  await assert.rejects(runPaced({ port: 1, payloadFile: keys, connections: 1, rate: 10, durationS: 0.1, dropMs: 0 }, []), /paced generator exited with 1/);
});
