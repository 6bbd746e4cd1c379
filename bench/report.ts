/** Renders the bench results: tables for stdout, and the whole of docs/benchmarks.md. */
import { median, range } from './stats.js';
import { TARGETS, type BenchReport, type RunResult, type ScenarioOutcome, type TargetName } from './types.js';

const THROUGHPUT_TARGET = 0.85;
const P99_TARGET_MS = 2;

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
const pct = (n: number): string => (Number.isFinite(n) ? `${(n * 100).toFixed(1)} %` : '–');

function med(runs: RunResult[], pick: (r: RunResult) => number | null): number {
  return median(runs.map((r) => pick(r) ?? NaN));
}

function outcome(report: BenchReport, id: string): ScenarioOutcome {
  const o = report.outcomes.find((x) => x.scenario.id === id);
  if (!o) throw new Error(`no ${id} results`);
  return o;
}

interface Check {
  what: string;
  required: string;
  measured: string;
  met: boolean;
}

export function checks(report: BenchReport): Check[] {
  const sat = outcome(report, 'saturation');
  const half = outcome(report, 'half-bare');
  const bare = med(sat.runs.bare, (r) => r.reqPerSec);
  const out: Check[] = [];
  for (const name of ['vigil-redis', 'vigil-memory'] as const) {
    const rate = med(sat.runs[name], (r) => r.reqPerSec);
    out.push({
      what: `${name}: saturation throughput vs bare${name === 'vigil-memory' ? ' (for information)' : ''}`,
      required: `≥ ${THROUGHPUT_TARGET * 100} %`,
      measured: `${pct(rate / bare)} (${int(rate)} vs ${int(bare)} req/s)`,
      met: rate / bare >= THROUGHPUT_TARGET,
    });
  }
  for (const name of ['vigil-redis', 'vigil-memory', 'bare'] as const) {
    const p99 = med(half.runs[name], (r) => r.p99);
    const achieved = med(half.runs[name], (r) => r.reqPerSec);
    const capacity = med(sat.runs[name], (r) => r.reqPerSec);
    const overloaded = report.halfBareRps > capacity ? `; offered load above its saturation rate of ${int(capacity)} req/s: overloaded` : '';
    const note = name === 'vigil-memory' ? ' (for information)' : name === 'bare' ? ' (the floor under the same pacing, for context)' : '';
    out.push({
      what: `${name}: p99 at ½ of bare's saturation rate (${int(report.halfBareRps)} req/s offered)${note}`,
      required: `≤ ${P99_TARGET_MS} ms`,
      measured: `${ms(p99)} ms (achieved ${int(achieved)} req/s${overloaded})`,
      met: p99 <= P99_TARGET_MS,
    });
  }
  return out;
}

function saturationTable(report: BenchReport): string[] {
  const sat = outcome(report, 'saturation');
  const bare = med(sat.runs.bare, (r) => r.reqPerSec);
  const rows = [
    '| target | req/s, median [min–max] | vs bare | p50 / p99 / p99.9 ms | server µs CPU / req | Redis µs CPU / req |',
    '|---|---|---|---|---|---|',
  ];
  for (const name of TARGETS) {
    const runs = sat.runs[name];
    const rate = med(runs, (r) => r.reqPerSec);
    const [lo, hi] = range(runs.map((r) => r.reqPerSec));
    const redisCpu = med(runs, (r) => r.redisCpuUsPerReq);
    rows.push(
      `| ${name} | ${int(rate)} [${int(lo)}–${int(hi)}] | ${pct(rate / bare)} | ${ms(med(runs, (r) => r.p50))} / ${ms(med(runs, (r) => r.p99))} / ${ms(med(runs, (r) => r.p999))} | ` +
        `${int(med(runs, (r) => r.cpuUsPerReq))} | ${Number.isFinite(redisCpu) ? redisCpu.toFixed(1) : '–'} |`,
    );
  }
  return rows;
}

function latencyTable(report: BenchReport): string[] {
  const rows = [
    '| load | target | achieved req/s | arrivals per busy ms | p50 ms | p99 ms | p99.9 ms | max ms | server µs CPU / req |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const o of report.outcomes) {
    if (o.scenario.id === 'saturation') continue;
    for (const name of TARGETS) {
      const runs = o.runs[name];
      rows.push(
        `| ${o.scenario.label} | ${name} | ${int(med(runs, (r) => r.reqPerSec))} | ${med(runs, (r) => r.burst).toFixed(1)} | ${ms(med(runs, (r) => r.p50))} | ${ms(med(runs, (r) => r.p99))} | ` +
          `${ms(med(runs, (r) => r.p999))} | ${ms(med(runs, (r) => r.max))} | ${int(med(runs, (r) => r.cpuUsPerReq))} |`,
      );
    }
  }
  return rows;
}

