/** The report's figure tables (markdown), shared by stdout and docs/benchmarks.md. */
import { dec, int, med, mib, ms, ms3, pct, procs, runsOf } from './format.js';
import { range } from './stats.js';
import { TARGETS, type BenchReport, type RunResult } from './types.js';

const bytes = (n: number): string => (Number.isFinite(n) ? `${int(n)} B` : '–');
const perReq = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
/** A per-request figure that needs a metric vigil may not export yet: "n/a" when it is missing. */
const optional = (runs: RunResult[], pick: (r: RunResult) => number | null, digits: number): string => {
  const v = med(runs, pick);
  return Number.isFinite(v) ? v.toFixed(digits) : runs.some((r) => pick(r) === null) ? 'n/a' : '–';
};

export function saturationTable(report: BenchReport): string[] {
  const bare = med(runsOf(report, 'saturation', 'bare'), (r) => r.reqPerSec);
  const rows = [
    '| target | processes | req/s, median [min–max] | vs bare | p50 / p99 / p99.9 ms | server µs CPU / req | Redis µs CPU / req | Redis commands / req (with those inside scripts) | store sync round trips / req | fail-open |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const name of TARGETS) {
    const runs = runsOf(report, 'saturation', name);
    if (!runs) continue;
    const rate = med(runs, (r) => r.reqPerSec);
    const [lo, hi] = range(runs.map((r) => r.reqPerSec));
    const redis = runs[0]!.redisCpuUsPerReq !== null;
    const failOpen = runs[0]!.failOpen === null ? '–' : int(runs.reduce((s, r) => s + (r.failOpen ?? 0), 0));
    rows.push(
      `| ${name} | ${procs(report.processes[name])} | ${int(rate)} [${int(lo)}–${int(hi)}] | ${pct(rate / bare)} | ` +
        `${ms(med(runs, (r) => r.p50))} / ${ms(med(runs, (r) => r.p99))} / ${ms(med(runs, (r) => r.p999))} | ${int(med(runs, (r) => r.cpuUsPerReq))} | ` +
        `${perReq(med(runs, (r) => r.redisCpuUsPerReq), 1)} | ${perReq(med(runs, (r) => r.redisCmdsPerReq), 3)} | ${redis ? optional(runs, (r) => r.syncPerReq, 4) : '–'} | ${failOpen} |`,
    );
  }
  return rows;
}

export function latencyTable(report: BenchReport): string[] {
  const rows = [
    '| load | target | generator | offered → started req/s | achieved req/s | arrivals per busy ms | p50 ms | p99 ms | p99.9 ms | max ms | start lateness p99 / max ms | server µs CPU / req |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const o of report.outcomes) {
    if (o.scenario.id === 'saturation') continue;
    for (const name of TARGETS) {
      const runs = o.runs[name];
      if (!runs?.length) continue;
      const paced = o.scenario.generator === 'paced';
      const offered = paced ? `${int(med(runs, (r) => r.paced?.offeredRps))} → ${int(med(runs, (r) => r.paced?.startedRps))}` : '–';
      const late = paced ? `${ms3(med(runs, (r) => r.paced?.lateP99))} / ${ms3(med(runs, (r) => r.paced?.lateMax))}` : '–';
      rows.push(
        `| ${o.scenario.label} | ${name} | ${paced ? 'paced' : 'h2load'} | ${offered} | ${int(med(runs, (r) => r.reqPerSec))} | ${dec(med(runs, (r) => r.burst), 1)} | ` +
          `${ms(med(runs, (r) => r.p50))} | ${ms(med(runs, (r) => r.p99))} | ${ms(med(runs, (r) => r.p999))} | ${ms(med(runs, (r) => r.max))} | ${late} | ${int(med(runs, (r) => r.cpuUsPerReq))} |`,
      );
    }
  }
  return rows;
}

/** A per-request figure over several runs, weighted by their requests (null when any run lacks it). */
function weighted(runs: RunResult[], pick: (r: RunResult) => number | null, digits: number): string {
  if (runs.some((r) => pick(r) === null)) return 'n/a';
  const done = runs.reduce((s, r) => s + r.done, 0);
  return perReq(runs.reduce((s, r) => s + pick(r)! * r.done, 0) / done, digits);
}

export function keysTable(report: BenchReport): string[] {
  if (!report.keys.length) return ['(not run)'];
  const rows = [
    '| target | keys sent | pass req/s | pass p50 / p99 / p99.9 ms | pass generator CPU | revisit at ½ bare: achieved req/s | revisit p50 / p99 / p99.9 ms | server RSS before → after | RSS growth per active subject | JS heap growth per active subject | Redis memory per subject | Redis commands / req (with those inside scripts) | store sync round trips / req | fail-open |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const k of report.keys) {
    const both = [k.pass, k.revisit];
    const perSubject = (k.rssAfter - k.rssBefore) / k.activeSubjects;
    const redisPer = k.redisMemAfter !== null && k.redisMemBefore !== null ? bytes((k.redisMemAfter - k.redisMemBefore) / k.activeSubjects) : '–';
    const redis = k.pass.redisCpuUsPerReq !== null;
    const failOpen = k.pass.failOpen === null ? '–' : int(both.reduce((s, r) => s + (r.failOpen ?? 0), 0));
    rows.push(
      `| ${k.target} | ${int(k.activeSubjects)} of ${int(k.keys)} | ${int(k.pass.reqPerSec)} | ${ms(k.pass.p50)} / ${ms(k.pass.p99)} / ${ms(k.pass.p999)} | ${pct(k.pass.paced?.generatorCpu ?? NaN)} | ` +
        `${int(k.revisit.reqPerSec)} | ${ms(k.revisit.p50)} / ${ms(k.revisit.p99)} / ${ms(k.revisit.p999)} | ${mib(k.rssBefore)} → ${mib(k.rssAfter)} | ${int(perSubject)} B | ${bytes((k.heapAfter - k.heapBefore) / k.activeSubjects)} | ${redisPer} | ` +
        `${redis ? weighted(both, (r) => r.redisCmdsPerReq, 3) : '–'} | ${redis ? weighted(both, (r) => r.syncPerReq, 4) : '–'} | ${failOpen} |`,
    );
  }
  return rows;
}
