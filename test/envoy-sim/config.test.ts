/** envoy-sim: config validation and the mutation checker on its own (docs/envoy-ext-proc.md §2.2, §2.8). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../src/envoy-sim/config.js';
import { MutationChecker } from '../../src/envoy-sim/mutation-rules.js';
import { ConfigError } from '../../src/errors.js';

const problems = (config: object): string[] => {
  try {
    resolveConfig(config);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('envoy-sim config', () => {
  it("fills Envoy's defaults", () => {
    const c = resolveConfig({});
    assert.equal(c.messageTimeoutMs, 200);
    assert.equal(c.maxMessageTimeoutMs, 0);
    assert.equal(c.failureModeAllow, false);
    assert.equal(c.statusOnError, 500);
    assert.equal(c.version, '1.37');
    assert.deepEqual(c.mode, {
      request_header_mode: 'DEFAULT',
      response_header_mode: 'DEFAULT',
      request_body_mode: 'NONE',
      response_body_mode: 'NONE',
      request_trailer_mode: 'DEFAULT',
      response_trailer_mode: 'DEFAULT',
    });
  });

  it('rejects FULL_DUPLEX_STREAMED as unsupported, unknown fields, and status_on_error before 1.36', () => {
    assert.deepEqual(problems({ processing_mode: { request_body_mode: 'FULL_DUPLEX_STREAMED' } }), [
      'envoy-sim config: processing_mode.request_body_mode: FULL_DUPLEX_STREAMED is not supported by envoy-sim',
    ]);
    assert.deepEqual(problems({ message_timeout: 5, envoy_version: '1.34', status_on_error: 503 }), [
      'envoy-sim config: message_timeout: unknown field',
      'envoy-sim config: status_on_error: needs envoy_version 1.36 or later',
    ]);
    assert.deepEqual(problems({ mutation_rules: { disallow_expression: '(' } }), [
      'envoy-sim config: mutation_rules.disallow_expression: invalid regular expression',
    ]);
  });
});

describe('envoy-sim mutation checker', () => {
  const value = Buffer.from('v');

  it('applies the default rules of §2.8', () => {
    const c = new MutationChecker();
    assert.equal(c.check('set', 'x-custom', value), 'ok');
    assert.equal(c.check('set', ':path', Buffer.from('/x')), 'ok');
    for (const name of ['host', ':authority', ':method', ':scheme', 'x-envoy-retry-on']) assert.equal(c.check('set', name, value), 'ignore', name);
    assert.equal(c.check('append', ':path', value), 'ignore');
    assert.equal(c.check('remove', 'host', value), 'ignore');
    assert.equal(c.check('remove', ':status', value), 'ignore');
    assert.equal(c.check('set', ':status', Buffer.from('199')), 'ignore');
    assert.equal(c.check('set', ':status', Buffer.from('204')), 'ok');
  });

  it('honours the rule switches and expressions, disallow winning', () => {
    assert.equal(new MutationChecker({ allow_all_routing: true }).check('set', ':authority', Buffer.from('a.example')), 'ok');
    assert.equal(new MutationChecker({ allow_all_routing: true }).check('set', ':scheme', Buffer.from('ftp')), 'ignore');
    assert.equal(new MutationChecker({ disallow_system: true }).check('set', ':path', value), 'ignore');
    assert.equal(new MutationChecker({ disallow_all: true }).check('set', 'x-a', value), 'ignore');
    assert.equal(new MutationChecker({ disallow_all: true, allow_expression: 'x-.*' }).check('set', 'x-a', value), 'ok');
    assert.equal(new MutationChecker({ allow_expression: 'x-.*', disallow_expression: 'x-a' }).check('set', 'x-a', value), 'ignore');
    assert.equal(new MutationChecker({ disallow_is_error: true }).check('set', 'x-envoy-a', value), 'fail');
  });
});
