/** The "Machine" and "Method" sections of docs/benchmarks.md: how every figure was taken. */
import { int, pct, procs } from './format.js';
import { BENCH_HELP } from './options.js';
import { median, range } from './stats.js';
import { TARGETS, type BenchReport, type TargetName } from './types.js';

function targetLabel(name: TargetName): string {
  switch (name) {
    case 'bare':
      return '**bare** — a grpc-js server of the same `ExternalProcessor` service (same proto, same `@grpc/proto-loader` options) that answers every message at once with the matching empty reply (`request_headers` → `{request_headers: {}}`) and ends the stream when the client half-closes. The floor: per-request gRPC stream cost and nothing else.';
    case 'vigil-memory':
      return '**vigil-memory** — `startVigil` with the embedded memory store (no `REDIS_URL`).';
    case 'vigil-redis':
      return '**vigil-redis** — `startVigil` with `REDIS_URL` pointing at a `redis-server` the bench starts on a free port (no persistence), default `VIGIL_SYNC_MS`.';
    case 'bare-2proc':
      return '**bare-2proc** — two bare servers in two processes sharing one listening port through `node:cluster` (the primary hands out connections in turn): the floor for two vigil workers.';
    case 'vigil-redis-workers2':
      return '**vigil-redis-workers2** — `vigil serve` (as deployed, settings from the environment) with `VIGIL_WORKERS=2` and the same Redis; the bench reads the process tree once it serves and says below how many processes there were (one means vigil ignored the setting).';
  }
}

/** How much other work shared the machine: before the start, and on the server's CPU during the runs. */
export function interference(report: BenchReport): string {
  const shares = report.outcomes.flatMap((o) => TARGETS.flatMap((t) => (o.runs[t] ?? []).map((r) => r.otherOnServerCpu)));
  const [, worst] = range(shares);
  const before = Number.isFinite(report.busyBefore) ? `${report.busyBefore.toFixed(2)} CPUs busy with other work just before the start` : 'machine load before the start unknown';
  const during = Number.isFinite(worst)
    ? `; other processes on the server's CPU during the one-process runs: median ${pct(median(shares))}, worst run ${pct(worst)} of its time`
    : '';
  const redone = report.redone > 0 ? `; ${report.redone} run(s) redone because other processes took more than 10 % of the server's CPU` : '';
  return before + during + redone;
}

function processes(report: BenchReport): string {
  return TARGETS.filter((t) => report.processes[t] !== undefined)
    .map((t) => {
      const n = report.processes[t]!;
      const ignored = t === 'vigil-redis-workers2' && n < 2 ? ' — VIGIL_WORKERS=2 was ignored, so this target ran as one process and its rows measure one process' : '';
      return `${t} ${procs(n)}${ignored}`;
    })
    .join('; ');
}

export function machineSection(report: BenchReport): string[] {
  const m = report.machine;
  return [
    `- CPUs: ${m.cpus} × ${m.cpuModel}; memory ${m.memory}; kernel ${m.kernel}`,
    `- Node ${m.node}; @grpc/grpc-js ${m.grpcJs}; @grpc/proto-loader ${m.protoLoader}; ioredis ${m.ioredis}; redis-server ${m.redis}; h2load ${m.h2load}`,
    m.pinned
      ? '- Pinning: one-process servers on CPU 1 (`taskset -c 1`); the load generator (h2load or the paced one) and redis-server on CPU 0 (`taskset -c 0`). ' +
        'The two-process targets (bare-2proc, vigil-redis-workers2) may use both CPUs (`taskset -c 0,1`): on this 2-CPU machine their server processes share the CPUs with the load generator and with redis-server, so they measure what a second process buys when nothing is left over for the client. Compare them with each other, not with the one-process rows. ' +
        'The paced generator spins on CPU 0 between starts (see Method), so redis-server competes with it for CPU 0.'
      : '- Pinning: none (taskset missing or a single CPU) — figures are not comparable with pinned runs',
    `- Processes per target (the spawned process and its descendants, once serving): ${processes(report)}`,
    '- Loopback only; no Envoy in the path.',
    `- Interference: ${interference(report)}.`,
  ];
}

