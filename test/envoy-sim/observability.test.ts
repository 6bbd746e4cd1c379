/** envoy-sim conformance: observability mode, "send and go" (docs/envoy-ext-proc.md §2.9). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EnvoySim } from '../../src/envoy-sim/envoy-sim.js';
import { startProcessor, waitFor } from '../helpers/ext-proc-test-servers.js';

describe('envoy-sim: observability mode', () => {
  it('sends every configured part marked observability_mode, never waits and ignores the replies', async () => {
    // The server answers everything with a 403 immediate response: Envoy must ignore it.
    const server = await startProcessor(() => ({ immediate_response: { status: { code: 'Forbidden' } } }));
    const sim = new EnvoySim(server.target, {
      observability_mode: true,
      deferred_close_timeout_ms: 200,
      message_timeout_ms: 1,
      processing_mode: { request_body_mode: 'STREAMED', response_body_mode: 'BUFFERED' },
    });
    try {
      const result = await sim.exchange({
        method: 'POST',
        path: '/',
        body: [Buffer.from('ab'), Buffer.from('c')],
        // A slow upstream: the processor's replies arrive while the exchange is still open.
        upstream: { status: 200, body: Buffer.from('resp'), delayMs: 100 },
      });
      assert.equal(result.outcome, 'passed');
      assert.equal(result.client.status, 200);
      assert.equal(result.client.body.toString(), 'resp');
      assert.equal(result.upstreamRequest?.body.toString(), 'abc');
      assert.equal(result.stats.stream_msgs_sent, 4);
      assert.equal(result.stats.stream_msgs_received, 0);
      assert.equal(result.stats.spurious_msgs_received, 0);
      assert.equal(result.stats.message_timeouts, 0);
      // §2.2 deferred_close_timeout: the stream outlives the exchange.
      assert.equal(result.stats.streams_closed, 0);
      const call = server.calls[0];
      assert.ok(!call?.events.includes('cancelled'), 'closed before deferred_close_timeout');
      await sleep(40);
      assert.ok(!call?.events.includes('cancelled'), 'closed before deferred_close_timeout');
      await waitFor(() => call?.events.includes('cancelled') === true);
      assert.equal(sim.stats.streams_closed, 1);
      // BUFFERED bodies are not sent in observability mode; STREAMED ones are.
      assert.deepEqual(call?.events.slice(0, 4), ['request_headers', 'request_body', 'request_body', 'response_headers']);
      assert.ok(call?.received.every((r) => r.observability_mode === true && r.protocol_config === undefined));
    } finally {
      sim.close();
      await server.close();
    }
  });
});
