/**
 * Replay through the real pipeline: vigil started in-process on loopback (the real gRPC server, the
 * embedded store, the given policy), envoy-sim playing Envoy against it over the wire, and vigil's clock
 * set to each exchange's captured time. One exchange at a time, each awaited with its off-path work
 * (response phases), so a replay gives the same decisions every run.
 */
import { Registry } from 'prom-client';
import { ManualClock } from '../clock.js';
import { EnvoySim } from '../envoy-sim/index.js';
import type { SimFilterConfig } from '../envoy-sim/index.js';
import { startVigil } from '../main.js';
import type { DecisionEvent } from '../obs/decision-report.js';
import { createLogger } from '../obs/logger.js';
import type { Policy } from '../policy/policy.js';
import { parseSettings } from '../settings.js';
import { recordFromDecision } from './record.js';
import type { ReplayRecord } from './record.js';
import { toSimExchange } from './to-sim-exchange.js';
import type { ReplayExchange } from './types.js';

/** How long an in-process exchange, and the off-path work after it, may take before it is a failure. */
const REPLAY_WAIT_MS = 30_000;

/**
 * Envoy's ext_proc filter as vigil's deployment docs configure it (docs/protocol.md §14, §15):
 * default processing mode, vigil may ask for bodies, the client address as an attribute, graceful
 * close. The per-message timeout is 30 s, not 200 ms: vigil runs in this process on a manual clock, so
 * only a hang may fail an exchange, never a slow or loaded machine (the same input must give the same
 * decisions). failure_mode_allow is off so that a vigil failure shows as an error, not an allow.
 */
export const REPLAY_SIM_CONFIG: SimFilterConfig = {
  failure_mode_allow: false,
  allow_mode_override: true,
  request_attributes: ['source.address'],
  message_timeout_ms: REPLAY_WAIT_MS,
  graceful_grpc_close: true,
};

/** Pseudonyms in replay output are keyed with VIGIL_KEY_SECRET when set, else with this fixed key. */
export const REPLAY_DEFAULT_SECRET = 'vigil-replay-default-key';

export interface InProcessOptions {
  policy: Policy;
  /** Global shadow mode: decide and report, never enforce. */
  shadow: boolean;
  keySecret?: string;
  /** Called with each record as it is made (for streaming --decisions). */
  onRecord?: (r: ReplayRecord) => void;
  /** Keep every evaluated signal in each record (--signals). */
  signals?: boolean;
}

export interface PlayResult {
  records: ReplayRecord[];
  elapsedMs: number;
}

export async function playInProcess(exchanges: readonly ReplayExchange[], opts: InProcessOptions): Promise<PlayResult> {
  const clock = new ManualClock(exchanges.length > 0 ? Math.floor(exchanges[0]!.tsUs / 1000) : 0);
  let event: DecisionEvent | null = null;
  const settings = parseSettings({
    VIGIL_GRPC_ADDRESS: '127.0.0.1:0',
    VIGIL_ADMIN_ADDRESS: '127.0.0.1:0',
    VIGIL_KEY_SECRET: opts.keySecret ?? REPLAY_DEFAULT_SECRET,
    VIGIL_SHADOW_MODE: String(opts.shadow),
    VIGIL_STORE_TIMEOUT_MS: '1000',
    VIGIL_DRAIN_TIMEOUT_MS: '200',
  });
  const vigil = await startVigil({
    settings,
    clock,
    policy: opts.policy,
    logger: createLogger('silent'),
    registry: new Registry(),
    onDecision: (e) => {
      event = e;
    },
  });
  const sim = new EnvoySim(`127.0.0.1:${vigil.grpcPort}`, REPLAY_SIM_CONFIG);
  const records: ReplayRecord[] = [];
  // Replay speed is the playing alone, not vigil's start-up.
  const started = performance.now();
  try {
    for (const [i, x] of exchanges.entries()) {
      clock.set(Math.floor(x.tsUs / 1000));
      event = null;
      const r = await sim.exchange(toSimExchange(x));
      await vigil.settled(REPLAY_WAIT_MS);
      const record = recordFromDecision(i, x, r, event, opts.signals === true);
      records.push(record);
      opts.onRecord?.(record);
    }
  } finally {
    sim.close();
    await vigil.shutdown();
  }
  return { records, elapsedMs: performance.now() - started };
}
