/** Number formatting and the median-of-runs helper shared by the report's tables and checks. */
import { median } from './stats.js';
import type { BenchReport, RunResult, ScenarioId, TargetName } from './types.js';

export const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
export const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(2) : '–');
export const ms3 = (n: number): string => (Number.isFinite(n) ? n.toFixed(3) : '–');
export const pct = (n: number): string => (Number.isFinite(n) ? `${(n * 100).toFixed(1)} %` : '–');
export const dec = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
export const mib = (bytes: number): string => (Number.isFinite(bytes) ? `${(bytes / 2 ** 20).toFixed(0)} MiB` : '–');

/** Median over runs of a figure; NaN when there are no runs or the figure is missing (null). */
export function med(runs: readonly RunResult[] | undefined, pick: (r: RunResult) => number | null | undefined): number {
  return median((runs ?? []).map((r) => pick(r) ?? NaN));
}

/** The runs of one target in one scenario, or undefined when that was not run. */
export function runsOf(report: BenchReport, id: ScenarioId, target: TargetName): RunResult[] | undefined {
  const runs = report.outcomes.find((o) => o.scenario.id === id)?.runs[target];
  return runs && runs.length ? runs : undefined;
}

/** A process tree's size as the tables show it: "1", or "primary + N" for a cluster. */
export const procs = (n: number | undefined): string => (n === undefined ? '–' : n > 1 ? `primary + ${n - 1}` : String(n));
