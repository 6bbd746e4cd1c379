/**
 * envoy-sim conformance: body modes and their ordering (docs/envoy-ext-proc.md §1.8, §2.1), body
 * mutations and CONTINUE_AND_REPLACE (§1.4), mode_override (§1.3), buffer limits.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProcessingRequest } from '../../src/extproc/messages.js';
import type { HeaderPairs } from '../../src/envoy-sim/types.js';
import { echo, replyTo, type Script, setHeader, simulate } from '../helpers/ext-proc-test-servers.js';

const values = (pairs: HeaderPairs, name: string): string[] => pairs.filter(([k]) => k === name).map(([, v]) => v);
const bodyOf = (req: ProcessingRequest | undefined): string => Buffer.from(req?.request_body?.body ?? Buffer.alloc(0)).toString();
const upper = (req: ProcessingRequest): Buffer => Buffer.from(bodyOf(req).toUpperCase());

describe('envoy-sim: BUFFERED', () => {
  const post = { method: 'POST', path: '/', headers: [['content-length', '11']] as HeaderPairs, body: [Buffer.from('hello '), Buffer.from('world')] };

  it('sends the whole body in one message after the headers reply; body replies may mutate headers', async () => {
    const script: Script = (req) =>
      req.request === 'request_body'
        ? replyTo(req, { header_mutation: { set_headers: [setHeader('x-body-seen', '1')] }, body_mutation: { body: upper(req) } })
        : replyTo(req);
    const { result, call } = await simulate(script, { processing_mode: { request_body_mode: 'BUFFERED' } }, post);
    assert.deepEqual(call?.events.slice(0, 3), ['request_headers', 'request_body', 'response_headers']);
    assert.equal(call?.received[0]?.request_headers?.end_of_stream, undefined);
    assert.equal(bodyOf(call?.received[1]), 'hello world');
    assert.equal(call?.received[1]?.request_body?.end_of_stream, true);
    assert.equal(result.upstreamRequest?.body.toString(), 'HELLO WORLD');
    assert.deepEqual(values(result.upstreamRequest?.headers ?? [], 'x-body-seen'), ['1']);
    assert.deepEqual(values(result.upstreamRequest?.headers ?? [], 'content-length'), ['11']);
  });

  it('sets end_of_stream false on the body when trailers follow, then sends the trailers', async () => {
    const script: Script = (req) =>
      req.request === 'request_trailers'
        ? { request_trailers: { header_mutation: { set_headers: [setHeader('x-trailer-added', 'yes')] } } }
        : replyTo(req);
    const { result, call } = await simulate(
      script,
      { processing_mode: { request_body_mode: 'BUFFERED', request_trailer_mode: 'SEND', response_header_mode: 'SKIP' } },
      { ...post, trailers: [['x-checksum', 'abc']] },
    );
    assert.deepEqual(call?.events.slice(0, 3), ['request_headers', 'request_body', 'request_trailers']);
    assert.equal(call?.received[1]?.request_body?.end_of_stream, undefined);
    assert.equal(bodyOf(call?.received[1]), 'hello world');
    assert.equal(result.upstreamRequest?.body.toString(), 'hello world');
    assert.deepEqual(result.upstreamRequest?.trailers, [['x-checksum', 'abc'], ['x-trailer-added', 'yes']]);
  });

  it('answers 500 when a body mutation does not match content-length', async () => {
    const script: Script = (req) => (req.request === 'request_body' ? replyTo(req, { body_mutation: { body: Buffer.from('hi!') } }) : replyTo(req));
    const mode = { processing_mode: { request_body_mode: 'BUFFERED' } } as const;
    const { result } = await simulate(script, mode, post);
    assert.equal(result.outcome, 'local-reply');
    assert.equal(result.client.status, 500);
    assert.equal(result.details, 'mismatch_between_content_length_and_the_length_of_the_mutated_body');
    assert.equal(result.upstreamRequest, null);
    const { result: noLength } = await simulate(script, mode, { ...post, headers: [] });
    assert.equal(noLength.outcome, 'passed');
    assert.equal(noLength.upstreamRequest?.body.toString(), 'hi!');
  });

  it('answers 413 for a request body over the buffer limit, 500 for a response body', async () => {
    const { result: req } = await simulate(echo, { processing_mode: { request_body_mode: 'BUFFERED' }, buffer_limit_bytes: 8 }, post);
    assert.equal(req.client.status, 413);
    assert.equal(req.details, 'request_payload_too_large');
    assert.equal(req.upstreamRequest, null);
    const { result: res } = await simulate(
      echo,
      { processing_mode: { response_body_mode: 'BUFFERED' }, buffer_limit_bytes: 8 },
      { method: 'GET', path: '/', upstream: { status: 200, body: Buffer.from('0123456789abcdef') } },
    );
    assert.equal(res.client.status, 500);
    assert.equal(res.details, 'response_payload_too_large');
  });

  it('buffers up to the limit in BUFFERED_PARTIAL and lets the rest through untouched', async () => {
    const script: Script = (req) => (req.request === 'request_body' ? replyTo(req, { body_mutation: { body: upper(req) } }) : replyTo(req));
    const { result, call } = await simulate(
      script,
      { processing_mode: { request_body_mode: 'BUFFERED_PARTIAL', response_header_mode: 'SKIP' }, buffer_limit_bytes: 4 },
      { method: 'POST', path: '/', body: [Buffer.from('abc'), Buffer.from('def'), Buffer.from('ghi')] },
    );
    assert.deepEqual(call?.events.slice(0, 2), ['request_headers', 'request_body']);
    assert.equal(bodyOf(call?.received[1]), 'abcdef');
    assert.equal(call?.received[1]?.request_body?.end_of_stream, undefined);
    assert.equal(result.upstreamRequest?.body.toString(), 'ABCDEFghi');
  });
});

describe('envoy-sim: STREAMED', () => {
  it('pipelines chunks without waiting and applies in-order replies per chunk', async () => {
    const held: ProcessingRequest[] = [];
    const script: Script = (req, call) => {
      if (req.request !== 'request_body') return replyTo(req);
      held.push(req);
      // Answer only once all three chunks are out: Envoy must not wait for each reply.
      if (held.length === 3) for (const r of held) call.write(replyTo(r, { body_mutation: { body: Buffer.from(`[${bodyOf(r)}]`) } }));
      return undefined;
    };
    const { result, call } = await simulate(
      script,
      { processing_mode: { request_body_mode: 'STREAMED' } },
      { method: 'POST', path: '/', headers: [['content-length', '3']], body: [Buffer.from('a'), Buffer.from('b'), Buffer.from('c')] },
    );
    assert.equal(result.outcome, 'passed');
    assert.equal(result.upstreamRequest?.body.toString(), '[a][b][c]');
    assert.deepEqual(values(result.upstreamRequest?.headers ?? [], 'content-length'), []);
    const ends = call?.received.filter((r) => r.request === 'request_body').map((r) => r.request_body?.end_of_stream ?? false);
    assert.deepEqual(ends, [false, false, true]);
  });

  it('streams response chunks and clears a chunk on clear_body', async () => {
    const script: Script = (req) =>
      req.request === 'response_body' && bodyOf({ request_body: req.response_body }) === 'drop'
        ? replyTo(req, { body_mutation: { clear_body: true } })
        : replyTo(req);
    const { result } = await simulate(script, { processing_mode: { response_body_mode: 'STREAMED' } }, {
      method: 'GET',
      path: '/',
      upstream: { status: 200, body: [Buffer.from('keep,'), Buffer.from('drop'), Buffer.from(',end')] },
    });
    assert.equal(result.client.body.toString(), 'keep,,end');
  });

  it('interleaves response headers while a request-body reply is pending', async () => {
    const pending: ProcessingRequest[] = [];
    const script: Script = (req, call) => {
      if (req.request === 'request_headers') return replyTo(req);
      pending.push(req);
      const body = pending.find((r) => r.request === 'request_body');
      const headers = pending.find((r) => r.request === 'response_headers');
      if (body && headers) {
        call.write(replyTo(body, { body_mutation: { body: Buffer.from('X') } }));
        call.write(replyTo(headers, { header_mutation: { set_headers: [setHeader('x-resp', '1')] } }));
      }
      return undefined;
    };
    const { result, call } = await simulate(script, { processing_mode: { request_body_mode: 'STREAMED' }, message_timeout_ms: 500 }, {
      method: 'POST',
      path: '/',
      body: Buffer.from('x'),
      upstream: { status: 200, early: true },
    });
    assert.equal(result.outcome, 'passed');
    assert.deepEqual([...(call?.events.slice(1, 3) ?? [])].sort(), ['request_body', 'response_headers']);
    assert.equal(result.upstreamRequest?.body.toString(), 'X');
    assert.deepEqual(values(result.client.headers, 'x-resp'), ['1']);
  });
});

describe('envoy-sim: mode_override and CONTINUE_AND_REPLACE', () => {
  const askForBody: Script = (req) => (req.request === 'request_headers' ? { ...replyTo(req), mode_override: { request_body_mode: 'BUFFERED' } } : replyTo(req));
  const post = { method: 'POST', path: '/', body: Buffer.from('payload') };

  it('honours mode_override on a headers reply with allow_mode_override', async () => {
    const { call } = await simulate(askForBody, { allow_mode_override: true }, post);
    assert.deepEqual(call?.events.slice(0, 3), ['request_headers', 'request_body', 'response_headers']);
    assert.equal(bodyOf(call?.received[1]), 'payload');
  });

  it('ignores mode_override without allow_mode_override, or outside allowed_override_modes', async () => {
    const { call } = await simulate(askForBody, {}, post);
    assert.deepEqual(call?.events.slice(0, 2), ['request_headers', 'response_headers']);
    const { call: listed } = await simulate(
      askForBody,
      { allow_mode_override: true, allowed_override_modes: [{ request_body_mode: 'STREAMED' }] },
      post,
    );
    assert.deepEqual(listed?.events.slice(0, 2), ['request_headers', 'response_headers']);
  });

  it('treats DEFAULT header modes in an override as "no change" and can skip the response headers', async () => {
    const skip: Script = (req) => (req.request === 'request_headers' ? { ...replyTo(req), mode_override: { response_header_mode: 'SKIP' } } : replyTo(req));
    const { call, result } = await simulate(skip, { allow_mode_override: true }, { method: 'GET', path: '/' });
    assert.equal(result.outcome, 'passed');
    assert.deepEqual(call?.events.slice(0, 1), ['request_headers']);
    assert.ok(!call?.events.includes('response_headers'));
  });

  it('replaces the body and sends nothing more for that direction on CONTINUE_AND_REPLACE', async () => {
    const replace: Script = (req) =>
      req.request === 'request_headers'
        ? replyTo(req, {
            status: 'CONTINUE_AND_REPLACE',
            header_mutation: { set_headers: [setHeader(':method', 'POST'), setHeader('content-type', 'application/json')] },
            body_mutation: { body: Buffer.from('{"a":1}') },
          })
        : replyTo(req);
    const { result, call } = await simulate(replace, { processing_mode: { request_body_mode: 'BUFFERED' } }, { method: 'GET', path: '/' });
    assert.equal(result.outcome, 'passed');
    const up = result.upstreamRequest?.headers ?? [];
    assert.deepEqual(values(up, ':method'), ['POST']);
    assert.equal(result.upstreamRequest?.body.toString(), '{"a":1}');
    assert.deepEqual(call?.events.slice(0, 2), ['request_headers', 'response_headers']);
    const { result: withBody, call: call2 } = await simulate(
      replace,
      { processing_mode: { request_body_mode: 'BUFFERED' } },
      { method: 'PUT', path: '/', headers: [['content-length', '8']], body: [Buffer.from('orig'), Buffer.from('inal')] },
    );
    assert.equal(withBody.upstreamRequest?.body.toString(), '{"a":1}');
    assert.deepEqual(values(withBody.upstreamRequest?.headers ?? [], 'content-length'), []);
    assert.ok(!call2?.events.includes('request_body'));
  });
});
