import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EXT_PROC_SERVICE_NAME, loadWire } from '../../src/extproc/proto.js';
import { startTestVigil } from '../helpers/vigil.js';

test('grpc.health.v1: SERVING for "" and the ext_proc service, NOT_FOUND otherwise, NOT_SERVING on drain', async () => {
  const vigil = await startTestVigil();
  const client = new (loadWire().HealthClient)(vigil.target, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
  const check = (service: string) =>
    new Promise<{ status?: string; code?: number }>((resolve) =>
      client.Check({ service }, (err: grpc.ServiceError | null, res: { status?: string }) => resolve(err ? { code: err.code } : res)),
    );
  try {
    assert.equal((await check('')).status, 'SERVING');
    assert.equal((await check(EXT_PROC_SERVICE_NAME)).status, 'SERVING');
    assert.equal((await check('some.other.Service')).code, grpc.status.NOT_FOUND);

    const watch = client.Watch({ service: '' });
    const seen: string[] = [];
    const first = new Promise((resolve) => watch.once('data', resolve));
    const ended = new Promise((resolve) => watch.once('status', resolve));
    watch.on('data', (m: { status: string }) => seen.push(m.status));
    watch.on('error', () => undefined);
    // No sleep: the shutdown starts once the watch has its first answer, and the check reads what the
    // client received once the server has ended the watch (messages arrive before the status).
    await first;
    await vigil.shutdown();
    await ended;
    assert.deepEqual(seen, ['SERVING', 'NOT_SERVING']);
  } finally {
    client.close();
    await vigil.shutdown();
  }
});
