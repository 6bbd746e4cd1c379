import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import type { ProcessingMode, SimFilterConfig } from '../../src/envoy-sim/index.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';

/**
 * envoy-sim (playing Envoy, fail-closed so any protocol slip shows) against vigil itself, in every
 * processing mode vigil supports: each exchange must pass through unmodified, with no spurious
 * message, no timeout and no rejected mutation.
 */
let vigil: TestVigil;
before(async () => {
  vigil = await startTestVigil();
});
after(async () => vigil.shutdown());

const SEND = 'SEND';
const modes: Array<[string, ProcessingMode]> = [
  ['headers only (default)', {}],
  ['request headers only', { response_header_mode: 'SKIP' }],
  ['BUFFERED bodies both ways', { request_body_mode: 'BUFFERED', response_body_mode: 'BUFFERED' }],
  ['STREAMED bodies both ways', { request_body_mode: 'STREAMED', response_body_mode: 'STREAMED' }],
  ['BUFFERED_PARTIAL bodies', { request_body_mode: 'BUFFERED_PARTIAL', response_body_mode: 'BUFFERED_PARTIAL' }],
  ['trailers both ways', { request_body_mode: 'STREAMED', request_trailer_mode: SEND, response_trailer_mode: SEND }],
  ['request header SKIP, response body STREAMED', { request_header_mode: 'SKIP', response_body_mode: 'STREAMED' }],
];

for (const version of ['1.34', '1.37'] as const) {
  for (const [name, processing_mode] of modes) {
    test(`Envoy ${version}, ${name}: passes through unmodified`, async () => {
      const config: SimFilterConfig = { processing_mode, envoy_version: version, failure_mode_allow: false, request_attributes: ['source.address'], message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS };
      const sim = new EnvoySim(vigil.target, config);
      try {
        const body = [Buffer.from('{"user":"ann",'), Buffer.from('"password":"x"}')];
        const r = await sim.exchange({
          method: 'POST',
          path: '/api/login',
          headers: [['content-type', 'application/json'], ['content-length', String(body[0]!.length + body[1]!.length)]],
          body,
          trailers: [['x-checksum', 'abc']],
          sourceAddress: '192.0.2.10:5555',
          upstream: { status: 201, headers: [['content-type', 'application/json']], body: [Buffer.from('{"ok":'), Buffer.from('true}')], trailers: [['grpc-status', '0']] },
        });
        assert.equal(r.outcome, 'passed', r.details);
        assert.equal(r.client.status, 201);
        assert.equal(r.client.body.toString(), '{"ok":true}');
        assert.equal(r.upstreamRequest?.body.toString(), '{"user":"ann","password":"x"}');
        assert.equal(r.stats.spurious_msgs_received, 0);
        assert.equal(r.stats.message_timeouts, 0);
        assert.equal(r.stats.rejected_header_mutations, 0);
        assert.equal(r.stats.streams_failed, 0);
        assert.equal(r.stats.stream_msgs_received, r.stats.stream_msgs_sent, 'exactly one reply per message');
      } finally {
        sim.close();
      }
    });
  }
}

test('observability mode: vigil never answers, the exchange is not delayed', async () => {
  const sim = new EnvoySim(vigil.target, { observability_mode: true, deferred_close_timeout_ms: 50 });
  try {
    const r = await sim.exchange({ method: 'GET', path: '/x', sourceAddress: '192.0.2.10:5555' });
    assert.equal(r.outcome, 'passed');
    assert.equal(r.stats.stream_msgs_received, 0);
  } finally {
    sim.close();
  }
});
