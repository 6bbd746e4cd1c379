/**
 * envoy-sim conformance: header phases, encoding of what is sent, and the §2.8 mutation checker, each
 * asserted as Envoy's outcome (docs/envoy-ext-proc.md §1.2, §1.4, §1.5, §2.8).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  echo,
  headerOf,
  replyTo,
  setHeader,
  simulate,
} from '../helpers/ext-proc-test-servers.js';
import type { HeaderPairs } from '../../src/envoy-sim/types.js';

const values = (pairs: HeaderPairs, name: string): string[] => pairs.filter(([k]) => k === name).map(([, v]) => v);

describe('envoy-sim: headers', () => {
  it('passes a request through a well-behaved processor (empty HeadersResponse)', async () => {
    const { result, call } = await simulate(echo, {}, {
      method: 'GET',
      path: '/items?id=1',
      headers: [['Host', 'api.example'], ['User-Agent', 'curl/8']],
      upstream: { status: 201, headers: [['content-type', 'text/plain']], body: Buffer.from('made') },
    });
    assert.equal(result.outcome, 'passed');
    assert.equal(result.details, 'via_upstream');
    assert.equal(result.client.status, 201);
    assert.equal(result.client.body.toString(), 'made');
    assert.deepEqual(values(result.upstreamRequest?.headers ?? [], ':path'), ['/items?id=1']);
    assert.deepEqual(values(result.upstreamRequest?.headers ?? [], ':authority'), ['api.example']);
    assert.equal(result.stats.streams_started, 1);
    assert.equal(result.stats.stream_msgs_sent, 2);
    assert.equal(result.stats.stream_msgs_received, 2);
    assert.equal(result.stats.streams_closed, 1);
    // §1.2: lower-cased keys, pseudo-headers, values only in raw_value, end_of_stream iff no body.
    const first = call?.received[0];
    assert.equal(first?.request, 'request_headers');
    assert.equal(first?.request_headers?.end_of_stream, true);
    const keys = first?.request_headers?.headers?.headers?.map((h) => h.key);
    assert.deepEqual(keys, [':method', ':path', ':authority', ':scheme', 'user-agent']);
    assert.ok(first?.request_headers?.headers?.headers?.every((h) => h.value === undefined && h.raw_value));
    assert.equal(headerOf(call!.received[1]!, ':status'), '201');
    assert.deepEqual(call?.events, ['request_headers', 'response_headers', 'end', 'cancelled']);
  });

  it('opens no stream when every phase is SKIP/NONE', async () => {
    const mode = { request_header_mode: 'SKIP', response_header_mode: 'SKIP' } as const;
    const { result, server } = await simulate(echo, { processing_mode: mode }, { method: 'GET', path: '/' });
    assert.equal(result.outcome, 'passed');
    assert.equal(server.calls.length, 0);
    assert.equal(result.stats.streams_started, 0);
  });

  it('applies raw_value mutations to the upstream request and to the client response', async () => {
    const { result } = await simulate(
      (req) =>
        req.request === 'request_headers'
          ? replyTo(req, { header_mutation: { set_headers: [setHeader('x-req-tag', 'a')], remove_headers: ['x-secret'] } })
          : replyTo(req, { header_mutation: { set_headers: [setHeader('x-resp-tag', 'b')] } }),
      {},
      { method: 'GET', path: '/', headers: [['x-secret', 's3cr3t']] },
    );
    const up = result.upstreamRequest?.headers ?? [];
    assert.deepEqual(values(up, 'x-req-tag'), ['a']);
    assert.deepEqual(values(up, 'x-secret'), []);
    assert.deepEqual(values(result.client.headers, 'x-resp-tag'), ['b']);
  });

  it('sets an empty value for a value-only mutation (Envoy reads raw_value only)', async () => {
    const { result } = await simulate(
      (req) => replyTo(req, { header_mutation: { set_headers: [{ header: { key: 'x-v', value: 'hello' } }] } }),
      {},
      { method: 'GET', path: '/' },
    );
    assert.equal(result.outcome, 'passed');
    assert.deepEqual(values(result.upstreamRequest?.headers ?? [], 'x-v'), ['']);
  });

  for (const failOpen of [false, true]) {
    it(`answers 500 when both value and raw_value are set (failure_mode_allow ${failOpen})`, async () => {
      const both = { header: { key: 'x-v', value: 'a', raw_value: Buffer.from('a') } };
      const { result } = await simulate(
        (req) => replyTo(req, { header_mutation: { set_headers: [both] } }),
        { failure_mode_allow: failOpen },
        { method: 'GET', path: '/' },
      );
      assert.equal(result.outcome, 'local-reply');
      assert.equal(result.client.status, 500);
      assert.equal(result.upstreamRequest, null);
      assert.equal(result.details, 'Only_one_of_value_or_raw_value_in_the_HeaderValue_message_should_be_set.');
      assert.equal(result.stats.rejected_header_mutations, 1);
      assert.equal(result.stats.stream_msgs_received, 1);
    });
  }

  it('honours the append BoolValue, overwrites by default and ignores append_action', async () => {
    const { result } = await simulate(
      (req) =>
        replyTo(req, {
          header_mutation: {
            set_headers: [
              setHeader('x-list', 'b', true),
              setHeader('x-over', 'new'),
              setHeader('x-fresh', 'f', true),
              { ...setHeader('x-act', '2'), append_action: 'APPEND_IF_EXISTS_OR_ADD' },
            ],
          },
        }),
      { processing_mode: { response_header_mode: 'SKIP' } },
      { method: 'GET', path: '/', headers: [['x-list', 'a'], ['x-over', 'old'], ['x-act', '1']] },
    );
    const up = result.upstreamRequest?.headers ?? [];
    assert.deepEqual(values(up, 'x-list'), ['a', 'b']);
    assert.deepEqual(values(up, 'x-over'), ['new']);
    assert.deepEqual(values(up, 'x-fresh'), ['f']);
    assert.deepEqual(values(up, 'x-act'), ['2']);
  });

  const disallowed = {
    set_headers: [
      setHeader('x-envoy-foo', '1'),
      setHeader(':authority', 'evil.example'),
      setHeader('host', 'evil.example'),
      setHeader(':path', '/appended', true),
      setHeader('x-ok', 'yes'),
    ],
    remove_headers: [':path'],
  };

  it('drops disallowed mutations and counts them (default rules)', async () => {
    const { result } = await simulate(
      (req) => replyTo(req, { header_mutation: disallowed }),
      { processing_mode: { response_header_mode: 'SKIP' } },
      { method: 'GET', path: '/orig', authority: 'good.example' },
    );
    assert.equal(result.outcome, 'passed');
    const up = result.upstreamRequest?.headers ?? [];
    assert.deepEqual(values(up, ':path'), ['/orig']);
    assert.deepEqual(values(up, ':authority'), ['good.example']);
    assert.deepEqual(values(up, 'x-envoy-foo'), []);
    assert.deepEqual(values(up, 'host'), []);
    assert.deepEqual(values(up, 'x-ok'), ['yes']);
    assert.equal(result.stats.rejected_header_mutations, 5);
  });

  it('answers 500 for a disallowed mutation with disallow_is_error', async () => {
    const { result } = await simulate(
      (req) => replyTo(req, { header_mutation: disallowed }),
      { mutation_rules: { disallow_is_error: true } },
      { method: 'GET', path: '/orig' },
    );
    assert.equal(result.outcome, 'local-reply');
    assert.equal(result.client.status, 500);
    assert.equal(result.details, 'Invalid_attempt_to_remove_:path');
    assert.equal(result.upstreamRequest, null);
  });

  it('lets allow_all_routing and allow_envoy through, but never removal of or appending to a pseudo-header', async () => {
    const { result } = await simulate(
      (req) => replyTo(req, { header_mutation: disallowed }),
      { mutation_rules: { allow_all_routing: true, allow_envoy: true }, processing_mode: { response_header_mode: 'SKIP' } },
      { method: 'GET', path: '/orig' },
    );
    const up = result.upstreamRequest?.headers ?? [];
    assert.deepEqual(values(up, ':authority'), ['evil.example']);
    assert.deepEqual(values(up, 'x-envoy-foo'), ['1']);
    assert.deepEqual(values(up, ':path'), ['/orig']);
    assert.equal(result.stats.rejected_header_mutations, 2);
  });

  it('rejects a :status below 200 and invalid header characters', async () => {
    const { result: low } = await simulate(
      (req) => replyTo(req, req.request === 'response_headers' ? { header_mutation: { set_headers: [setHeader(':status', '101')] } } : undefined),
      {},
      { method: 'GET', path: '/' },
    );
    assert.equal(low.client.status, 200);
    assert.equal(low.stats.rejected_header_mutations, 1);
    const { result: bad } = await simulate(
      (req) => replyTo(req, { header_mutation: { set_headers: [setHeader('x-bad', 'a\r\nb')] } }),
      {},
      { method: 'GET', path: '/' },
    );
    assert.equal(bad.client.status, 500);
    assert.equal(bad.details, 'Invalid_character_in_set_headers_mutation.');
  });

  it('counts clear_route_cache without a header_mutation as ignored', async () => {
    const { result } = await simulate((req) => replyTo(req, { clear_route_cache: true }), {}, { method: 'GET', path: '/' });
    assert.equal(result.stats.clear_route_cache_ignored, 1);
    const { result: withMutation } = await simulate(
      (req) => replyTo(req, { clear_route_cache: true, header_mutation: {} }),
      { processing_mode: { response_header_mode: 'SKIP' } },
      { method: 'GET', path: '/' },
    );
    assert.equal(withMutation.stats.clear_route_cache_ignored, 0);
  });
});