export function methodSection(report: BenchReport): string[] {
  const sat = report.outcomes.find((o) => o.scenario.id === 'saturation')?.scenario;
  const lat = report.outcomes.find((o) => o.scenario.id !== 'saturation')?.scenario;
  const dropS = report.quick ? '0.5' : '1';
  return [
    'Each server runs in its own Node process, so that load generator and server are separate processes as Envoy and vigil are:',
    '',
    ...TARGETS.map((t) => `- ${targetLabel(t)}`),
    '',
    `Every stream carries a pre-encoded, gRPC-framed \`ProcessingRequest\` (${report.payloadBytes} bytes with the 5-byte prefix, encoded with the service's own serializer): ` +
      '`request_headers` with 12 browser/API-like headers in `raw_value` (`:method GET`, `:path /api/v1/orders/12345`, `:authority`, `:scheme`, `user-agent`, `accept`, `accept-encoding`, `accept-language`, `x-api-key`, `x-request-id`, `x-forwarded-proto`, `referer`), `end_of_stream: true`, and the `source.address` attribute (`203.0.113.7:50000`) under `envoy.filters.http.ext_proc`. ' +
      'That is Envoy\'s one-message exchange with `response_header_mode: SKIP` and no bodies; one stream per simulated HTTP request, as Envoy opens one ext_proc stream per request.',
    '',
    'The bench policy (`bench/bench-policy.yaml`) has the default policy\'s endpoints and all ten of its detectors, one of every type. Thresholds that volume alone reaches (the rate detector\'s and the surge\'s `min_count`) are set out of reach: every request is an ordinary **allow** that still does the full request-phase work — header decoding, facts (identity, client IP, endpoint template), the endpoint rule, every detector\'s plan (rate baseline, enumeration, fan-out, scraping and the endpoint surge apply to this GET; the login detectors check and skip it), the state store (two subjects: the identity and the endpoint), the decision and the reply. The response phase (off the reply path by design) is not in these figures. Except in the many-keys scenario, every request carries the same API key: one hot identity and one hot endpoint.',
    '',
    'Two load generators, each in its own process on CPU 0:',
    '',
    '- **h2load** (nghttp2\'s C HTTP/2 client, the closest stand-in for Envoy\'s C++ gRPC client) for the closed loops: saturation and 1 or 4 in flight. Its `--rps` pacing is not used: it starts the requests that fell due in bursts off a coarse timer, which gives even the bare floor a multi-millisecond p99.',
    '- **the paced generator** (`bench/paced.ts`, Node\'s `node:http2` client) for fixed offered rates and the many-keys scenario. Request *i* starts at t0 + *i*/rate: the generator spins on the monotonic high-resolution clock (`performance.now()`), yielding to the event loop between checks so responses are read within microseconds (gaps over 2 ms sleep on a timer and wake 1.5 ms early); it runs with a 64 MiB young generation so that its own garbage collections are rare. At most 1,024 streams are open at once: against an overloaded server, starts wait for that and count as late. It records every request\'s scheduled and actual start and its latency to the end of the response (the gRPC trailers), and counts a request as answered only with HTTP 200 and `grpc-status 0`. Its own fitness is reported with every paced row: offered vs started rate and how late starts were against the schedule (p99 and max). A row where it started fewer than 98 % of the offered requests or was more than 0.1 ms late at p99 is flagged in the targets table. Without a rate it runs a closed loop (the many-keys pass), and reports its own CPU use so a generator-bound pass shows.',
    '- The two-process targets get two HTTP/2 connections (h2load `-c 2`, half the streams on each; the paced generator alternates requests between them), because `node:cluster` hands each connection to one process.',
    '',
    'Before measuring, each server is checked: the exact bytes the generators send, sent once with Node\'s HTTP/2 client, must come back as HTTP 200, `grpc-status: 0` and one `ProcessingResponse` of the `request_headers` kind; then 2,000 requests through h2load must give 2,000 2xx and raise the server\'s own count by 2,000 (vigil: `vigil_decisions_total`, all `action="allow"`, with no fail-open and no stream errors; a multi-process vigil whose `/metrics` covers only one process is reported, not failed). Each server then gets a ' +
      `${report.quick ? 'short' : '3 s'} warm-up at saturation.`,
    '',
    report.reps === 1
      ? 'Measurements (each run once; figures of a single run are noisier than the medians of a full run):'
      : `Measurements (each repeated ${report.reps} times, the repetitions interleaving the servers so that drift on a shared VM hits them alike; the **median** is reported for every figure):`,
    '',
    `- **Saturation throughput**: h2load closed loop, 64 streams in flight, ${sat?.durationS ?? '–'} s per run.`,
    `- **Latency at fixed offered loads**: the paced generator at half of the bare server's measured saturation rate (${int(report.halfBareRps)} req/s) and at 1,000 req/s; h2load closed loops with 1 and 4 streams in flight; ${lat?.durationS ?? '–'} s per run. "Arrivals per busy ms" is the number of requests started per 1-ms slot that saw any start: even pacing gives max(1, rate/1000).`,
    `- **Many API keys**: the same request with ${report.keys[0] ? int(report.keys[0].keys) : 'N'} distinct \`x-api-key\` values, pre-encoded, request *i* carrying key *i* mod N (every key equally often). One pass in a closed loop (64 in flight, one request per key, so every request is an identity\'s first: a cold miss, and the memory store evicts beyond its key limit), then the paced generator at ½ of bare\'s saturation rate over the same keys from the first again. The server\'s memory is read before the pass and after the revisit, each time after two full garbage collections (the one-process targets run with \`--expose-gc\` for that): its RSS and its JS heap in use; the growth divided by the keys sent is the memory per active subject (RSS also moves with the allocator and V8\'s page release, so the heap figure is the steadier one; bare\'s row is the noise floor). For Redis targets, redis-server\'s \`used_memory\` likewise. Run once per target (the pass changes the server\'s state, so repeating it measures something else); bare runs it too, as the generator\'s own ceiling.`,
    `- Rates and latency percentiles (p50, p99, p99.9, max) are computed by the bench from per-request records (h2load\'s \`--log-file\`; the paced generator\'s own), after dropping requests started in the first ${dropS} s of each run. Latency is measured by the client, so it includes HTTP/2 framing on both sides and the loopback, but no Envoy.`,
    '- **Store round trips**: redis-server\'s `INFO stats` `total_commands_processed` before and after each run, per request (the probe\'s own INFO calls excluded; Redis counts the commands a Lua script runs too, so one EVALSHA of a 10-op batch counts as a dozen or more); and, when vigil exports it, `vigil_store_sync_total` (the background sync loop\'s round trips, all results) per request, from `/metrics` before and after each run ("n/a" while vigil has no such metric). Fail-open: `vigil_fail_open_total` before and after each run.',
    '- Interference: the machine is shared, so the bench waits (up to 2 minutes) for it to be quiet before starting, and a one-process run during which other processes took more than 10 % of the server\'s CPU (CPU 1\'s busy time from `/proc/stat` minus the server\'s own) is redone, at most twice (and at most 8 runs in all); what remained is stated under Machine. Not checked for the two-process targets, which share both CPUs by design.',
    '- Server CPU per request: user + system time of the server\'s processes from `/proc/<pid>/stat` over the whole run, divided by the requests completed; for Redis targets the same for redis-server.',
    '',
    'Running a part of the bench (prints the tables; only a full run rewrites this page):',
    '',
    '```',
    ...BENCH_HELP.trimEnd().split('\n'),
    '```',
  ];
}
