/**
 * withDeadline (src/state/deadline.ts): a reply that arrived while vigil's event loop was stalled past
 * the deadline wins over the deadline; a call that is really unanswered is rejected. The stall is a
 * synchronous busy wait, the reply a real socket's bytes that reached the kernel before the stall.
 */
import assert from 'node:assert/strict';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { withDeadline } from '../../src/state/deadline.js';

let server: Server;
let serverSide: Socket;
let client: Socket;

before(async () => {
  const accepted = new Promise<Socket>((resolve) => {
    server = createServer((s) => resolve(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  client = createConnection({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  serverSide = await accepted;
});
after(async () => {
  client.destroy();
  serverSide.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A reply from the peer, which is written (into the kernel) at once. */
function replyArriving(): Promise<string> {
  const got = new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())));
  serverSide.write('pong');
  return got;
}

/** Blocks the event loop, as a CPU-starved process is blocked. */
function stall(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // busy: nothing else runs
  }
}

const timeoutError = () => new Error('deadline');

test('a reply that arrived during a stall of the event loop past the deadline is taken, not timed out', async () => {
  const call = withDeadline(replyArriving(), 20, timeoutError);
  stall(150);
  assert.equal(await call, 'pong');
});

test('a plain timer race, in the same situation, blames the peer (why withDeadline exists)', async () => {
  let timer: NodeJS.Timeout | undefined;
  const plain = Promise.race([
    replyArriving(),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeoutError()), 20);
    }),
  ]);
  stall(150);
  await assert.rejects(plain, /deadline/);
  clearTimeout(timer);
  // Let the reply's bytes be read, so the next test starts clean.
  await new Promise((r) => setImmediate(r));
});

test('an unanswered call is rejected at its deadline, with the given error', async () => {
  await assert.rejects(withDeadline(new Promise<never>(() => undefined), 20, timeoutError), /deadline/);
});

test('a call that settles first is not touched by the deadline, and its error is its own', async () => {
  assert.equal(await withDeadline(Promise.resolve(7), 20, timeoutError), 7);
  await assert.rejects(withDeadline(Promise.reject(new Error('own')), 20, timeoutError), /own/);
});
