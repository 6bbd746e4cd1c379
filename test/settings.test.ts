import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../src/errors.js';
import { parseAddress, parseSettings } from '../src/settings.js';

test('defaults: loopback addresses, embedded store, enforcing', () => {
  const s = parseSettings({});
  assert.deepEqual(s.grpcAddress, { host: '127.0.0.1', port: 50051 });
  assert.deepEqual(s.adminAddress, { host: '127.0.0.1', port: 9464 });
  assert.equal(s.redisUrl, null);
  assert.equal(s.shadowMode, false);
  assert.equal(s.keySecret, null);
  assert.equal(s.logLevel, 'info');
  assert.ok(s.storeTimeoutMs < 200, 'store deadline must sit well below Envoy’s 200 ms message_timeout');
});

test('every problem is listed at once', () => {
  try {
    parseSettings({
      VIGIL_GRPC_ADDRESS: 'nonsense',
      VIGIL_ADMIN_ADDRESS: '127.0.0.1:99999',
      REDIS_URL: 'http://x',
      VIGIL_SHADOW_MODE: 'maybe',
      VIGIL_LOG_LEVEL: 'loud',
      VIGIL_STORE_TIMEOUT_MS: '-5',
    });
    assert.fail('expected ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    const names = err.problems.map((p) => p.split(':')[0]);
    assert.deepEqual(names.sort(), [
      'REDIS_URL',
      'VIGIL_ADMIN_ADDRESS',
      'VIGIL_GRPC_ADDRESS',
      'VIGIL_LOG_LEVEL',
      'VIGIL_SHADOW_MODE',
      'VIGIL_STORE_TIMEOUT_MS',
    ]);
  }
});

test('Redis requires a key secret of at least 16 bytes', () => {
  assert.throws(() => parseSettings({ REDIS_URL: 'redis://127.0.0.1:6379' }), /VIGIL_KEY_SECRET: required when REDIS_URL is set/);
  assert.throws(() => parseSettings({ REDIS_URL: 'redis://127.0.0.1:6379', VIGIL_KEY_SECRET: 'short' }), /at least 16 bytes/);
  const s = parseSettings({ REDIS_URL: 'redis://127.0.0.1:6379', VIGIL_KEY_SECRET: 'hex:00112233445566778899aabbccddeeff' });
  assert.equal(s.keySecret?.length, 16);
  assert.equal(s.redisUrl, 'redis://127.0.0.1:6379');
});

test('shadow mode and addresses parse, IPv6 included', () => {
  const s = parseSettings({ VIGIL_SHADOW_MODE: 'true', VIGIL_GRPC_ADDRESS: '[::1]:7000', VIGIL_ADMIN_ADDRESS: '0.0.0.0:0' });
  assert.equal(s.shadowMode, true);
  assert.deepEqual(s.grpcAddress, { host: '::1', port: 7000 });
  assert.deepEqual(s.adminAddress, { host: '0.0.0.0', port: 0 });
  assert.equal(parseAddress('localhost'), null);
  assert.equal(parseAddress('h:70000'), null);
});

test('VIGIL_POLICY_POLL_MS: 2000 by default, 0 turns polling off, tiny or junk values are refused', () => {
  assert.equal(parseSettings({}).policyPollMs, 2000);
  assert.equal(parseSettings({ VIGIL_POLICY_POLL_MS: '0' }).policyPollMs, 0);
  assert.equal(parseSettings({ VIGIL_POLICY_POLL_MS: '500' }).policyPollMs, 500);
  for (const bad of ['5', '-1', 'soon', '3600001']) {
    assert.throws(() => parseSettings({ VIGIL_POLICY_POLL_MS: bad }), new RegExp(`VIGIL_POLICY_POLL_MS: "${bad}" must be 0 \\(off\\) or an integer from 100 to 3600000`));
  }
});
