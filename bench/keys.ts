/**
 * The many-keys scenario on one target: requests spread evenly over N distinct API keys (the paced
 * generator sends payload i mod N), so every key's first request is a cold miss and the store's
 * eviction and sync work show. One closed-loop pass (one request per key), then a paced revisit of
 * the same keys from the first; the server's memory after a full GC (RSS and JS heap in use) and
 * Redis's used_memory, before and after, give the memory per active subject.
 */
import { measure, type MeasureCtx } from './measure.js';
import type { TargetHandle } from './targets.js';
import { TARGET_SPECS, type KeysOutcome, type Scenario } from './types.js';

export async function runManyKeys(ctx: MeasureCtx, target: TargetHandle, pass: Scenario, revisit: Scenario): Promise<KeysOutcome> {
  const redis = TARGET_SPECS[target.name].redis ? ctx.redis : null;
  const before = await target.memory();
  const redisMemBefore = redis ? await redis.usedMemory() : null;
  const passRun = await measure(ctx, target, pass);
  const revisitRun = await measure(ctx, target, revisit);
  const after = await target.memory();
  return {
    target: target.name,
    keys: pass.keys ?? 1,
    pass: passRun,
    revisit: revisitRun,
    rssBefore: before.rss,
    rssAfter: after.rss,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    redisMemBefore,
    redisMemAfter: redis ? await redis.usedMemory() : null,
    activeSubjects: Math.max(passRun.paced?.distinctPayloads ?? 0, revisitRun.paced?.distinctPayloads ?? 0),
  };
}
