/**
 * `npm run bench`: vigil's ext_proc server against its floor, under h2load, each in its own pinned
 * process. Prints the tables and writes docs/benchmarks.md. Method: docs/benchmarks.md ("Method").
 * `--quick` shortens every run and does not write the docs (for trying the bench out).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { projectRoot } from '../src/paths.js';
import { startRedis, type RedisServer } from '../test/helpers/redis-server.js';
import { h2loadVersion, runLoad, type LoadSpec } from './h2load.js';
import { clockTicks, cpuBusyUs, machineBusyCpus, machineInfo, processCpuUs } from './machine.js';
import { encodeBenchFrame } from './payload.js';
import { renderMarkdown, renderTables } from './report.js';
import { median } from './stats.js';
import { spawnTarget, type TargetHandle } from './targets.js';
import { TARGETS, type RunResult, type Scenario, type ScenarioOutcome, type TargetName } from './types.js';
import { checkOneExchange, counterSum, scrape } from './verify.js';

const quick = process.argv.includes('--quick');
const SATURATION_S = quick ? 2 : 8;
const LATENCY_S = quick ? 2 : 5;
const WARMUP_S = quick ? 1 : 3;
const DROP_MS = quick ? 500 : 1000;
const REPS = 3;
const VERIFY_REQUESTS = 2000;
/** A run in which other processes took more than this share of the server's CPU is redone … */
const MAX_INTERFERENCE = 0.1;
/** … at most this many times, and at most MAX_REDOS_TOTAL runs in all (keeps the bench under ~6 min). */
const MAX_REDOS = 2;
const MAX_REDOS_TOTAL = 8;

const QUIET_CPUS = 0.15;
const QUIET_WAIT_S = 120;

const log = (msg: string): void => console.error(`[bench] ${msg}`);

/** Other work on the machine skews every figure: wait (a while) for it to go quiet, and report it. */
async function waitForQuiet(cpus: number): Promise<number> {
  const deadline = Date.now() + QUIET_WAIT_S * 1000;
  for (;;) {
    const busy = await machineBusyCpus(2000, cpus);
    if (!(busy > QUIET_CPUS) || Date.now() > deadline) {
      if (busy > QUIET_CPUS) log(`the machine is still busy (${busy.toFixed(2)} CPUs of other work): measuring anyway, figures will be noisy`);
      return busy;
    }
    log(`other work is using ${busy.toFixed(2)} CPUs: waiting for the machine to go quiet (at most ${QUIET_WAIT_S} s)`);
  }
}

