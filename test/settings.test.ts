import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ConfigError } from '../src/errors.js';
import { SETTINGS_DOC, parseAddress, parseSettings } from '../src/settings.js';

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

test('a key secret that does not decode says so (invalid hex or base64), never "too short", and never quotes it', () => {
  const problem = (secret: string): string => {
    try {
      parseSettings({ VIGIL_KEY_SECRET: secret });
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      const p = err.problems.find((x) => x.startsWith('VIGIL_KEY_SECRET'));
      assert.ok(p, err.problems.join('\n'));
      return p;
    }
    return 'accepted';
  };
  const badHex = 'hex:zz112233445566778899aabbccddeeff00';
  assert.equal(problem(badHex), 'VIGIL_KEY_SECRET: invalid hex after "hex:" (expected pairs of the digits 0-9, a-f)');
  assert.equal(problem('hex:00112233445566778899aabbccddeeff0'), 'VIGIL_KEY_SECRET: invalid hex after "hex:" (expected pairs of the digits 0-9, a-f)', 'an odd digit count');
  assert.equal(problem('base64:not*base64!at#all~~~~~~~~~~'), 'VIGIL_KEY_SECRET: invalid base64 after "base64:" (expected the characters A-Z, a-z, 0-9, +, / or -, _, and = padding)');
  assert.equal(problem('hex:0011'), 'VIGIL_KEY_SECRET: must be at least 16 bytes (plain text, hex:…, or base64:…); it decodes to 2');
  assert.equal(problem(`base64:${Buffer.alloc(16, 7).toString('base64')}`), 'accepted');
  assert.equal(problem(`base64:${Buffer.alloc(16, 0xfb).toString('base64url')}`), 'accepted', 'base64url too');
  assert.ok(!problem(badHex).includes('zz11'), 'the secret is never quoted');
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

test('VIGIL_ADMIN_TOKEN: unset or empty disables the admin API; set, it is kept as given (trimmed)', () => {
  assert.equal(parseSettings({}).adminToken, null);
  assert.equal(parseSettings({ VIGIL_ADMIN_TOKEN: '' }).adminToken, null);
  assert.equal(parseSettings({ VIGIL_ADMIN_TOKEN: '   ' }).adminToken, null);
  assert.equal(parseSettings({ VIGIL_ADMIN_TOKEN: 'a-long-enough-token-1234' }).adminToken, 'a-long-enough-token-1234');
  assert.equal(parseSettings({ VIGIL_ADMIN_TOKEN: ' 0123456789abcdef\n' }).adminToken, '0123456789abcdef', 'exactly 16 characters, a trailing newline from a mounted secret dropped');
});

test('VIGIL_ADMIN_TOKEN: too short or with spaces is a ConfigError that never quotes the token', () => {
  for (const bad of ['short-token', '0123456789abcde', 'has spaces in the middle of it', 'tab\tseparated-token-xyz', 'non-ascii-tökén-0123456789']) {
    try {
      parseSettings({ VIGIL_ADMIN_TOKEN: bad, VIGIL_LOG_LEVEL: 'loud' });
      assert.fail(`expected ConfigError for ${JSON.stringify(bad)}`);
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      const problem = err.problems.find((p) => p.startsWith('VIGIL_ADMIN_TOKEN:'));
      assert.ok(problem, `a VIGIL_ADMIN_TOKEN problem for ${JSON.stringify(bad)}: ${err.problems.join('; ')}`);
      assert.match(problem, /at least 16 characters/);
      assert.ok(err.problems.some((p) => p.startsWith('VIGIL_LOG_LEVEL:')), 'listed with the other problems');
      assert.ok(!err.message.includes(bad.trim()), 'the token is a secret: not in the message');
    }
  }
});

test('VIGIL_ADMIN_TOKEN is documented in SETTINGS_DOC and the README settings table', () => {
  const doc = SETTINGS_DOC.find((s) => s.name === 'VIGIL_ADMIN_TOKEN');
  assert.ok(doc, 'SETTINGS_DOC row');
  assert.equal(doc.default, '(unset)');
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  assert.match(readme, /^\| `VIGIL_ADMIN_TOKEN` \| unset \|/m);
});