function checkTable(report: BenchReport): string[] {
  const rows = ['| check | required | measured | result |', '|---|---|---|---|'];
  for (const c of checks(report)) rows.push(`| ${c.what} | ${c.required} | ${c.measured} | **${c.met ? 'met' : 'not met'}** |`);
  return rows;
}

/** What goes to stdout. */
export function renderTables(report: BenchReport): string {
  return [
    '',
    'Saturation throughput (closed loop, 1 connection, 64 streams in flight; median of 3):',
    ...saturationTable(report),
    '',
    'Latency (h2load --log-file, first second dropped; median of 3 reps of each figure):',
    ...latencyTable(report),
    '',
    'Targets:',
    ...checkTable(report),
    '',
    ...report.totals,
    `Interference: ${interference(report)}`,
    '',
  ].join('\n');
}

/** How much other work shared the machine: before the start, and on the server's CPU during the runs. */
function interference(report: BenchReport): string {
  const shares = report.outcomes.flatMap((o) => TARGETS.flatMap((t) => o.runs[t].map((r) => r.otherOnServerCpu)));
  const [, worst] = range(shares);
  const before = Number.isFinite(report.busyBefore) ? `${report.busyBefore.toFixed(2)} CPUs busy with other work just before the start` : 'machine load before the start unknown';
  const during = Number.isFinite(worst)
    ? `; other processes on the server's CPU during the runs: median ${pct(median(shares))}, worst run ${pct(worst)} of its time`
    : '';
  const redone = report.redone > 0 ? `; ${report.redone} run(s) redone because other processes took more than 10 % of the server's CPU` : '';
  return before + during + redone;
}

function targetLabel(name: TargetName): string {
  switch (name) {
    case 'bare':
      return '**bare** — a grpc-js server of the same `ExternalProcessor` service (same proto, same `@grpc/proto-loader` options) that answers every message at once with the matching empty reply (`request_headers` → `{request_headers: {}}`) and ends the stream when the client half-closes. The floor: per-request gRPC stream cost and nothing else.';
    case 'vigil-memory':
      return '**vigil-memory** — `startVigil` with the embedded memory store (no `REDIS_URL`).';
    case 'vigil-redis':
      return '**vigil-redis** — `startVigil` with `REDIS_URL` pointing at a `redis-server` the bench starts on a free port (no persistence).';
  }
}

