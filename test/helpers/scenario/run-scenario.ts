/**
 * Plays a scenario into the real gRPC server: vigil in-process with a ManualClock set to each
 * exchange's time, envoy-sim as Envoy over the wire, one exchange at a time (each awaited). Envoy is
 * configured as `vigil replay` plays it (REPLAY_SIM_CONFIG: allow_mode_override, source.address,
 * graceful close, a 2 s message timeout so a loaded CI machine never turns a slow reply into an error).
 *
 * envoy-sim plays a fail-closed Envoy (failure_mode_allow: false), so a vigil failure shows up as an
 * 'error' decision and the run throws; a fail-open allow (store too slow or down) also throws, since
 * such a decision says nothing about the detectors.
 */
import { ManualClock } from '../../../src/clock.js';
import { EnvoySim } from '../../../src/envoy-sim/index.js';
import { REPLAY_SIM_CONFIG } from '../../../src/replay/play-in-process.js';
import { startTestVigil } from '../vigil.js';
import { classify } from '../../../src/replay/wire-outcome.js';
import { expandTraffic } from './expand.js';
import type { ObservedDecision, Scenario } from './types.js';

const STORE_TIMEOUT_MS = '1000';

/** Log lines that mean a decision was not the detectors' own (besides fail-open, counted by metric). */
const FATAL_WARNINGS = new Set(['detector background work failed', 'decision failed: allowing']);
const isFatal = (l: Record<string, unknown>): boolean =>
  l['level'] === 'error' || l['level'] === 'fatal' || FATAL_WARNINGS.has(String(l['msg']));

export interface RunOptions {
  /** Unset: the embedded MemoryStore. */
  redisUrl?: string;
}

export interface RunResult {
  decisions: ObservedDecision[];
  exchanges: number;
  elapsedMs: number;
}

export async function runScenario(scenario: Scenario, opts: RunOptions = {}): Promise<RunResult> {
  const exchanges = expandTraffic(scenario.traffic);
  const clock = new ManualClock(exchanges[0]?.atMs ?? scenario.traffic.startMs);
  const env: Record<string, string> = { VIGIL_STORE_TIMEOUT_MS: STORE_TIMEOUT_MS };
  if (opts.redisUrl) env['REDIS_URL'] = opts.redisUrl;
  const started = performance.now();
  const vigil = await startTestVigil({ clock, env, policy: scenario.policy });
  const sim = new EnvoySim(vigil.target, REPLAY_SIM_CONFIG);
  const decisions: ObservedDecision[] = [];
  const perClient = new Map<string, number>();
  try {
    for (const x of exchanges) {
      clock.set(x.atMs);
      const mark = vigil.logs.lines.length;
      const r = await sim.exchange(x.http);
      const lines = vigil.logs.lines.slice(mark);
      const n = perClient.get(x.client) ?? 0;
      perClient.set(x.client, n + 1);
      const d: ObservedDecision = {
        i: x.i,
        n,
        client: x.client,
        atMs: x.atMs,
        ...classify(r, lines.filter((l) => l['msg'] === 'decision')),
      };
      decisions.push(d);
      if (d.action === 'error') {
        throw new Error(
          `${scenario.name}: exchange #${x.i} (${x.client} #${n}, ${x.http.method} ${x.http.path}, ` +
            `+${x.atMs - scenario.traffic.startMs} ms) failed: outcome ${r.outcome}, status ${r.client.status}, details ${r.details ?? '-'}`,
        );
      }
      const bad = lines.find(isFatal);
      if (bad) throw new Error(`${scenario.name}: vigil logged at exchange #${x.i} (${x.client} #${n}): ${JSON.stringify(bad)}`);
    }
    // Background work settles after its request: look again once everything is done.
    const late = vigil.logs.lines.find(isFatal);
    if (late) throw new Error(`${scenario.name}: vigil logged: ${JSON.stringify(late)}`);
    const failOpen = await vigil.metric('vigil_fail_open_total');
    if (failOpen > 0) {
      throw new Error(`${scenario.name}: vigil failed open ${failOpen} time(s) (store slow or unreachable): those decisions are not the detectors'`);
    }
  } finally {
    sim.close();
    await vigil.shutdown();
  }
  return { decisions, exchanges: exchanges.length, elapsedMs: performance.now() - started };
}
