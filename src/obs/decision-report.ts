import { countedAction, decidingReason } from '../decision/explain.js';
import type { Decision } from '../decision/types.js';
import type { Signal } from '../detectors/types.js';
import type { EndpointRule } from '../policy/endpoints.js';
import type { RequestFacts } from '../request/types.js';
import { pathFields } from './log-path.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

/** A final decision as the session made it, for an in-process observer (replay reads them this way). */
export interface DecisionEvent {
  decision: Decision;
  facts: RequestFacts | null;
  endpointGroup: string | null;
  /** Set when the request was not scored (a static endpoint, an allowlisted caller). */
  unscored: 'static' | 'allowlist' | 'manual' | null;
  /**
   * Every signal evaluated for the decision (request and login phases), fired or not; empty when
   * nothing was evaluated (unscored, fail-open). The evaluation's own array, not a copy: observers
   * must not change it.
   */
  signals: readonly Signal[];
}
export type DecisionObserver = (event: DecisionEvent) => void;

/** One evaluated signal as a log line or a replay's --decisions line shows it (fired or not). */
export type EvaluatedSignal = Pick<Signal, 'detector' | 'signal' | 'value' | 'baseline' | 'threshold' | 'score' | 'windowMs' | 'fired' | 'action' | 'shadow'>;

export function evaluatedSignal(s: Signal): EvaluatedSignal {
  const { detector, signal, value, baseline, threshold, score, windowMs, fired, action, shadow } = s;
  return { detector, signal, value, baseline, threshold, score, windowMs, fired, action, shadow };
}

/** Where the decided request went, for the log line. */
export interface DecisionWhere {
  /** The policy's endpoint group (`other` when no rule matched). */
  group?: string | undefined;
  /** The endpoint rule that matched, if any: its pattern is the logged template (obs/log-path.ts). */
  rule?: EndpointRule | null | undefined;
  /** VIGIL_LOG_RAW_PATHS: the line also carries the normalised path. */
  rawPaths?: boolean | undefined;
  /** Thins repeated decisions of one caller and detector (decision-log-sampler.ts), on vigil's clock. */
  sampler?: { admit(key: string, nowMs: number): { log: boolean; repeated: number }; nowMs: number } | undefined;
  /**
   * VIGIL_LOG_SIGNALS: every signal evaluated for the decision. Lines then carry them, and allowed
   * decisions that `nearMiss` admits (near-miss-sampler.ts) are logged too.
   */
  signals?: readonly Signal[] | undefined;
  nearMiss?: ((identity: string, signals: readonly Signal[]) => boolean) | undefined;
}

/**
 * Counts every decision and logs every non-allow one (enforced or shadowed) with its explanation:
 * every reason (detector, signal, value, baseline, threshold, score, window, action, and where they
 * apply the escalation level, canary side and step-up excuse), the identity kind and pseudonym, and
 * the policy checksum. Allowed requests are counted, never logged at info. With a sampler, repeats of
 * one caller's decision by one detector are thinned to one line per interval (`repeated` counts them). Shadowed decisions are
 * counted and logged exactly like enforced ones, labelled shadow. Non-allow decisions carry an exemplar
 * (identity pseudonym, policy checksum) when the registry serves OpenMetrics. Only pseudonymised
 * identities reach the log, and a template of the path, not the path (unless raw paths are configured).
 */
export function reportDecision(d: Decision, facts: RequestFacts | null, metrics: Metrics, logger: Logger, where: DecisionWhere = {}): void {
  const { action: counted, shadow: shadowed } = countedAction(d);
  const decider = decidingReason(d);
  const labels = [counted, decider?.detector ?? 'none', shadowed ? 'true' : 'false'];
  if (counted !== 'allow' && facts) metrics.decisions.incWithExemplar(labels, { identity: facts.identity.id, policy: d.policyChecksum });
  else metrics.decisions.inc(labels);
  if (d.failOpen) metrics.failOpen.inc({ reason: d.failOpen });
  let repeated: number | undefined;
  if (counted === 'allow') {
    // Allowed decisions are logged only with VIGIL_LOG_SIGNALS, and only near misses.
    if (!where.signals || !where.nearMiss || !facts || !where.nearMiss(facts.identity.id, where.signals)) return;
  } else if (where.sampler) {
    const key = `${facts?.identity.id ?? '-'}|${decider?.detector ?? 'none'}|${counted}|${shadowed ? 's' : 'e'}`;
    const admitted = where.sampler.admit(key, where.sampler.nowMs);
    if (!admitted.log) return;
    if (admitted.repeated > 1) repeated = admitted.repeated;
  }
  logger.info(
    {
      action: counted,
      enforced: !shadowed,
      shadow: shadowed,
      identity: facts ? { kind: facts.identity.kind, id: facts.identity.id } : null,
      clientIp: facts?.clientIp,
      method: facts?.endpoint.method,
      ...(facts ? pathFields(facts.endpoint, where.rule ?? null, where.rawPaths === true) : {}),
      endpoint: where.group,
      reasons: d.reasons,
      retryAfterS: d.retryAfterS,
      ...(d.creditUntilMs > 0 ? { stepUpCreditUntilMs: d.creditUntilMs } : {}),
      policy: d.policyChecksum,
      ...(repeated !== undefined ? { repeated } : {}),
      ...(where.signals ? { signals: where.signals.map(evaluatedSignal) } : {}),
    },
    'decision',
  );
}
