/**
 * A TCP proxy for fault tests: forwards 127.0.0.1:<port> to a target port until told to hang. A hung
 * proxy keeps every socket open and answers nothing: what it receives is read and dropped, in both
 * directions, as a peer behind a dead NAT entry, a stuck load balancer or a paused VM would. Healing
 * forwards NEW connections again; the hung ones stay hung until their client gives up on them, so a
 * client that never abandons a connection never recovers.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './free-port.js';

export interface TcpProxy {
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Hung connections whose client has closed them. */
  abandoned(): number;
  /** Stops forwarding: open connections and new ones go silent. */
  hang(): void;
  /** New connections forward again; hung ones stay hung. */
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  let hung = false;
  let accepted = 0;
  let abandoned = 0;
  const pairs = new Set<{ client: Socket; upstream: Socket | null; hung: boolean }>();

  const silence = (pair: { client: Socket; upstream: Socket | null; hung: boolean }): void => {
    pair.hung = true;
    pair.client.unpipe();
    pair.upstream?.unpipe();
    pair.client.removeAllListeners('data');
    pair.client.on('data', () => undefined).resume();
    pair.upstream?.removeAllListeners('data');
    pair.upstream?.on('data', () => undefined).resume();
  };

  const server: Server = createServer((client) => {
    accepted++;
    const pair = { client, upstream: null as Socket | null, hung: false };
    pairs.add(pair);
    client.on('error', () => undefined);
    client.on('close', () => {
      if (pair.hung) abandoned++;
      pair.upstream?.destroy();
      pairs.delete(pair);
    });
    if (hung) {
      silence(pair);
      return;
    }
    const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
    pair.upstream = upstream;
    upstream.on('error', () => client.destroy());
    upstream.on('close', () => {
      if (!pair.hung) client.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });

  return {
    port,
    accepted: () => accepted,
    abandoned: () => abandoned,
    hang() {
      hung = true;
      for (const pair of pairs) silence(pair);
    },
    heal() {
      hung = false;
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
