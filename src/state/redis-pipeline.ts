/**
 * Pipelines on a single Redis or a Redis Cluster. On a cluster, ioredis sends a pipeline to one node
 * only, so commands are grouped by the nodes that serve their key's slot (every key of one subject
 * shares the subject's hash tag, hence one slot): one pipeline per group, all sent at once, so a sync is
 * still one round trip in time (to each master in parallel). Replies come back in the order given, each
 * with its own error, so one node being away fails only the commands it serves.
 */
import type { ChainableCommander, Cluster, Redis } from 'ioredis';

export type Connection = Redis | Cluster;

export interface Queued {
  /** A key of the command (routing). */
  key: string;
  add(p: ChainableCommander): void;
}

export function isCluster(conn: Connection): conn is Cluster {
  return (conn as Cluster).isCluster === true;
}

export async function pipelined(conn: Connection, items: Queued[]): Promise<Array<[Error | null, unknown]>> {
  if (items.length === 0) return [];
  const groups = new Map<string, number[]>();
  if (isCluster(conn)) {
    items.forEach((item, i) => {
      const nodes = conn.slots[keySlot(item.key)];
      const group = nodes ? nodes.join(',') : '?';
      let list = groups.get(group);
      if (!list) groups.set(group, (list = []));
      list.push(i);
    });
  } else {
    groups.set('', items.map((_, i) => i));
  }
  const out: Array<[Error | null, unknown]> = new Array(items.length);
  await Promise.all(
    [...groups.values()].map(async (indexes) => {
      const p = conn.pipeline();
      for (const i of indexes) items[i]!.add(p);
      try {
        const replies = await p.exec();
        indexes.forEach((i, j) => {
          out[i] = replies?.[j] ?? [new Error('pipeline returned no reply'), null];
        });
      } catch (err) {
        for (const i of indexes) out[i] = [err as Error, null];
      }
    }),
  );
  return out;
}

/** Redis Cluster's hash slot of a key: CRC16 (XMODEM) of its hash tag (or the whole key) mod 16384. */
export function keySlot(key: string): number {
  const bytes = Buffer.from(key, 'utf8');
  let start = 0;
  let end = bytes.length;
  const open = bytes.indexOf(0x7b); // {
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1); // }
    if (close > open + 1) {
      start = open + 1;
      end = close;
    }
  }
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i]! << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