function hasTaskset(): boolean {
  const r = spawnSync('taskset', ['-p', String(process.pid)], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

async function pinRedis(redis: RedisServer, pinned: boolean): Promise<number> {
  const client = new Redis(redis.url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  try {
    const m = /process_id:(\d+)/.exec(await client.info('server'));
    const pid = m ? Number(m[1]) : NaN;
    if (pinned && Number.isFinite(pid)) spawnSync('taskset', ['-pc', '0', String(pid)], { stdio: 'ignore' });
    return pid;
  } finally {
    client.disconnect();
  }
}

interface Ctx {
  payloadFile: string;
  logFile: string;
  loadPin: string[];
  ticks: number;
  redisPid: number;
  pinned: boolean;
}

async function measure(ctx: Ctx, target: TargetHandle, s: Scenario): Promise<RunResult> {
  const spec: LoadSpec = {
    port: target.grpcPort,
    payloadFile: ctx.payloadFile,
    logFile: ctx.logFile,
    streams: s.streams,
    durationS: s.durationS,
    pin: ctx.loadPin,
    dropMs: DROP_MS,
    ...(s.rps !== undefined ? { rps: s.rps } : {}),
  };
  const withRedis = target.name === 'vigil-redis';
  const cpu0 = processCpuUs(target.pid, ctx.ticks);
  const core0 = cpuBusyUs(1, ctx.ticks);
  const redis0 = withRedis ? processCpuUs(ctx.redisPid, ctx.ticks) : NaN;
  const t0 = process.hrtime.bigint();
  const load = await runLoad(spec);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  const cpu = processCpuUs(target.pid, ctx.ticks) - cpu0;
  // With pinning, CPU 1 is the server's: whatever else ran there is interference.
  const otherOnServerCpu = ctx.pinned ? Math.max(0, cpuBusyUs(1, ctx.ticks) - core0 - cpu) / wallUs : NaN;
  const redisCpu = withRedis ? processCpuUs(ctx.redisPid, ctx.ticks) - redis0 : NaN;
  if (load.done === 0 || load.failed > 0) throw new Error(`${target.name} ${s.id}: ${load.done} done, ${load.failed} failed`);
  return { ...load, cpuUsPerReq: cpu / load.done, redisCpuUsPerReq: withRedis ? redisCpu / load.done : null, otherOnServerCpu };
}

/** Same bytes over node's HTTP/2 client, then h2load: every stream must be a counted decision. */
async function verify(ctx: Ctx, target: TargetHandle, frame: Buffer): Promise<void> {
  await checkOneExchange(target.grpcPort, frame);
  const text0 = target.adminPort ? await scrape(target.adminPort) : '';
  const before = target.adminPort ? counterSum(text0, 'vigil_decisions_total') : await target.answered();
  const allowed0 = counterSum(text0, 'vigil_decisions_total', 'action="allow"');
  const failOpen0 = counterSum(text0, 'vigil_fail_open_total');
  const streamErrors0 = counterSum(text0, 'vigil_stream_errors_total');
  const load = await runLoad({
    port: target.grpcPort,
    payloadFile: ctx.payloadFile,
    logFile: ctx.logFile,
    streams: 64,
    durationS: 0,
    requests: VERIFY_REQUESTS,
    pin: ctx.loadPin,
    dropMs: 0,
  });
  let after: number;
  let extra = '';
  if (target.adminPort) {
    const text = await scrape(target.adminPort);
    after = counterSum(text, 'vigil_decisions_total');
    const allowed = counterSum(text, 'vigil_decisions_total', 'action="allow"') - allowed0;
    const failOpen = counterSum(text, 'vigil_fail_open_total') - failOpen0;
    const streamErrors = counterSum(text, 'vigil_stream_errors_total') - streamErrors0;
    if (failOpen > 0 || streamErrors > 0 || allowed !== after - before) {
      throw new Error(`${target.name}: ${failOpen} fail-open, ${streamErrors} stream errors, ${after - before - allowed} non-allow decisions — the bench would not measure the full allow path`);
    }
    extra = `, all allow, 0 fail-open, 0 stream errors`;
  } else {
    after = await target.answered();
  }
  const counted = after - before;
  if (load.succeeded !== VERIFY_REQUESTS || load.status2xx < VERIFY_REQUESTS || counted !== VERIFY_REQUESTS) {
    throw new Error(`${target.name}: h2load ${load.succeeded}/${VERIFY_REQUESTS} succeeded (${load.status2xx} 2xx), server counted ${counted}`);
  }
  log(`${target.name}: verified — gRPC OK with a request_headers reply; h2load ${load.succeeded} 2xx = ${counted} server-side decisions${extra}`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const h2load = h2loadVersion();
  if (!h2load) {
    console.error('npm run bench needs h2load (nghttp2\'s HTTP/2 load generator) on PATH: apt-get install nghttp2-client');
    process.exit(2);
  }
  const cpus = Number(spawnSync('nproc', [], { encoding: 'utf8' }).stdout) || 1;
  const pinned = hasTaskset() && cpus >= 2;
  if (!pinned) log('taskset missing or fewer than 2 CPUs: processes are not pinned');
  const busyBefore = await waitForQuiet(cpus);
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  const frame = encodeBenchFrame();
  const ctx: Ctx = {
    payloadFile: join(dir, 'request.bin'),
    logFile: join(dir, 'h2load.log'),
    loadPin: pinned ? ['taskset', '-c', '0'] : [],
    ticks: clockTicks(),
    redisPid: NaN,
    pinned,
  };
  writeFileSync(ctx.payloadFile, frame);
  const serverPin = pinned ? ['taskset', '-c', '1'] : [];
  const env = { BENCH_POLICY: join(projectRoot, 'bench', 'bench-policy.yaml') };

  let redis: RedisServer | undefined;
  const targets = new Map<TargetName, TargetHandle>();
  try {
    redis = await startRedis();
    ctx.redisPid = await pinRedis(redis, pinned);
    for (const name of TARGETS) {
      const t = await spawnTarget(name, serverPin, name === 'vigil-redis' ? { ...env, BENCH_REDIS_URL: redis.url } : env);
      targets.set(name, t);
      log(`${name}: pid ${t.pid}, gRPC port ${t.grpcPort}`);
    }
    // Warm up first (JIT, Redis scripts, connections), then verify on the warm servers: the check is
    // that measured traffic takes the full allow path, not that a cold start never misses a deadline.
    const warm: Scenario = { id: 'warm-up', label: 'warm-up', streams: 64, durationS: WARMUP_S };
    for (const t of targets.values()) await measure(ctx, t, warm);
    log(`warmed up (${WARMUP_S} s closed loop, 64 in flight, per target)`);
    for (const t of targets.values()) await verify(ctx, t, frame);

    const outcomes: ScenarioOutcome[] = [];
    let redone = 0;
    const runScenario = async (s: Scenario): Promise<ScenarioOutcome> => {
      const runs = { bare: [], 'vigil-memory': [], 'vigil-redis': [] } as Record<TargetName, RunResult[]>;
      // Repetitions interleave the targets (A B C A B C …) so drift on a shared VM hits all alike.
      for (let rep = 1; rep <= REPS; rep++) {
        for (const t of targets.values()) {
          let r = await measure(ctx, t, s);
          // Another process on the server's CPU skews the run: redo it (a couple of times at most).
          for (let retry = 0; retry < MAX_REDOS && redone < MAX_REDOS_TOTAL && r.otherOnServerCpu > MAX_INTERFERENCE; retry++) {
            log(`${s.id} rep ${rep} ${t.name}: other processes took ${(r.otherOnServerCpu * 100).toFixed(0)} % of the server's CPU: redoing the run`);
            redone++;
            r = await measure(ctx, t, s);
          }
          runs[t.name].push(r);
          log(`${s.id} rep ${rep} ${t.name}: ${r.reqPerSec.toFixed(0)} req/s, p50/p99/p99.9 ${r.p50.toFixed(2)}/${r.p99.toFixed(2)}/${r.p999.toFixed(2)} ms, ${r.cpuUsPerReq.toFixed(0)} µs CPU/req`);
        }
      }
      const outcome = { scenario: s, runs };
      outcomes.push(outcome);
      return outcome;
    };

    const sat = await runScenario({ id: 'saturation', label: 'closed loop, 64 in flight (saturation)', streams: 64, durationS: SATURATION_S });
    const halfBareRps = Math.round(median(sat.runs.bare.map((r) => r.reqPerSec)) / 2);
    await runScenario({ id: 'half-bare', label: `paced ${halfBareRps.toLocaleString('en-US')} req/s (½ of bare saturation)`, streams: 256, durationS: LATENCY_S, rps: halfBareRps });
    await runScenario({ id: 'rps-1000', label: 'paced 1,000 req/s', streams: 256, durationS: LATENCY_S, rps: 1000 });
    await runScenario({ id: 'closed-1', label: 'closed loop, 1 in flight', streams: 1, durationS: LATENCY_S });
    await runScenario({ id: 'closed-4', label: 'closed loop, 4 in flight', streams: 4, durationS: LATENCY_S });

    const totals: string[] = [];
    for (const t of targets.values()) {
      if (!t.adminPort) continue;
      const text = await scrape(t.adminPort);
      const n = (name: string, filter?: string): string => counterSum(text, name, filter).toLocaleString('en-US');
      totals.push(
        `${t.name}: ${n('vigil_decisions_total')} decisions (${n('vigil_decisions_total', 'action="allow"')} allow), ` +
          `${n('vigil_fail_open_total')} fail-open (store deadline missed), ${n('vigil_stream_errors_total')} stream errors`,
      );
    }
    const report = {
      date: new Date().toISOString(),
      machine: machineInfo(pinned, h2load.replace(/^h2load\s+/, '')),
      payloadBytes: frame.length,
      outcomes,
      halfBareRps,
      elapsedS: (Date.now() - started) / 1000,
      totals,
      quick,
      busyBefore,
      redone,
    };
    console.log(renderTables(report));
    if (quick) log('--quick: docs/benchmarks.md not written');
    else {
      writeFileSync(join(projectRoot, 'docs', 'benchmarks.md'), renderMarkdown(report));
      log('wrote docs/benchmarks.md');
    }
    log(`done in ${report.elapsedS.toFixed(0)} s`);
  } finally {
    for (const t of targets.values()) await t.stop().catch(() => undefined);
    await redis?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`[bench] failed: ${String((err as Error)?.stack ?? err)}`);
  process.exitCode = 1;
});
