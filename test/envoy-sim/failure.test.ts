/** failureOf: why an exchange got no answer from the ext_proc server, from what Envoy shows of it. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EnvoySim } from '../../src/envoy-sim/envoy-sim.js';
import { failureOf } from '../../src/envoy-sim/failure.js';
import { emptyStats, type SimResult } from '../../src/envoy-sim/types.js';
import { echo, simulate, unusedPort } from '../helpers/ext-proc-test-servers.js';

const GET = { method: 'GET', path: '/' };

const result = (over: Partial<SimResult>): SimResult => ({
  outcome: 'passed',
  client: { status: 200, headers: [], body: Buffer.alloc(0) },
  upstreamRequest: { headers: [[':path', '/x']], body: Buffer.alloc(0) },
  details: 'via_upstream',
  stats: emptyStats(),
  ...over,
});

describe('failureOf', () => {
  it('is null for an answered exchange, whatever the answer', async () => {
    assert.equal(failureOf((await simulate(echo, {}, GET)).result), null);
    assert.equal(failureOf(result({ outcome: 'immediate-response', details: 'vigil_throttle', upstreamRequest: null })), null);
  });

  for (const failOpen of [false, true]) {
    it(`names an unreachable server (failure_mode_allow ${failOpen})`, async () => {
      const sim = new EnvoySim(`127.0.0.1:${await unusedPort()}`, { failure_mode_allow: failOpen, message_timeout_ms: 60_000 });
      try {
        const why = failureOf(await sim.exchange(GET));
        assert.match(why ?? '', failOpen ? /the gRPC stream failed \(Envoy failed open\)/ : /no ext_proc server reachable there.*\(gRPC 14 UNAVAILABLE\)/);
      } finally {
        sim.close();
      }
    });
  }

  it('names a message timeout, a gRPC status, a spurious message and a reset', () => {
    assert.equal(failureOf(result({ stats: { ...emptyStats(), message_timeouts: 1, failure_mode_allowed: 1 } })), 'no answer within the message timeout');
    const local = (details: string) => result({ outcome: 'local-reply', details, upstreamRequest: null, client: { status: 500, headers: [], body: Buffer.alloc(0) } });
    assert.match(failureOf(local('ext_proc_error_gRPC_error_12')) ?? '', /does not implement ext_proc \(gRPC 12 UNIMPLEMENTED\)/);
    assert.match(failureOf(local('ext_proc_error_gRPC_error_13')) ?? '', /an ext_proc gRPC port and not an HTTP one\? \(gRPC 13 INTERNAL\)/);
    assert.match(failureOf(local('ext_proc_error_gRPC_error_7')) ?? '', /the stream failed \(gRPC 7 PERMISSION_DENIED\)/);
    assert.match(failureOf(local('spurious_message')) ?? '', /local reply 500 \(spurious_message\)/);
    assert.equal(failureOf(result({ stats: { ...emptyStats(), spurious_msgs_received: 1 } })), 'a reply Envoy did not expect (spurious message)');
    assert.equal(failureOf(result({ outcome: 'reset', upstreamRequest: null })), 'the exchange was reset');
  });
});
