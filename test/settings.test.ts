import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigError } from '../src/errors.js';
import { SETTINGS_DOC, parseAddress, parseSettings } from '../src/settings.js';
import { makeTestPki } from './helpers/test-pki.js';

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

// TLS (issue 16 item 8): certificates made by openssl for this run (test/helpers/test-pki.ts).
const pki = makeTestPki();
after(() => pki.cleanup());

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseSettings(env);
    return [];
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
}

const mtls = (): Record<string, string> => ({ VIGIL_GRPC_TLS_CERT: pki.server.cert, VIGIL_GRPC_TLS_KEY: pki.server.key, VIGIL_GRPC_TLS_CLIENT_CA: pki.ca.cert });

test('ext_proc: plaintext on loopback by default; a non-loopback plaintext bind needs VIGIL_GRPC_INSECURE=true or mTLS', () => {
  const d = parseSettings({});
  assert.equal(d.grpcTls, null);
  assert.equal(d.grpcInsecure, false);
  for (const loopback of ['127.0.0.1:50051', '127.0.0.2:1', 'localhost:50051', '[::1]:50051']) {
    assert.deepEqual(problemsOf({ VIGIL_GRPC_ADDRESS: loopback }), [], loopback);
  }
  for (const open of ['0.0.0.0:50051', '[::]:50051', '10.1.2.3:50051', 'vigil:50051']) {
    const p = problemsOf({ VIGIL_GRPC_ADDRESS: open });
    assert.equal(p.length, 1, open);
    assert.match(p[0]!, /^VIGIL_GRPC_ADDRESS: .* is not a loopback address and ext_proc would be plaintext: set VIGIL_GRPC_TLS_CERT, VIGIL_GRPC_TLS_KEY and VIGIL_GRPC_TLS_CLIENT_CA \(mTLS\), or VIGIL_GRPC_INSECURE=true/);
    assert.equal(parseSettings({ VIGIL_GRPC_ADDRESS: open, VIGIL_GRPC_INSECURE: 'true' }).grpcInsecure, true);
  }
  const s = parseSettings({ VIGIL_GRPC_ADDRESS: '0.0.0.0:50051', ...mtls() });
  assert.deepEqual(s.grpcTls, { certFile: pki.server.cert, keyFile: pki.server.key, clientCaFile: pki.ca.cert });
});

test('ext_proc mTLS: all three files or none; unreadable, wrong-kind and mismatched files name their setting', () => {
  assert.deepEqual(problemsOf({ VIGIL_GRPC_TLS_CERT: pki.server.cert }), [
    'VIGIL_GRPC_TLS_*: mTLS needs all of VIGIL_GRPC_TLS_CERT, VIGIL_GRPC_TLS_KEY and VIGIL_GRPC_TLS_CLIENT_CA; missing VIGIL_GRPC_TLS_KEY, VIGIL_GRPC_TLS_CLIENT_CA',
  ]);
  const missing = join(pki.dir, 'absent.pem');
  assert.deepEqual(problemsOf({ ...mtls(), VIGIL_GRPC_TLS_CLIENT_CA: missing }), [`VIGIL_GRPC_TLS_CLIENT_CA: cannot read "${missing}" (ENOENT)`]);
  assert.deepEqual(problemsOf({ ...mtls(), VIGIL_GRPC_TLS_CERT: pki.server.key }), [`VIGIL_GRPC_TLS_CERT: "${pki.server.key}" holds no PEM certificate (-----BEGIN CERTIFICATE-----)`]);
  assert.deepEqual(problemsOf({ ...mtls(), VIGIL_GRPC_TLS_KEY: pki.server.cert }), [`VIGIL_GRPC_TLS_KEY: "${pki.server.cert}" holds no PEM private key (-----BEGIN … PRIVATE KEY-----)`]);
  assert.deepEqual(problemsOf({ ...mtls(), VIGIL_GRPC_TLS_KEY: pki.client.key }), [
    `VIGIL_GRPC_TLS_KEY: "${pki.client.key}" is not the private key of the certificate in VIGIL_GRPC_TLS_CERT ("${pki.server.cert}")`,
  ]);
});

test('Redis TLS files: only with rediss://, certificate and key together, each file checked; a key is never quoted', () => {
  const base = { REDIS_URL: 'rediss://127.0.0.1:6380', VIGIL_KEY_SECRET: 'test-secret-0123456789abcdef' };
  const s = parseSettings({ ...base, VIGIL_REDIS_TLS_CA: pki.ca.cert, VIGIL_REDIS_TLS_CERT: pki.client.cert, VIGIL_REDIS_TLS_KEY: pki.client.key, VIGIL_REDIS_TLS_SERVERNAME: 'redis.internal' });
  assert.deepEqual(s.redisTls, { caFile: pki.ca.cert, certFile: pki.client.cert, keyFile: pki.client.key, servername: 'redis.internal' });
  assert.equal(parseSettings(base).redisTls, null, 'none set: Node defaults (NODE_EXTRA_CA_CERTS)');
  assert.deepEqual(problemsOf({ ...base, REDIS_URL: 'redis://127.0.0.1:6379', VIGIL_REDIS_TLS_CA: pki.ca.cert }), [
    'VIGIL_REDIS_TLS_CA: set, but REDIS_URL is redis:// (plaintext); use rediss:// for TLS',
  ]);
  assert.deepEqual(problemsOf({ VIGIL_REDIS_TLS_CA: pki.ca.cert }), ['VIGIL_REDIS_TLS_CA: set, but REDIS_URL is not (the embedded store has no connection to secure)']);
  assert.deepEqual(problemsOf({ ...base, VIGIL_REDIS_TLS_CERT: pki.client.cert }), [
    'VIGIL_REDIS_TLS_CERT and VIGIL_REDIS_TLS_KEY: a client certificate needs both (only VIGIL_REDIS_TLS_CERT is set)',
  ]);
  const missing = join(pki.dir, 'absent-ca.pem');
  assert.deepEqual(problemsOf({ ...base, VIGIL_REDIS_TLS_CA: missing }), [`VIGIL_REDIS_TLS_CA: cannot read "${missing}" (ENOENT)`]);
  const p = problemsOf({ ...base, VIGIL_REDIS_TLS_CERT: pki.client.cert, VIGIL_REDIS_TLS_KEY: pki.server.key });
  assert.deepEqual(p, [`VIGIL_REDIS_TLS_KEY: "${pki.server.key}" is not the private key of the certificate in VIGIL_REDIS_TLS_CERT ("${pki.client.cert}")`]);
  const keyText = readFileSync(pki.server.key, 'utf8').split('\n')[1]!;
  assert.ok(!p.join('\n').includes(keyText), 'no key material in a problem');
});

test('the TLS settings are in SETTINGS_DOC and the README settings table', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const name of ['VIGIL_GRPC_TLS_CERT', 'VIGIL_GRPC_TLS_KEY', 'VIGIL_GRPC_TLS_CLIENT_CA', 'VIGIL_GRPC_INSECURE', 'VIGIL_REDIS_TLS_CA', 'VIGIL_REDIS_TLS_CERT', 'VIGIL_REDIS_TLS_KEY', 'VIGIL_REDIS_TLS_SERVERNAME']) {
    assert.ok(SETTINGS_DOC.some((s) => s.name === name), `SETTINGS_DOC row for ${name}`);
    assert.match(readme, new RegExp(`^\\| \`${name}\` \\|`, 'm'), `README row for ${name}`);
  }
});
