import type { Clock } from '../clock.js';
import type { Logger } from '../obs/logger.js';
import { DecisionLogSampler } from '../obs/decision-log-sampler.js';
import type { DecisionObserver } from '../obs/decision-report.js';
import type { Metrics } from '../obs/metrics.js';
import { NearMissSampler } from '../obs/near-miss-sampler.js';
import type { ThrottledLog } from '../obs/throttled-log.js';
import type { Policy } from '../policy/policy.js';
import type { ManualRule } from '../state/manual-rules.js';
import type { StateStore } from '../state/store.js';
import { VigilSession } from './exchange-session.js';
import type { ExchangeHandler } from './stream.js';

export interface DecisionHandlerDeps {
  policy: () => Policy;
  store: StateStore;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  problems: ThrottledLog;
  shadowMode: boolean;
  pseudonymize: (kind: string, raw: string) => string;
  headerLimits: { maxValueBytes: number; maxHeaders: number };
  /** Request bytes read for a login's username (the stream caps what it passes on at the same size). */
  maxBodyBytes: number;
  /** Why decisions are made from this replica's own view right now (x-vigil-degraded), or null. */
  degraded?: () => string | null;
  /** VIGIL_LOG_RAW_PATHS: decision log lines also carry the request's path (default: a template only). */
  logRawPaths?: boolean;
  /** VIGIL_LOG_SIGNALS: decision log lines carry every evaluated signal; near misses of allowed requests are logged. */
  logSignals?: boolean;
  /** Sees every final decision after it is counted and logged (replay); unset in production. */
  onDecision?: DecisionObserver;
  /** Keeps off-path work (response phases) countable, so shutdown can wait for it. */
  track: (work: Promise<void>) => void;
  /** Thins repeated decision log lines (one caller, one detector) to one per minute. */
  logSampler: DecisionLogSampler;
  /** With logSignals: which allowed decisions are near misses worth a line. */
  nearMisses: NearMissSampler;
  /** Operators' manual block and allow rules (decision/manual-live.ts), matched before anything else. */
  manual?: { match(identityId: string, clientIp: string, nowMs: number): ManualRule | null };
  /** Where a detector's failed background work is reported (logged, throttled). */
  backgroundFailed: (err: unknown) => void;
}

export interface DecisionHandler extends ExchangeHandler {
  /** Resolves once off-path work started so far has finished (or after timeoutMs). */
  settled(timeoutMs: number): Promise<void>;
}

/**
 * The ext_proc handler: one VigilSession per stream (exchange-session.ts, the one boundary that
 * catches, house style habit 8), plus the stream-level counting.
 */
export function createDecisionHandler(deps: Omit<DecisionHandlerDeps, 'track' | 'logSampler' | 'nearMisses' | 'backgroundFailed'>): DecisionHandler {
  const { metrics } = deps;
  const pending = new Set<Promise<void>>();
  const full: DecisionHandlerDeps = {
    ...deps,
    logSampler: new DecisionLogSampler(),
    nearMisses: new NearMissSampler(),
    track(work) {
      pending.add(work);
      void work.finally(() => pending.delete(work));
    },
    backgroundFailed(err) {
      deps.problems.warn('background', { err: String(err) }, 'detector background work failed');
    },
  };
  return {
    open: () => new VigilSession(full),
    message(kind) {
      metrics.messages.inc([kind]);
    },
    bodyChunk(_direction, _bytes, truncated) {
      if (truncated) metrics.inputProblems.inc({ kind: 'body-over-cap' });
    },
    problem(kind, detail) {
      metrics.streamErrors.inc({ kind });
      deps.problems.warn(kind, { detail: detail.slice(0, 500) }, 'ext_proc stream problem');
    },
    async settled(timeoutMs) {
      if (pending.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...pending]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    },
  };
}
