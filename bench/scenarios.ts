/**
 * What the bench runs, and on which targets: saturation (h2load, every target), latency at fixed
 * offered rates (the even-paced generator) and in closed loops with 1 and 4 in flight (h2load), and
 * the many-keys scenario (the paced generator cycling through distinct API keys).
 */
import type { BenchOptions } from './options.js';
import type { Scenario, ScenarioId, TargetName } from './types.js';

const ONE_PROCESS: readonly TargetName[] = ['bare', 'vigil-memory', 'vigil-redis'];
const ALL: readonly TargetName[] = [...ONE_PROCESS, 'bare-2proc', 'vigil-redis-workers2'];

export interface Timing {
  saturationS: number;
  latencyS: number;
  warmupS: number;
  dropMs: number;
  /** Longest the many-keys pass may take (it stops after one request per key or this, whichever first). */
  keysPassS: number;
}

export function timing(o: BenchOptions): Timing {
  return o.quick
    ? { saturationS: 2, latencyS: 2, warmupS: 1, dropMs: 500, keysPassS: 10 }
    : { saturationS: 8, latencyS: 5, warmupS: 3, dropMs: 1000, keysPassS: 40 };
}

const pick = (o: BenchOptions, targets: readonly TargetName[]): TargetName[] => targets.filter((t) => o.targets.includes(t));

export function saturation(o: BenchOptions): Scenario {
  return { id: 'saturation', label: 'closed loop, 64 in flight (saturation)', generator: 'h2load', streams: 64, durationS: timing(o).saturationS, targets: pick(o, ALL) };
}

/** The latency scenarios the options select, in the order they run. */
export function latency(o: BenchOptions, halfBareRps: number): Scenario[] {
  const t = timing(o);
  const all: Scenario[] = [
    { id: 'half-bare', label: `paced ${halfBareRps.toLocaleString('en-US')} req/s (½ of bare saturation)`, generator: 'paced', streams: 0, rps: halfBareRps, durationS: t.latencyS, targets: pick(o, ALL) },
    { id: 'rps-1000', label: 'paced 1,000 req/s', generator: 'paced', streams: 0, rps: 1000, durationS: t.latencyS, targets: pick(o, ONE_PROCESS) },
    { id: 'closed-1', label: 'closed loop, 1 in flight', generator: 'h2load', streams: 1, durationS: t.latencyS, targets: pick(o, ONE_PROCESS) },
    { id: 'closed-4', label: 'closed loop, 4 in flight', generator: 'h2load', streams: 4, durationS: t.latencyS, targets: pick(o, ONE_PROCESS) },
  ];
  return all.filter((s) => o.scenarios.includes(s.id));
}

/** The many-keys scenario's two runs: one pass over the keys in a closed loop, then a paced revisit. */
export function manyKeys(o: BenchOptions, halfBareRps: number): { pass: Scenario; revisit: Scenario; targets: TargetName[] } {
  const t = timing(o);
  const id: ScenarioId = 'keys';
  const keys = o.keys;
  return {
    pass: { id, label: `${keys.toLocaleString('en-US')} keys, one pass, closed loop 64 in flight`, generator: 'paced', streams: 64, requests: keys, keys, durationS: t.keysPassS, targets: [] },
    revisit: { id, label: `${keys.toLocaleString('en-US')} keys, paced ${halfBareRps.toLocaleString('en-US')} req/s`, generator: 'paced', streams: 0, rps: halfBareRps, keys, durationS: t.latencyS, targets: [] },
    targets: o.scenarios.includes(id) ? pick(o, ONE_PROCESS) : [],
  };
}
