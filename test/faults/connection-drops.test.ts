/**
 * Fault: the HTTP/2 connection from Envoy is dropped in silence. Node's HTTP/2 server answers too many
 * stream resets with a GOAWAY that nghttp2 sends by itself (docs/protocol.md §14); on Node 20 the
 * session is not told, stops reading, and stays open for good once the peer keeps its end. vigil now
 * watches its connections (src/extproc/connections.ts): every abnormal end is counted in
 * vigil_connection_drops_total{reason} and logged (once a minute per reason), and a session that no
 * longer answers pings is closed, so none is left behind.
 *
 * Raw HTTP/2 peers play the faults exactly; envoy-sim plays the reset limit itself (Node 20).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, test } from 'node:test';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import { compilePolicy } from '../../src/policy/load.js';
import { POLICY_EMPTY, until } from '../helpers/policy-files.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';

const PING_MS = 200;
let vigil: TestVigil | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await vigil?.shutdown();
  vigil = undefined;
});

/** vigil with no detectors: these tests are about connections, not decisions. */
const start = async () =>
  (vigil = await startTestVigil({ env: { VIGIL_CONNECTION_PING_MS: String(PING_MS) }, policy: compilePolicy(POLICY_EMPTY, 'empty.yaml') }));

/** An HTTP/2 frame: 9-byte header, then the payload. */
function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const SETTINGS = frame(0x4, 0, 0);
const SETTINGS_ACK = frame(0x4, 0x1, 0);
const goaway = (code: number) => {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(code, 4);
  return frame(0x7, 0, 0, p);
};

/** A raw HTTP/2 client: the preface and SETTINGS, then whatever the test sends; it never reads (so never answers a ping). */
async function rawPeer(v: TestVigil, ...then: Buffer[]): Promise<Socket> {
  const s = connect(v.grpcPort, '127.0.0.1');
  sockets.push(s);
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  s.write(Buffer.concat([PREFACE, SETTINGS, SETTINGS_ACK, ...then]));
  await until('vigil to see the connection', async () => (await v.metric('vigil_connections_total')) >= 1);
  return s;
}

const drops = (v: TestVigil, reason?: string) => v.metric('vigil_connection_drops_total', reason ? { reason } : {});
const warnings = (v: TestVigil) => v.logs.lines.filter((l) => l.level === 'warn' && String(l.kind).startsWith('connection-'));

test('a connection that stops answering pings is counted, logged once and closed: its socket is not left behind', async () => {
  const v = await start();
  const peers = [await rawPeer(v), await rawPeer(v)];
  assert.equal(await v.metric('vigil_connections_active'), 2);
  await until('both silent connections closed', async () => (await v.metric('vigil_connections_active')) === 0);
  assert.equal(await drops(v, 'unresponsive'), 2);
  assert.equal(await drops(v), 2, 'each connection counted once, by its first sign');
  const warns = warnings(v);
  assert.equal(warns.length, 1, 'one line for both (throttled per reason)');
  assert.equal(warns[0]!.reason, 'unresponsive');
  assert.match(String(warns[0]!.msg), /stopped answering pings/);
  // vigil closed them: reading at last, the peers find the end of the stream.
  for (const p of peers) {
    const ended = new Promise((r) => p.once('close', r));
    p.resume();
    await ended;
  }
});

test('a connection reset without GOAWAY is `lost`; a GOAWAY with an error code is `peer-goaway`; a graceful close counts nothing', async () => {
  const v = await start();
  const reset = await rawPeer(v);
  reset.resetAndDestroy();
  await until('the reset connection counted', async () => (await drops(v, 'lost')) === 1);

  await rawPeer(v, goaway(0x1)); // PROTOCOL_ERROR
  await until('the GOAWAY counted', async () => (await drops(v, 'peer-goaway')) === 1);

  const polite = await rawPeer(v, goaway(0x0));
  polite.end();
  await until('the graceful connection gone', async () => (await v.metric('vigil_connections_active')) === 0);
  await new Promise((r) => setTimeout(r, 3 * PING_MS)); // nothing further is counted for it
  assert.equal(await drops(v), 2);
  assert.deepEqual(warnings(v).map((l) => l.reason).sort(), ['lost', 'peer-goaway']);
});

test('envoy-sim through Node’s stream-reset limit: every exchange flows, and no dead connection stays open', async () => {
  const v = await start();
  const sim = new EnvoySim(v.target, { request_attributes: ['source.address'], failure_mode_allow: true, message_timeout_ms: 2000 });
  const failed: string[] = [];
  try {
    // Envoy's default close (END_STREAM, then RST_STREAM): one reset per exchange, past the burst of 1000.
    for (let i = 0; i < 200; i++) {
      const batch = await Promise.all(
        Array.from({ length: 8 }, (_, j) =>
          sim.exchange({ method: 'GET', path: `/api/items/${i}`, headers: [['x-api-key', `k${j}`]], sourceAddress: '203.0.113.5:1', upstream: { status: 200 } }),
        ),
      );
      for (const r of batch) if (r.client.status !== 200) failed.push(`${r.client.status} ${r.details ?? ''}`);
    }
    assert.deepEqual(failed, [], 'fail-open keeps every request flowing');
    // Whatever ended on the way (on Node 20 at least one connection does), only the live one is left.
    await until('only the live connection open', async () => (await v.metric('vigil_connections_active')) === 1, 10_000);
  } finally {
    sim.close();
  }
  const opened = await v.metric('vigil_connections_total');
  // Each replaced connection ended either announced by the peer's GOAWAY (a grpc-js client answers the
  // server's GOAWAY with its own) or counted; a leak would leave it open, which the line above rules out.
  assert.ok((await drops(v)) <= opened - 1, `${await drops(v)} drops of ${opened} connections`);
});
