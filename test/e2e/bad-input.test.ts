import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { until } from '../helpers/policy-files.js';
import { getRequest, headers, rawClient } from '../helpers/raw-client.js';
import type { TestVigil } from '../helpers/vigil.js';
import { startTestVigil } from '../helpers/vigil.js';

let vigil: TestVigil;
let client: ReturnType<typeof rawClient>;

before(async () => {
  vigil = await startTestVigil({ env: { VIGIL_MAX_STREAMS: '40', VIGIL_MAX_BODY_BYTES: '1024' } });
  client = rawClient(vigil.target);
});
after(async () => {
  client.close();
  await vigil.shutdown();
});

/** After every hostile case, vigil must still answer an ordinary request. */
async function stillServing(): Promise<void> {
  const s = client.open();
  s.send(getRequest());
  const [reply] = await s.waitReplies(1);
  assert.ok(reply?.request_headers, 'an ordinary request still gets a HeadersResponse');
  s.end();
  assert.equal((await s.status).code, grpc.status.OK);
}

test('undecodable bytes: the stream is closed with an error, vigil keeps serving', async () => {
  const s = client.open();
  s.send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]));
  const st = await s.status;
  assert.notEqual(st.code, grpc.status.OK);
  await stillServing();
});

test('a ProcessingRequest with no field set: INVALID_ARGUMENT, counted', async () => {
  const before = await vigil.metric('vigil_stream_errors_total', { kind: 'empty-message' });
  const s = client.open();
  s.send({});
  const st = await s.status;
  assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
  assert.match(st.details, /no request field set/);
  assert.equal(await vigil.metric('vigil_stream_errors_total', { kind: 'empty-message' }), before + 1);
  assert.equal(s.replies.length, 0, 'never an empty ProcessingResponse');
  await stillServing();
});

test('messages out of order: the first is answered, the second closes the stream with INVALID_ARGUMENT', async () => {
  const s = client.open();
  s.send(getRequest());
  s.send(getRequest());
  const st = await s.status;
  assert.equal(s.replies.length, 1);
  assert.ok(s.replies[0]?.request_headers);
  assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
  assert.match(st.details, /request_headers after request headers/);
  await stillServing();
});

test('64 KiB, binary and invalid UTF-8 header values and an absurd content-length are answered', async () => {
  const s = client.open();
  s.send(
    headers([
      [':method', 'POST'],
      [':path', '/upload/\xff\xfe%zz/../..//x'],
      [':authority', 'api.example'],
      ['x-huge', 'a'.repeat(64 * 1024)],
      ['x-binary', Buffer.from([0, 1, 2, 0xc3, 0x28, 0xff, 0x80])],
      ['x-api-key', Buffer.from([0xed, 0xa0, 0x80, 0x41])],
      ['content-length', '99999999999999999999999999'],
      ['x-jwt-payload', '!!!not-base64!!!'],
    ], false),
  );
  const [reply] = await s.waitReplies(1);
  assert.ok(reply?.request_headers, 'allowed with a HeadersResponse');
  // A body far past the cap, in chunks: every chunk answered, in order.
  for (let i = 0; i < 3; i++) s.send({ request_body: { body: Buffer.alloc(4096, i), end_of_stream: i === 2 } });
  const replies = await s.waitReplies(4);
  assert.deepEqual(replies.slice(1).map((r) => r.response), ['request_body', 'request_body', 'request_body']);
  s.end();
  assert.equal((await s.status).code, grpc.status.OK);
  assert.ok((await vigil.metric('vigil_input_problems_total', { kind: 'body-over-cap' })) >= 1);
  await stillServing();
});

test('more streams than VIGIL_MAX_STREAMS: the excess get RESOURCE_EXHAUSTED, the rest are served', async () => {
  const open = Array.from({ length: 60 }, () => client.open());
  for (const s of open) s.send(getRequest());
  const outcomes = await Promise.all(
    open.map(async (s) => {
      const winner = await Promise.race([s.waitReplies(1).then(() => 'reply'), s.status.then((st) => st.code)]);
      return winner;
    }),
  );
  const served = outcomes.filter((o) => o === 'reply').length;
  const refused = outcomes.filter((o) => o === grpc.status.RESOURCE_EXHAUSTED).length;
  assert.equal(served + refused, 60);
  assert.ok(served >= 1 && served <= 40, `served ${served}`);
  assert.ok(refused >= 20, `refused ${refused}`);
  for (const s of open) s.cancel();
  // The cancels reach vigil when they do: wait for the gauge to come down (a leak never does).
  await until('cancelled streams are released', async () => (await vigil.metric('vigil_streams_active')) === 0);
  await stillServing();
});

test('observability_mode messages get no reply at all', async () => {
  const s = client.open();
  s.send({ ...getRequest(), observability_mode: true });
  s.send({ response_headers: { headers: { headers: [{ key: ':status', raw_value: Buffer.from('200') }] }, end_of_stream: true }, observability_mode: true });
  // vigil handles a stream's messages in order and closes it only after them, so once the status is in,
  // any reply it was going to send has arrived.
  s.end();
  assert.equal((await s.status).code, grpc.status.OK);
  assert.equal(s.replies.length, 0);
});
