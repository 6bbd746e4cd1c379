/**
 * One measured run: a load generator (h2load or the paced one) against one target, with the server's
 * CPU, Redis's CPU and command count, vigil's counters and the interference on the server's CPU read
 * before and after.
 */
import { runLoad, type LoadResult } from './h2load.js';
import { cpuBusyUs } from './machine.js';
import { runPaced } from './paced-run.js';
import type { PacedStats } from './paced-summary.js';
import { treeCpuUs } from './process-tree.js';
import type { RedisProbe } from './redis-probe.js';
import type { TargetHandle } from './targets.js';
import { TARGET_SPECS, type RunResult, type Scenario } from './types.js';
import { readCounters, scrape, type VigilCounters } from './vigil-metrics.js';

export interface MeasureCtx {
  /** The one hot-key request, and the many-keys payloads (written when that scenario runs). */
  payloadFile: string;
  keysFile: string;
  logFile: string;
  /** taskset prefix of the load generators (CPU 0 when pinned). */
  loadPin: string[];
  ticks: number;
  redis: RedisProbe | null;
  /** The server owns CPU 1 (single-process targets, pinned). */
  pinned: boolean;
  dropMs: number;
}

async function counters(target: TargetHandle): Promise<VigilCounters | null> {
  return target.adminPort ? readCounters(await scrape(target.adminPort)) : null;
}

async function generate(ctx: MeasureCtx, target: TargetHandle, s: Scenario): Promise<LoadResult & { paced: PacedStats | null }> {
  const connections = TARGET_SPECS[target.name].connections;
  const payloadFile = s.keys ? ctx.keysFile : ctx.payloadFile;
  if (s.generator === 'h2load') {
    if (s.keys || s.rps !== undefined) throw new Error(`${s.id}: h2load runs closed loops with the one hot key only`);
    const load = await runLoad({
      port: target.grpcPort, payloadFile, logFile: ctx.logFile, connections, streams: s.streams,
      durationS: s.durationS, pin: ctx.loadPin, dropMs: ctx.dropMs,
      ...(s.requests !== undefined ? { requests: s.requests } : {}),
    });
    return { ...load, paced: null };
  }
  const r = await runPaced(
    {
      port: target.grpcPort, payloadFile, connections, durationS: s.durationS, dropMs: ctx.dropMs,
      ...(s.rps !== undefined ? { rate: s.rps } : { streams: s.streams }),
      ...(s.requests !== undefined ? { requests: s.requests } : {}),
    },
    ctx.loadPin,
  );
  const { offeredRps, startedRps, lateP50, lateP99, lateMax, generatorCpu, distinctPayloads, ...load } = r;
  return { ...load, paced: { offeredRps, startedRps, lateP50, lateP99, lateMax, generatorCpu, distinctPayloads } };
}

export async function measure(ctx: MeasureCtx, target: TargetHandle, s: Scenario): Promise<RunResult> {
  const spec = TARGET_SPECS[target.name];
  const redis = spec.redis ? ctx.redis : null;
  const owned = ctx.pinned && spec.processes === 1;
  const c0 = await counters(target);
  const cmds0 = redis ? await redis.commands() : NaN;
  const redis0 = redis ? redis.cpuUs() : NaN;
  const cpu0 = treeCpuUs(target.pids, ctx.ticks);
  const core0 = cpuBusyUs(1, ctx.ticks);
  const t0 = process.hrtime.bigint();
  const load = await generate(ctx, target, s);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  const cpu = treeCpuUs(target.pids, ctx.ticks) - cpu0;
  // With pinning, CPU 1 is the one-process server's: whatever else ran there is interference.
  const otherOnServerCpu = owned ? Math.max(0, cpuBusyUs(1, ctx.ticks) - core0 - cpu) / wallUs : NaN;
  const redisCpu = redis ? redis.cpuUs() - redis0 : NaN;
  const cmds = redis ? (await redis.commands()) - cmds0 : NaN;
  const c1 = await counters(target);
  if (load.done === 0 || load.failed > 0) throw new Error(`${target.name} ${s.id}: ${load.done} done, ${load.failed} failed`);
  const perReq = (n: number): number => n / load.done;
  return {
    ...load,
    cpuUsPerReq: perReq(cpu),
    redisCpuUsPerReq: redis ? perReq(redisCpu) : null,
    redisCmdsPerReq: redis ? perReq(cmds) : null,
    syncPerReq: c0?.syncs != null && c1?.syncs != null ? perReq(c1.syncs - c0.syncs) : null,
    failOpen: c0 && c1 ? c1.failOpen - c0.failOpen : null,
    otherOnServerCpu,
  };
}
