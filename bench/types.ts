/** Shapes shared by the bench modules. */
import type { LoadResult } from './h2load.js';

export type TargetName = 'bare' | 'vigil-memory' | 'vigil-redis';
export const TARGETS: readonly TargetName[] = ['bare', 'vigil-memory', 'vigil-redis'];

export interface Scenario {
  id: string;
  /** Human label for the tables. */
  label: string;
  streams: number;
  durationS: number;
  rps?: number;
}

export interface RunResult extends LoadResult {
  /** Server CPU (user + system) per request over the whole run, µs. */
  cpuUsPerReq: number;
  /** Redis CPU per request over the whole run, µs (vigil-redis only). */
  redisCpuUsPerReq: number | null;
  /** Share of the run's wall time that CPU 1 (the server's, when pinned) spent on other processes. */
  otherOnServerCpu: number;
}

export interface ScenarioOutcome {
  scenario: Scenario;
  runs: Record<TargetName, RunResult[]>;
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
  halfBareRps: number;
  elapsedS: number;
  /** vigil's own counters at the end (decisions, fail-open, stream errors), one line per target. */
  totals: string[];
  quick: boolean;
  /** CPUs' worth of other work on the machine just before the bench started. */
  busyBefore: number;
  /** Runs redone because other processes took over 10 % of the server's CPU. */
  redone: number;
}