export function renderMarkdown(report: BenchReport): string {
  const m = report.machine;
  const half = outcome(report, 'half-bare').scenario;
  const sat = outcome(report, 'saturation').scenario;
  const lat = outcome(report, 'rps-1000').scenario;
  return [
    '# vigil benchmarks',
    '',
    `_Generated by \`npm run bench\` on ${report.date.slice(0, 10)} (${report.date}); the bench took ${Math.round(report.elapsedS)} s. Do not edit by hand: run the bench again to refresh the figures._`,
    '',
    '## Targets',
    '',
    ...checkTable(report),
    '',
    '## Machine',
    '',
    `- CPUs: ${m.cpus} × ${m.cpuModel}; memory ${m.memory}; kernel ${m.kernel}`,
    `- Node ${m.node}; @grpc/grpc-js ${m.grpcJs}; @grpc/proto-loader ${m.protoLoader}; ioredis ${m.ioredis}; redis-server ${m.redis}; h2load ${m.h2load}`,
    `- Pinning: ${m.pinned ? 'server process on CPU 1 (`taskset -c 1`), h2load and redis-server on CPU 0 (`taskset -c 0`)' : 'none (taskset missing or a single CPU) — figures are not comparable with pinned runs'}`,
    '- Loopback only; no Envoy in the path.',
    `- Interference: ${interference(report)}.`,
    '',
    '## Method',
    '',
    'Three servers, each in its own Node process, so that load generator and server are separate processes as Envoy and vigil are:',
    '',
    ...TARGETS.map((t) => `- ${targetLabel(t)}`),
    '',
    'The load generator is h2load (nghttp2\'s C HTTP/2 client, the closest stand-in for Envoy\'s C++ gRPC client): one HTTP/2 connection, and one stream per simulated HTTP request, as Envoy opens one ext_proc stream per request. ' +
      `Every stream carries the same pre-encoded, gRPC-framed \`ProcessingRequest\` (${report.payloadBytes} bytes with the 5-byte prefix, encoded with the service's own serializer): ` +
      '`request_headers` with 12 browser/API-like headers in `raw_value` (`:method GET`, `:path /api/v1/orders/12345`, `:authority`, `:scheme`, `user-agent`, `accept`, `accept-encoding`, `accept-language`, `x-api-key`, `x-request-id`, `x-forwarded-proto`, `referer`), `end_of_stream: true`, and the `source.address` attribute (`203.0.113.7:50000`) under `envoy.filters.http.ext_proc`. ' +
      'That is Envoy\'s one-message exchange with `response_header_mode: SKIP` and no bodies.',
    '',
    'The bench policy (`bench/bench-policy.yaml`) has the default policy\'s endpoints and all ten of its detectors, one of every type. Every request carries the same API key, so thresholds that volume alone reaches (the rate detector\'s and the surge\'s `min_count`) are set out of reach: every request is an ordinary **allow** that still does the full request-phase work — header decoding, facts (identity, client IP, endpoint template), the endpoint rule, every detector\'s plan (rate baseline, enumeration, fan-out, scraping and the endpoint surge apply to this GET; the login detectors check and skip it), one state-store round trip with two batches (the identity\'s and the endpoint\'s: two EVALSHA pipelined on Redis), the decision and the reply. h2load sends request headers only, so the response phase (off the reply path by design) is not in these figures. All requests hit the same identity and endpoint, i.e. hot keys.',
    '',
    'Before measuring, each server is checked: the exact bytes h2load sends, sent once with Node\'s HTTP/2 client, must come back as HTTP 200, `grpc-status: 0` and one `ProcessingResponse` of the `request_headers` kind; then 2,000 requests through h2load must give 2,000 2xx and raise the server\'s own count by 2,000 (vigil: `vigil_decisions_total`, all `action="allow"`, with no fail-open and no stream errors). Each server then gets a ' +
      `${report.quick ? 'short' : '3 s'} warm-up at saturation.`,
    '',
    'Measurements (each repeated 3 times, the repetitions interleaving the three servers so that drift on a shared VM hits them alike; the **median** of the 3 is reported for every figure):',
    '',
    `- **Saturation throughput**: closed loop, \`-c 1 -m 64\` (64 streams in flight), ${sat.durationS} s per run.`,
    `- **Latency at fixed offered loads**: h2load \`--rps\` at half of the bare server's measured saturation rate (${int(report.halfBareRps)} req/s) and at 1,000 req/s, ${lat.durationS} s per run (\`-m 256\` so the stream cap never throttles arrivals). h2load paces with a coarse timer and starts the requests that are due in a burst (the \"arrivals per busy ms\" column: requests started per 1-ms slot that saw any start; 1.0 would be evenly spread), so these are bursty arrivals, not a Poisson process. Plus closed loops with 1 and 4 streams in flight.`,
    `- Request rate and latency percentiles (p50, p99, p99.9, max) are computed by the bench from h2load's \`--log-file\` (per-request start time and microseconds to the end of the response, i.e. to the gRPC trailers), after dropping requests started in the first ${report.quick ? '0.5' : '1'} s of each run. Latency is measured by the client, so it includes HTTP/2 framing on both sides and the loopback, but no Envoy.`,
    '- Interference: the machine is shared, so the bench waits (up to 2 minutes) for it to be quiet before starting, and a run during which other processes took more than 10 % of the server\'s CPU (CPU 1\'s busy time from `/proc/stat` minus the server\'s own) is redone, at most twice (and at most 8 runs in all); what remained is stated under Machine.',
    '- Server CPU per request: user + system time of the server process from `/proc/<pid>/stat` over the whole run, divided by the requests h2load completed; for vigil-redis the same for redis-server.',
    '',
    `The latency target is checked on the row "${half.label}".`,
    '',
    '## Saturation throughput',
    '',
    ...saturationTable(report),
    '',
    '## Latency',
    '',
    ...latencyTable(report),
    '',
    '## Server-side counters at the end of the run',
    '',
    ...report.totals.map((t) => `- ${t}`),
    '',
    '## Caveats',
    '',
    '- One machine, loopback, one h2load connection: a real deployment adds Envoy\'s ext_proc filter cost and, when not co-located, a network round trip.',
    '- All requests share one identity (one hot Redis key, one memory-store entry); many identities spread the work but do not change the number of round trips per request.',
    '- The bare server\'s saturation rate depends on how many responses share an HTTP/2 write on the one connection (its CPU per request falls when they coalesce), and on the 2-vCPU VM it can differ by tens of percent between runs of the same build; every ratio to bare is only as stable as that floor — see the min–max column.',
    '- h2load\'s `--rps` pacing releases the requests due in bursts (see "arrivals per busy ms"), so the paced rows measure bursty arrivals; even the bare floor has a multi-millisecond p99 under that pacing at high rates.',
    '- CPU per request falls as load rises (syscalls and HTTP/2 frames coalesce); use the saturation figure for capacity and the light-load figures for latency.',
    '',
  ].join('\n');
}
