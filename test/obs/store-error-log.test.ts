import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StoreErrorLog, storeErrorName } from '../../src/obs/store-error-log.js';
import type { Logger } from '../../src/obs/logger.js';

test('storeErrorName: the Redis error code, a system code, else timeout or error', () => {
  assert.equal(storeErrorName(new Error("redis: OOM command not allowed when used memory > 'maxmemory'.")), 'OOM');
  assert.equal(storeErrorName(new Error('state store run: redis: NOPERM User vigil has no permissions to run the \'info\' command')), 'NOPERM');
  assert.equal(storeErrorName(new Error('WRONGPASS invalid username-password pair or user is disabled.')), 'WRONGPASS');
  assert.equal(storeErrorName(new Error("READONLY You can't write against a read only replica.")), 'READONLY');
  assert.equal(storeErrorName(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })), 'ECONNREFUSED');
  assert.equal(storeErrorName(new Error('state store population: Timed out after 50ms')), 'timeout');
  assert.equal(storeErrorName(new Error('Connection is closed.')), 'error');
});

test('StoreErrorLog: the first of each name at once, the same name then once per interval with the count since', () => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = { warn: (fields: Record<string, unknown>, msg: string) => lines.push({ ...fields, msg }) } as unknown as Logger;
  let now = 0;
  const log = new StoreErrorLog(logger, 60_000, () => now);
  const oom = new Error("redis: OOM command not allowed when used memory > 'maxmemory'.");
  log.record('sync', oom);
  log.record('sync', oom);
  log.record('sync', new Error('redis: NOAUTH Authentication required.'));
  assert.deepEqual(lines.map((l) => [l.msg, l.error, l.suppressedSinceLast]), [['store error OOM', 'OOM', 0], ['store error NOAUTH', 'NOAUTH', 0]]);
  now = 59_999;
  log.record('sync', oom);
  now = 60_001;
  log.record('sync', oom);
  assert.deepEqual(lines.slice(2).map((l) => [l.error, l.suppressedSinceLast]), [['OOM', 2]]);
  // One the caller logged itself is only remembered.
  log.record('sync', new Error('READONLY replica'), true);
  log.record('sync', new Error('READONLY replica'));
  assert.equal(lines.length, 3);
});
