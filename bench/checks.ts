/**
 * The targets table: each check with what is required, what was measured and whether it is met. A
 * check whose scenario or target was not run, or whose metric vigil does not export yet, is "n/a".
 */
import { dec, int, med, ms, ms3, pct, runsOf } from './format.js';
import type { BenchReport, RunResult, TargetName } from './types.js';

export interface Check {
  what: string;
  required: string;
  measured: string;
  result: 'met' | 'not met' | 'n/a';
}

const SATURATION_VS_BARE: Partial<Record<TargetName, number>> = { 'vigil-redis': 0.85, 'vigil-memory': 0.9 };
const REDIS_CPU_US = 5;
const ROUND_TRIPS_PER_REQ = 0.05;
const ONE_IN_FLIGHT_MARGIN_MS = 0.2;
const HALF_BARE_P99_MS = 1;

const notRun = (what: string, required: string): Check => ({ what, required, measured: 'not run', result: 'n/a' });
const verdict = (ok: boolean): Check['result'] => (ok ? 'met' : 'not met');

/** Did the paced generator keep to its schedule? Said next to every paced figure a check relies on. */
export function pacingNote(runs: readonly RunResult[]): string {
  const offered = med(runs, (r) => r.paced?.offeredRps);
  const started = med(runs, (r) => r.paced?.startedRps);
  const late = med(runs, (r) => r.paced?.lateP99);
  if (!Number.isFinite(offered)) return '';
  const behind = started < offered * 0.98 || late > 0.1;
  return `; generator started ${int(started)} of ${int(offered)} req/s, p99 ${ms3(late)} ms late${behind ? ' — it fell behind, so this figure is not a fair test' : ''}`;
}

function saturationChecks(report: BenchReport): Check[] {
  const bare = med(runsOf(report, 'saturation', 'bare'), (r) => r.reqPerSec);
  const out: Check[] = [];
  for (const [name, share] of Object.entries(SATURATION_VS_BARE) as Array<[TargetName, number]>) {
    const what = `${name}: saturation throughput vs bare`;
    const required = `≥ ${share * 100} %`;
    const runs = runsOf(report, 'saturation', name);
    if (!runs) {
      out.push(notRun(what, required));
      continue;
    }
    const rate = med(runs, (r) => r.reqPerSec);
    out.push({ what, required, measured: `${pct(rate / bare)} (${int(rate)} vs ${int(bare)} req/s)`, result: verdict(rate / bare >= share) });
  }
  const redis = runsOf(report, 'saturation', 'vigil-redis');
  {
    const what = 'vigil-redis: requests allowed without a decision at saturation (fail-open)';
    const done = (redis ?? []).reduce((s, r) => s + r.done, 0);
    const failOpen = (redis ?? []).reduce((s, r) => s + (r.failOpen ?? 0), 0);
    out.push(redis ? { what, required: '0', measured: `${int(failOpen)} of ${int(done)} requests`, result: verdict(failOpen === 0) } : notRun(what, '0'));
  }
  {
    const what = 'vigil-redis: Redis CPU per request at saturation';
    const required = `≤ ${REDIS_CPU_US} µs`;
    const us = med(redis, (r) => r.redisCpuUsPerReq);
    out.push(redis ? { what, required, measured: `${dec(us, 1)} µs`, result: verdict(us <= REDIS_CPU_US) } : notRun(what, required));
  }
  {
    const what = 'vigil-redis: store round trips per request at saturation';
    const required = `≤ ${ROUND_TRIPS_PER_REQ}`;
    const cmds = med(redis, (r) => r.redisCmdsPerReq);
    const syncs = med(redis, (r) => r.syncPerReq);
    if (!redis) out.push(notRun(what, required));
    else if (!Number.isFinite(syncs)) {
      out.push({ what, required, measured: `n/a: vigil_store_sync_total is not on /metrics (Redis commands per request, counting those run inside scripts: ${dec(cmds, 2)})`, result: 'n/a' });
    } else {
      out.push({ what, required, measured: `${dec(syncs, 4)} sync round trips per request (Redis commands per request, counting those run inside scripts: ${dec(cmds, 3)})`, result: verdict(syncs <= ROUND_TRIPS_PER_REQ) });
    }
  }
  const pair = runsOf(report, 'saturation', 'vigil-redis-workers2');
  const floor = runsOf(report, 'saturation', 'bare-2proc');
  if (pair && floor) {
    const a = med(pair, (r) => r.reqPerSec);
    const b = med(floor, (r) => r.reqPerSec);
    const procs = report.processes['vigil-redis-workers2'] ?? 0;
    out.push({
      what: `vigil-redis-workers2: saturation throughput vs bare-2proc (for information${procs < 2 ? '; VIGIL_WORKERS was ignored: vigil ran as one process' : ''})`,
      required: `≥ ${(SATURATION_VS_BARE['vigil-redis'] ?? 0) * 100} %`,
      measured: `${pct(a / b)} (${int(a)} vs ${int(b)} req/s)`,
      result: verdict(a / b >= (SATURATION_VS_BARE['vigil-redis'] ?? 0)),
    });
  }
  return out;
}

function latencyChecks(report: BenchReport): Check[] {
  const out: Check[] = [];
  const bareOne = med(runsOf(report, 'closed-1', 'bare'), (r) => r.p99);
  for (const name of ['vigil-redis', 'vigil-memory'] as const) {
    const what = `${name}: p99 with 1 in flight${name === 'vigil-memory' ? ' (for information)' : ''}`;
    const limit = bareOne + ONE_IN_FLIGHT_MARGIN_MS;
    const required = `≤ bare's p99 + ${ONE_IN_FLIGHT_MARGIN_MS} ms (${ms(limit)} ms)`;
    const runs = runsOf(report, 'closed-1', name);
    const p99 = med(runs, (r) => r.p99);
    out.push(runs ? { what, required, measured: `${ms(p99)} ms (bare ${ms(bareOne)} ms)`, result: verdict(p99 <= limit) } : notRun(what, required));
  }
  for (const name of ['vigil-redis', 'vigil-memory', 'bare'] as const) {
    const note = name === 'vigil-memory' ? ' (for information)' : name === 'bare' ? ' (the floor, for context)' : '';
    const what = `${name}: p99 at ½ of bare's saturation rate (${int(report.halfBareRps)} req/s, even pacing)${note}`;
    const required = `≤ ${HALF_BARE_P99_MS} ms`;
    const runs = runsOf(report, 'half-bare', name);
    if (!runs) {
      out.push(notRun(what, required));
      continue;
    }
    const p99 = med(runs, (r) => r.p99);
    const capacity = med(runsOf(report, 'saturation', name), (r) => r.reqPerSec);
    const over = report.halfBareRps > capacity ? `; above its saturation rate of ${int(capacity)} req/s: overloaded` : '';
    out.push({ what, required, measured: `${ms(p99)} ms (achieved ${int(med(runs, (r) => r.reqPerSec))} req/s${over}${pacingNote(runs)})`, result: verdict(p99 <= HALF_BARE_P99_MS) });
  }
  return out;
}

export function checks(report: BenchReport): Check[] {
  return [...saturationChecks(report), ...latencyChecks(report)];
}

export function checkTable(report: BenchReport): string[] {
  const rows = ['| check | required | measured | result |', '|---|---|---|---|'];
  for (const c of checks(report)) rows.push(`| ${c.what} | ${c.required} | ${c.measured} | **${c.result}** |`);
  return rows;
}
