/**
 * envoy-sim conformance: immediate responses (§1.6, §2.5), attributes (§1.2) and protocol_config (§1.2).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { echo, replyTo, setHeader, simulate } from '../helpers/ext-proc-test-servers.js';
import type { ProcessingRequest, ProcessingResponse } from '../../src/extproc/messages.js';
import type { HeaderPairs } from '../../src/envoy-sim/types.js';

const values = (pairs: HeaderPairs, name: string): string[] => pairs.filter(([k]) => k === name).map(([, v]) => v);

const tooMany: ProcessingResponse = {
  immediate_response: {
    status: { code: 'TooManyRequests' },
    headers: { set_headers: [setHeader('x-ratelimit-reset', '30'), setHeader('x-envoy-ratelimited', 'true')] },
    body: Buffer.from('slow down'),
    details: 'rate limited',
  },
};

describe('envoy-sim: immediate responses', () => {
  it('sends a local reply for an immediate_response at request headers', async () => {
    const { result, call } = await simulate(() => tooMany, {}, { method: 'GET', path: '/' });
    assert.equal(result.outcome, 'immediate-response');
    assert.equal(result.client.status, 429);
    assert.equal(result.client.body.toString(), 'slow down');
    assert.deepEqual(values(result.client.headers, 'x-ratelimit-reset'), ['30']);
    // The filter's mutation rules apply to the reply's headers (§1.6, since 1.32): x-envoy-* is dropped.
    assert.deepEqual(values(result.client.headers, 'x-envoy-ratelimited'), []);
    assert.deepEqual(values(result.client.headers, 'content-type'), ['text/plain']);
    assert.deepEqual(values(result.client.headers, 'content-length'), ['9']);
    assert.equal(result.details, 'rate_limited');
    assert.equal(result.upstreamRequest, null);
    assert.equal(result.stats.immediate_responses_sent, 1);
    assert.equal(result.stats.rejected_header_mutations, 1);
    // §2.5: the side stream is closed; nothing else is sent.
    assert.deepEqual(call?.events, ['request_headers', 'end', 'cancelled']);
  });

  for (const [label, status] of [['Empty (0)', { code: 'Empty' }], ['Continue (100)', { code: 'Continue' }], ['missing', undefined]] as const) {
    it(`uses 200 when the immediate response status is ${label}`, async () => {
      const { result } = await simulate(
        () => ({ immediate_response: { ...(status ? { status } : {}), body: Buffer.from('ok') } }),
        {},
        { method: 'GET', path: '/' },
      );
      assert.equal(result.outcome, 'immediate-response');
      assert.equal(result.client.status, 200);
      assert.equal(result.client.body.toString(), 'ok');
    });
  }

  it('replaces the upstream response for an immediate_response at response headers', async () => {
    const { result } = await simulate(
      (req) => (req.request === 'response_headers' ? { immediate_response: { status: { code: 'Forbidden' } } } : replyTo(req)),
      {},
      { method: 'GET', path: '/', upstream: { status: 200, body: Buffer.from('secret data') } },
    );
    assert.equal(result.outcome, 'immediate-response');
    assert.equal(result.client.status, 403);
    assert.equal(result.client.body.length, 0);
    assert.notEqual(result.upstreamRequest, null);
  });

  it('resets the stream when the response headers already went downstream', async () => {
    const { result } = await simulate(
      (req) => (req.request === 'response_body' ? { immediate_response: { status: { code: 'Forbidden' }, details: 'too late' } } : replyTo(req)),
      { processing_mode: { response_body_mode: 'STREAMED' } },
      { method: 'GET', path: '/', upstream: { status: 200, body: [Buffer.from('a'), Buffer.from('b')] } },
    );
    assert.equal(result.outcome, 'reset');
    assert.equal(result.client.status, 200);
    assert.equal(result.client.body.length, 0);
    assert.equal(result.details, 'too_late');
  });

  it('turns an immediate response into a gRPC error for gRPC requests', async () => {
    const { result } = await simulate(
      () => ({ immediate_response: { status: { code: 'Forbidden' }, body: Buffer.from('no way'), grpc_status: { status: 7 } } }),
      {},
      { method: 'POST', path: '/pkg.Svc/Call', headers: [['content-type', 'application/grpc']], body: Buffer.from('x') },
    );
    assert.equal(result.client.status, 200);
    assert.deepEqual(values(result.client.headers, 'grpc-status'), ['7']);
    assert.deepEqual(values(result.client.headers, 'grpc-message'), ['no way']);
  });

  it('treats an immediate response as spurious with disable_immediate_response', async () => {
    const closed = await simulate(() => tooMany, { disable_immediate_response: true }, { method: 'GET', path: '/' });
    assert.equal(closed.result.outcome, 'local-reply');
    assert.equal(closed.result.client.status, 500);
    assert.equal(closed.result.stats.spurious_msgs_received, 1);
    const old = await simulate(() => tooMany, { disable_immediate_response: true, envoy_version: '1.34' }, { method: 'GET', path: '/' });
    assert.equal(old.result.outcome, 'passed');
    assert.equal(old.result.client.status, 200);
  });
});

describe('envoy-sim: attributes and protocol_config', () => {
  const attrs = (req: ProcessingRequest | undefined): Record<string, unknown> | undefined =>
    req?.attributes?.['envoy.filters.http.ext_proc']?.fields as Record<string, unknown> | undefined;

  it('sends attributes only on the first message of each direction', async () => {
    const { call } = await simulate(
      echo,
      {
        request_attributes: ['source.address', 'request.path', 'source.port'],
        response_attributes: ['response.code'],
        processing_mode: { request_body_mode: 'STREAMED', response_body_mode: 'STREAMED' },
      },
      {
        method: 'POST',
        path: '/login',
        body: [Buffer.from('a'), Buffer.from('b')],
        sourceAddress: '203.0.113.7:51234',
        upstream: { status: 401, body: [Buffer.from('c'), Buffer.from('d')] },
      },
    );
    const received = call?.received ?? [];
    assert.deepEqual(call?.events.slice(0, 6), ['request_headers', 'request_body', 'request_body', 'response_headers', 'response_body', 'response_body']);
    assert.deepEqual(attrs(received[0]), {
      'source.address': { stringValue: '203.0.113.7:51234', kind: 'stringValue' },
      'request.path': { stringValue: '/login', kind: 'stringValue' },
      'source.port': { numberValue: 51234, kind: 'numberValue' },
    });
    assert.equal(received[1]?.attributes, undefined);
    assert.equal(received[2]?.attributes, undefined);
    assert.deepEqual(attrs(received[3]), { 'response.code': { numberValue: 401, kind: 'numberValue' } });
    assert.equal(received[4]?.attributes, undefined);
  });

  it('puts the attributes on the body message when the headers are skipped', async () => {
    const { call } = await simulate(
      echo,
      {
        request_attributes: ['source.address'],
        processing_mode: { request_header_mode: 'SKIP', request_body_mode: 'BUFFERED', response_header_mode: 'SKIP' },
      },
      { method: 'POST', path: '/', body: Buffer.from('x'), sourceAddress: '198.51.100.2:4000' },
    );
    assert.equal(call?.received[0]?.request, 'request_body');
    assert.deepEqual(attrs(call?.received[0]), { 'source.address': { stringValue: '198.51.100.2:4000', kind: 'stringValue' } });
  });

  it('sends protocol_config in the first message for 1.37 only', async () => {
    const mode = { request_body_mode: 'BUFFERED' } as const;
    const x = { method: 'POST', path: '/', body: Buffer.from('x') };
    const recent = await simulate(echo, { processing_mode: mode }, x);
    const first = recent.call?.received[0];
    assert.deepEqual(first?.protocol_config, { request_body_mode: 'BUFFERED' });
    assert.ok(recent.call?.received.slice(1).every((r) => r.protocol_config === undefined));
    const old = await simulate(echo, { processing_mode: mode, envoy_version: '1.34' }, x);
    assert.ok(old.call?.received.every((r) => r.protocol_config === undefined));
  });
});
