/**
 * envoy-sim conformance: spurious replies per Envoy version (§2.7), timeouts and their override (§2.3,
 * §1.3), gRPC errors (§2.4), clean closes (§2.6), unreachable servers and the stream close sequence (§2.11).
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EnvoySim } from '../../src/envoy-sim/envoy-sim.js';
import type { EnvoyVersion } from '../../src/envoy-sim/types.js';
import type { ProcessingResponse } from '../../src/extproc/messages.js';
import {
  echo,
  replyTo,
  type Script,
  simulate,
  startProcessor,
  startSniffer,
  unusedPort,
  waitFor,
} from '../helpers/ext-proc-test-servers.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';

const GET = { method: 'GET', path: '/' };

describe('envoy-sim: spurious replies', () => {
  const cases: Array<[string, ProcessingResponse, string]> = [
    ['a reply of the wrong kind', { request_body: {} }, 'spurious_message'],
    ['an empty ProcessingResponse', {}, 'unhandled_message'],
  ];
  for (const [label, reply, details] of cases) {
    const script: Script = (req) => (req.request === 'request_headers' ? reply : replyTo(req));

    it(`passes ${label} through unmodified on 1.34`, async () => {
      const { result } = await simulate(script, { envoy_version: '1.34' }, GET);
      assert.equal(result.outcome, 'passed');
      assert.notEqual(result.upstreamRequest, null);
      assert.equal(result.stats.spurious_msgs_received, 1);
      assert.equal(result.stats.failure_mode_allowed, 0);
      assert.equal(result.stats.stream_msgs_sent, 1);
    });

    it(`answers 500 to ${label} on 1.37 fail-closed`, async () => {
      const { result } = await simulate(script, {}, GET);
      assert.equal(result.outcome, 'local-reply');
      assert.equal(result.client.status, 500);
      assert.equal(result.details, details);
      assert.equal(result.upstreamRequest, null);
      assert.equal(result.stats.spurious_msgs_received, 1);
    });

    it(`passes ${label} through on 1.37 with failure_mode_allow`, async () => {
      const { result } = await simulate(script, { failure_mode_allow: true }, GET);
      assert.equal(result.outcome, 'passed');
      assert.notEqual(result.upstreamRequest, null);
      assert.equal(result.stats.failure_mode_allowed, 1);
    });
  }
});

describe('envoy-sim: message timeouts', () => {
  const silent: Script = () => undefined;

  it('answers 504 when the processor never answers', async () => {
    const { result, elapsedMs } = await simulate(silent, { message_timeout_ms: 50 }, GET);
    assert.equal(result.outcome, 'local-reply');
    assert.equal(result.client.status, 504);
    assert.equal(result.details, 'ext_proc_error_per-message_timeout_exceeded');
    assert.equal(result.upstreamRequest, null);
    assert.equal(result.stats.message_timeouts, 1);
    assert.ok(elapsedMs >= 45, `timed out after ${elapsedMs} ms`);
  });

  it('passes through when the processor never answers and failure_mode_allow is set', async () => {
    const { result } = await simulate(silent, { message_timeout_ms: 50, failure_mode_allow: true }, GET);
    assert.equal(result.outcome, 'passed');
    assert.notEqual(result.upstreamRequest, null);
    assert.equal(result.stats.message_timeouts, 1);
    assert.equal(result.stats.failure_mode_allowed, 1);
  });

  // Timeouts are this block's subject, so its timers are real; the margins between them are a second or
  // more, so a loaded machine's stall (hundreds of ms) cannot reorder what the server sends and the timer.
  // The server sends its override at once and its answer ANSWER_MS later; the timer is TIMER_MS.
  const TIMER_MS = 1000;
  const ANSWER_MS = 2500;
  const slow = (overrideMs: number): Script => (req, call) => {
    if (req.request !== 'request_headers') return replyTo(req);
    setTimeout(() => call.write(replyTo(req)), ANSWER_MS);
    return { override_message_timeout: { seconds: Math.floor(overrideMs / 1000), nanos: (overrideMs % 1000) * 1e6 } };
  };

  it('extends the timer for override_message_timeout within max_message_timeout', async () => {
    const { result, elapsedMs } = await simulate(slow(8000), { message_timeout_ms: TIMER_MS, max_message_timeout_ms: 10_000 }, GET);
    assert.equal(result.outcome, 'passed');
    assert.equal(result.stats.override_message_timeout_received, 1);
    assert.equal(result.stats.message_timeouts, 0);
    assert.ok(elapsedMs >= ANSWER_MS - 10, `answered after ${elapsedMs} ms`);
  });

  for (const [label, max] of [['over max_message_timeout', 5000], ['with max_message_timeout 0 (disabled)', 0]] as const) {
    it(`ignores override_message_timeout ${label}`, async () => {
      const { result } = await simulate(slow(8000), { message_timeout_ms: TIMER_MS, max_message_timeout_ms: max }, GET);
      assert.equal(result.client.status, 504);
      assert.equal(result.stats.override_message_timeout_ignored, 1);
      assert.equal(result.stats.message_timeouts, 1);
    });
  }

  it('honours one override per processing state only', async () => {
    const twice: Script = (req, call) => {
      if (req.request !== 'request_headers') return replyTo(req);
      setTimeout(() => call.write({ override_message_timeout: { seconds: 1 } }), 100);
      setTimeout(() => call.write(replyTo(req)), ANSWER_MS);
      return { override_message_timeout: { seconds: 1 } };
    };
    const { result } = await simulate(twice, { message_timeout_ms: TIMER_MS, max_message_timeout_ms: 10_000 }, GET);
    assert.equal(result.stats.override_message_timeout_received, 1);
    assert.equal(result.stats.override_message_timeout_ignored, 1);
    assert.equal(result.client.status, 504);
  });
});

describe('envoy-sim: stream failures and closes', () => {
  const failing: Script = (_req, call) => call.fail(grpc.status.INTERNAL, 'boom');

  it('answers 500 with ext_proc_error_gRPC_error_13 for an error status', async () => {
    const { result } = await simulate(failing, {}, GET);
    assert.equal(result.outcome, 'local-reply');
    assert.equal(result.client.status, 500);
    assert.equal(result.details, 'ext_proc_error_gRPC_error_13');
    assert.equal(result.upstreamRequest, null);
    assert.equal(result.stats.streams_failed, 1);
    assert.equal(result.stats.streams_closed, 0);
  });

  it('uses status_on_error for an error status', async () => {
    const { result } = await simulate(failing, { status_on_error: 503 }, GET);
    assert.equal(result.client.status, 503);
  });

  it('passes through an error status with failure_mode_allow', async () => {
    const { result } = await simulate(failing, { failure_mode_allow: true }, GET);
    assert.equal(result.outcome, 'passed');
    assert.notEqual(result.upstreamRequest, null);
    assert.equal(result.stats.streams_failed, 1);
    assert.equal(result.stats.failure_mode_allowed, 1);
    assert.equal(result.stats.streams_closed, 1);
  });

  for (const version of ['1.34', '1.37'] as EnvoyVersion[]) {
    it(`continues unmodified after a clean (OK) close even fail-closed (${version})`, async () => {
      const closing: Script = (_req, call) => call.end();
      const { result } = await simulate(closing, { envoy_version: version }, { method: 'GET', path: '/', headers: [['x-a', '1']] });
      assert.equal(result.outcome, 'passed');
      assert.deepEqual(result.upstreamRequest?.headers.find(([k]) => k === 'x-a'), ['x-a', '1']);
      assert.equal(result.stats.streams_closed, 1);
      assert.equal(result.stats.stream_msgs_received, 0);
      assert.equal(result.stats.server_half_closed, version === '1.37' ? 1 : 0);
    });
  }

  it('re-injects queued STREAMED chunks unmodified when the server closes mid-body', async () => {
    const script: Script = (req, call) => {
      if (req.request === 'request_body') return call.end();
      return replyTo(req);
    };
    const { result } = await simulate(script, { processing_mode: { request_body_mode: 'STREAMED' } }, {
      method: 'POST',
      path: '/',
      body: [Buffer.from('one,'), Buffer.from('two,'), Buffer.from('three')],
    });
    assert.equal(result.outcome, 'passed');
    assert.equal(result.upstreamRequest?.body.toString(), 'one,two,three');
  });

  for (const failOpen of [false, true]) {
    it(`handles an unreachable server (failure_mode_allow ${failOpen})`, async () => {
      const sim = new EnvoySim(`127.0.0.1:${await unusedPort()}`, { failure_mode_allow: failOpen, message_timeout_ms: 2000 });
      try {
        const result = await sim.exchange(GET);
        assert.equal(result.outcome, failOpen ? 'passed' : 'local-reply');
        assert.equal(result.client.status, failOpen ? 200 : 500);
        if (!failOpen) assert.equal(result.details, 'ext_proc_error_gRPC_error_14');
        assert.equal(result.stats.streams_failed, 1);
      } finally {
        sim.close();
      }
    });
  }

  it('ends each stream with a half-close then a reset (END_STREAM, then RST_STREAM CANCEL)', async () => {
    const server = await startProcessor(echo);
    const sniffer = await startSniffer(server.port);
    const sim = new EnvoySim(sniffer.target, { message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
    try {
      await sim.exchange(GET);
      const call = server.calls[0];
      await waitFor(() => call?.events.includes('cancelled') === true);
      assert.deepEqual(call?.events.slice(-2), ['end', 'cancelled']);
      await waitFor(() => sniffer.log.frames.some((f) => f.type === 'RST_STREAM'));
      const frames = sniffer.log.frames.filter((f) => f.type === 'DATA' || f.type === 'RST_STREAM');
      const endAt = frames.findIndex((f) => f.type === 'DATA' && (f.flags & 1) === 1);
      const rstAt = frames.findIndex((f) => f.type === 'RST_STREAM');
      assert.ok(endAt !== -1 && rstAt > endAt, JSON.stringify(frames));
      assert.equal(frames[rstAt]?.errorCode, 8);
    } finally {
      sim.close();
      await sniffer.close();
      await server.close();
    }
  });

  for (const version of ['1.34', '1.37'] as EnvoyVersion[]) {
    it(`closes the stream ${version === '1.37' ? 'as soon as nothing is left to process' : 'when the exchange ends'} (${version})`, async () => {
      const server = await startProcessor(echo);
      const sim = new EnvoySim(server.target, { envoy_version: version, processing_mode: { response_header_mode: 'SKIP' }, message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
      try {
        // No race against a short bound: 1.37's close is awaited and must come while the upstream (2 s) is
        // still answering; 1.34's must not have reached the server when the exchange is over.
        let over = false;
        const pending = sim.exchange({ ...GET, upstream: { status: 200, delayMs: 2000 } }).finally(() => (over = true));
        if (version === '1.37') {
          await waitFor(() => server.calls[0]?.closed === true, 30_000);
          assert.equal(over, false, 'closed before the exchange ended');
        } else {
          await pending;
          assert.equal(server.calls[0]?.closed, false, 'still open when the exchange ended');
        }
        const result = await pending;
        assert.equal(result.outcome, 'passed');
        assert.equal(result.stats.streams_closed, 1);
      } finally {
        sim.close();
        await server.close();
      }
    });
  }

  it('shares one connection across exchanges, one stream each, and keeps cumulative stats', async () => {
    const server = await startProcessor(echo);
    const sniffer = await startSniffer(server.port);
    const sim = new EnvoySim(sniffer.target, { message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
    try {
      for (let i = 0; i < 3; i++) await sim.exchange(GET);
      const streams = new Set(sniffer.log.frames.filter((f) => f.type === 'HEADERS').map((f) => f.stream));
      assert.equal(streams.size, 3);
      assert.equal(sniffer.log.connections, 1);
      assert.equal(server.calls.length, 3);
      assert.equal(sim.stats.streams_started, 3);
      assert.equal(sim.stats.stream_msgs_sent, 6);
    } finally {
      sim.close();
      await sniffer.close();
      await server.close();
    }
  });
});
