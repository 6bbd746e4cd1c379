import { decide, failOpenDecision } from '../decision/decide.js';
import type { Decision, FailOpenReason } from '../decision/types.js';
import { evaluateDetectors, runBackground } from '../detectors/engine.js';
import { StoreUnavailableError } from '../errors.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { reportDecision } from '../obs/decision-report.js';
import type { ThrottledLog } from '../obs/throttled-log.js';
import type { Policy } from '../policy/policy.js';
import { resolveFacts } from '../request/facts.js';
import { decodeHeaderMap } from '../request/headers.js';
import type { RequestFacts } from '../request/types.js';
import type { StateStore } from '../state/store.js';
import type { HeaderMap, ProcessingResponse } from './messages.js';
import { continueHeaders, replyToRequestHeaders } from './respond.js';
import type { ExchangeHandler } from './stream.js';

const FAIL_OPEN: Record<StoreUnavailableError['reason'], FailOpenReason> = {
  timeout: 'store-timeout',
  error: 'store-error',
  'breaker-open': 'breaker-open',
};

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
}

/**
 * request headers → facts → detectors (one store round trip) → decision → reply. The one boundary
 * that catches (house style, habit 8): a store failure or a bug becomes a fail-open allow, counted.
 */
export function createDecisionHandler(deps: DecisionHandlerDeps): ExchangeHandler {
  const { metrics } = deps;
  return {
    async requestHeaders(map: HeaderMap | undefined, sourceAddress: string | undefined, observe: boolean): Promise<ProcessingResponse> {
      const started = process.hrtime.bigint();
      const policy = deps.policy();
      const nowMs = deps.clock.nowMs();
      let facts: RequestFacts | null = null;
      let decision: Decision;
      let spoofed: string[] = [];
      try {
        const decoded = decodeHeaderMap(map, deps.headerLimits);
        if (decoded.problems.length > 0) {
          // The problems are prose (for the log); the metric label stays one fixed kind.
          metrics.inputProblems.inc({ kind: 'header' }, decoded.problems.length);
          deps.problems.warn('header-input', { problems: decoded.problems.slice(0, 3) }, 'tolerated malformed or oversized headers');
        }
        for (const name of decoded.headers.names()) if (name.startsWith('x-vigil-')) spoofed.push(name);
        facts = resolveFacts({ headers: decoded.headers, sourceAddress }, policy.identity, deps.pseudonymize);
        const evaluation = await evaluateDetectors(policy.detectors, facts, deps.store, nowMs);
        decision = decide({
          evaluation,
          detectors: policy.detectors,
          // observability mode: Envoy ignores replies, so nothing can be enforced.
          globalShadow: deps.shadowMode || observe,
          identityKind: facts.identity.kind,
          policyChecksum: policy.checksum,
          nowMs,
        });
        runBackground(policy.detectors, deps.store, nowMs, (err) =>
          deps.problems.warn('background', { err: String(err) }, 'detector background work failed'),
        );
      } catch (err) {
        const reason: FailOpenReason = err instanceof StoreUnavailableError ? FAIL_OPEN[err.reason] : 'internal';
        if (reason === 'internal') deps.problems.warn('internal', { err: String((err as Error)?.stack ?? err) }, 'decision failed: allowing');
        decision = failOpenDecision(reason, facts?.identity.kind ?? 'ip', policy.checksum);
      }
      reportDecision(decision, facts, metrics, deps.logger);
      let reply: ProcessingResponse;
      try {
        reply = replyToRequestHeaders(decision, policy.responses, spoofed);
      } catch (err) {
        deps.problems.warn('internal', { err: String(err) }, 'building the reply failed: allowing');
        reply = continueHeaders('request_headers');
      }
      metrics.decisionSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      return reply;
    },
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
  };
}
