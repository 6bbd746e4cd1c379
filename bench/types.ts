/** Shapes shared by the bench modules. */
import type { LoadResult } from './h2load.js';
import type { PacedStats } from './paced-summary.js';

export type TargetName = 'bare' | 'vigil-memory' | 'vigil-redis' | 'bare-2proc' | 'vigil-redis-workers2';
export const TARGETS: readonly TargetName[] = ['bare', 'vigil-memory', 'vigil-redis', 'bare-2proc', 'vigil-redis-workers2'];

export interface TargetSpec {
  name: TargetName;
  /** Server processes it is meant to run as. */
  processes: number;
  /** HTTP/2 connections the load generator opens: node:cluster hands each connection to one process. */
  connections: number;
  /** Talks to the bench's redis-server. */
  redis: boolean;
  /** Has vigil's /metrics. */
  vigil: boolean;
}

export const TARGET_SPECS: Record<TargetName, TargetSpec> = {
  bare: { name: 'bare', processes: 1, connections: 1, redis: false, vigil: false },
  'vigil-memory': { name: 'vigil-memory', processes: 1, connections: 1, redis: false, vigil: true },
  'vigil-redis': { name: 'vigil-redis', processes: 1, connections: 1, redis: true, vigil: true },
  'bare-2proc': { name: 'bare-2proc', processes: 2, connections: 2, redis: false, vigil: false },
  'vigil-redis-workers2': { name: 'vigil-redis-workers2', processes: 2, connections: 2, redis: true, vigil: true },
};

export type ScenarioId = 'saturation' | 'half-bare' | 'rps-1000' | 'closed-1' | 'closed-4' | 'keys';
export const SCENARIOS: readonly ScenarioId[] = ['saturation', 'half-bare', 'rps-1000', 'closed-1', 'closed-4', 'keys'];

export interface Scenario {
  id: ScenarioId;
  /** Human label for the tables. */
  label: string;
  /** h2load for closed loops, the even-paced generator (bench/paced.ts) for fixed rates and many keys. */
  generator: 'h2load' | 'paced';
  /** Closed loop: streams in flight, in all (split over the target's connections). */
  streams: number;
  durationS: number;
  /** Fixed offered rate (paced generator). */
  rps?: number;
  /** Stop after this many requests. */
  requests?: number;
  /** Cycle through this many API keys instead of the one hot key. */
  keys?: number;
  targets: readonly TargetName[];
}

export interface RunResult extends LoadResult {
  /** Server CPU (user + system, all its processes) per request over the whole run, µs. */
  cpuUsPerReq: number;
  /** Redis CPU per request over the whole run, µs (targets that use Redis). */
  redisCpuUsPerReq: number | null;
  /** Redis commands processed (INFO stats total_commands_processed) per request (targets that use Redis). */
  redisCmdsPerReq: number | null;
  /** vigil_store_sync_total (sync round trips) per request; null when /metrics has no such metric. */
  syncPerReq: number | null;
  /** vigil_fail_open_total over the run (vigil targets). */
  failOpen: number | null;
  /** Share of the run's wall time that CPU 1 (the server's, when pinned) spent on other processes; NaN when not pinned to it. */
  otherOnServerCpu: number;
  /** The paced generator's own figures; null for h2load. */
  paced: PacedStats | null;
}

export interface ScenarioOutcome {
  scenario: Scenario;
  runs: Partial<Record<TargetName, RunResult[]>>;
}

/** The many-keys scenario on one target. */
export interface KeysOutcome {
  target: TargetName;
  keys: number;
  /** Closed loop, one request per key (every key's first visit). */
  pass: RunResult;
  /** Then paced at ½ of bare's saturation rate over the same keys from the first again. */
  revisit: RunResult;
  /** The server's resident set and JS heap in use (after a full GC where possible, else NaN), bytes. */
  rssBefore: number;
  rssAfter: number;
  heapBefore: number;
  heapAfter: number;
  /** redis-server used_memory before and after (targets that use Redis). */
  redisMemBefore: number | null;
  redisMemAfter: number | null;
  /** Distinct API keys sent (= identities vigil has seen). */
  activeSubjects: number;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memory: string;
  kernel: string;
  node: string;
  grpcJs: string;
  protoLoader: string;
  ioredis: string;
  redis: string;
  h2load: string;
  pinned: boolean;
}

export interface BenchReport {
  date: string;
  machine: MachineInfo;
  payloadBytes: number;
  outcomes: ScenarioOutcome[];
  keys: KeysOutcome[];
  halfBareRps: number;
  elapsedS: number;
  /** vigil's own counters at the end (decisions, fail-open, stream errors, sync), one line per target. */
  totals: string[];
  /** Processes each target actually ran as (the process tree once serving). */
  processes: Partial<Record<TargetName, number>>;
  quick: boolean;
  /** A subset of targets or scenarios was run (the docs are then not written). */
  subset: boolean;
  reps: number;
  /** CPUs' worth of other work on the machine just before the bench started. */
  busyBefore: number;
  /** Runs redone because other processes took over 10 % of the server's CPU. */
  redone: number;
}
