import { allowDecision, decide, failOpenDecision } from '../decision/decide.js';
import { manualBlockDecision } from '../decision/manual-decision.js';
import { stepUpFor } from '../decision/step-up.js';
import type { Decision, FailOpenReason } from '../decision/types.js';
import { EMPTY_EVALUATION, evaluateDetectors, mergeEvaluations, runBackground } from '../detectors/engine.js';
import type { EvaluateOptions, Evaluation } from '../detectors/engine.js';
import type { Signal } from '../detectors/types.js';
import { StoreUnavailableError } from '../errors.js';
import { reportDecision } from '../obs/decision-report.js';
import { matchEndpoint } from '../policy/endpoints.js';
import type { EndpointRule } from '../policy/endpoints.js';
import type { Policy } from '../policy/policy.js';
import { anyContains } from '../request/cidr.js';
import type { Exchange, Phase } from '../request/exchange.js';
import { shannonEntropy } from '../request/exchange.js';
import { parseContentLength, resolveFacts } from '../request/facts.js';
import { decodeHeaderMap } from '../request/headers.js';
import type { HeaderList } from '../request/headers.js';
import type { RequestFacts } from '../request/types.js';
import { extractUsername, needsBody, readUsername } from '../request/login.js';
import type { DecisionHandlerDeps } from './decision-handler.js';
import type { HeaderMap, ProcessingMode, ProcessingResponse } from './messages.js';
import { CONTINUE, replyToRequest, replyToRequestHeaders, replyToResponseHeaders } from './respond.js';
import type { ReplyContext, RequestReplyKind } from './respond.js';
import type { ExchangeSession } from './stream.js';

const FAIL_OPEN: Record<StoreUnavailableError['reason'], FailOpenReason> = {
  timeout: 'store-timeout',
  error: 'store-error',
  'breaker-open': 'breaker-open',
};

/** Response bytes sampled for entropy on export endpoints with sample_body. */
export const SAMPLE_BYTES = 64 * 1024;
/** Skipping the response headers message on unscored requests (static, allowlisted) saves a round trip. */
const SKIP_RESPONSE: ProcessingMode = { response_header_mode: 'SKIP' };
/** The phases each message runs (request/exchange.ts), as constants: nothing to build per message. */
const REQUEST: readonly Phase[] = ['request'];
const REQUEST_AND_LOGIN: readonly Phase[] = ['request', 'login'];
const LOGIN: readonly Phase[] = ['login'];
const RESPONSE: readonly Phase[] = ['response'];
const LOGIN_AND_RESPONSE: readonly Phase[] = ['login', 'response'];
const RESPONSE_BODY: readonly Phase[] = ['response-body'];

/**
 * One exchange (one ext_proc stream), phase by phase (request/exchange.ts):
 *  - request headers: facts, endpoint rule, allowlist; the request phase (and the login phase when
 *    the username is in a header) in one store round trip; the decision. A login whose username is in
 *    the body asks Envoy for the body (mode_override) and holds its decision until it arrives;
 *  - request body (or trailers): the login phase in one round trip; the decision, headers and login
 *    evaluations merged;
 *  - response headers: the response phase, started without waiting (state for the next requests);
 *  - response body (export endpoints with sample_body): entropy of the first SAMPLE_BYTES, then the
 *    response-body phase, also off the reply path.
 * The policy is pinned at the request headers, so a reload never splits an exchange.
 */
export class VigilSession implements ExchangeSession {
  private policy: Policy | null = null;
  private x: Exchange | null = null;
  private requestHeaderList: HeaderList | null = null;
  private spoofed: string[] = [];
  /** What the decision is about, once the request headers are read (scored or not). */
  private about: { facts: RequestFacts; group: string; rule: EndpointRule | null; unscored: 'static' | 'allowlist' | 'manual' | null } | null = null;
  /** The headers-phase evaluation of a login waiting for its body. */
  private held: { evaluation: Evaluation; decision: Decision } | null = null;
  /** The exchange's final decision, for its response (soft limits). */
  private decided: Decision | null = null;
  /** The signals the last decision was made from (for the observer: replay's --signals). */
  private evaluated: readonly Signal[] = EMPTY_EVALUATION.signals;
  private body: Buffer[] = [];
  private bodyBytes = 0;
  private sampling = false;
  private sample: Buffer[] = [];
  private sampleBytes = 0;
  private responseBytes = 0;

  constructor(private readonly deps: DecisionHandlerDeps) {}

  async requestHeaders(map: HeaderMap | undefined, endOfStream: boolean, sourceAddress: string | undefined, observe: boolean): Promise<ProcessingResponse> {
    const started = performance.now();
    const { deps } = this;
    const policy = (this.policy = deps.policy());
    const nowMs = deps.clock.nowMs();
    let decision: Decision;
    let mode: ProcessingMode | undefined;
    try {
      const decoded = decodeHeaderMap(map, deps.headerLimits);
      if (decoded.problems.length > 0) {
        // The problems are prose (for the log); the metric label stays one fixed kind.
        deps.metrics.inputProblems.inc({ kind: 'header' }, decoded.problems.length);
        deps.problems.warn('header-input', { problems: decoded.problems.slice(0, 3) }, 'tolerated malformed or oversized headers');
      }
      for (const name of decoded.headers.names()) if (name.startsWith('x-vigil-')) this.spoofed.push(name);
      this.requestHeaderList = decoded.headers;
      const facts = resolveFacts({ headers: decoded.headers, sourceAddress }, policy.identity, deps.pseudonymize);
      const endpoint = matchEndpoint(policy.endpoints, facts.endpoint);
      // An operator's manual rule comes first (static endpoints included): a block answers at once, an allow is not scored.
      const manual = deps.manual?.match(facts.identity.id, facts.clientIp, nowMs) ?? null;
      if (manual?.action === 'block') {
        this.about = { facts, group: endpoint.group, rule: endpoint.rule, unscored: null };
        const blocked = manualBlockDecision(manual, facts.identity.kind, policy.checksum, deps.shadowMode || observe, nowMs);
        return this.finishRequest(started, blocked, 'request_headers', SKIP_RESPONSE, true);
      }
      const unscored = manual ? 'manual' : endpoint.rule?.static ? 'static' : isAllowlisted(policy, facts.identity.id, facts.clientIp) ? 'allowlist' : null;
      this.about = { facts, group: endpoint.group, rule: endpoint.rule, unscored };
      if (unscored) {
        deps.metrics.unscored.inc({ reason: unscored });
        // A static path still applies a standing penalty (policy: penalties: enforce); an allowlisted caller has none to read.
        const standing =
          unscored === 'static' && endpoint.rule?.staticPenalties === 'enforce' && policy.detectors.length > 0 && !isAllowlisted(policy, facts.identity.id, facts.clientIp);
        const unscoredDecision = standing ? await this.standingPenalty(facts, endpoint, observe, nowMs) : allowDecision(facts.identity.kind, policy.checksum);
        return this.finishRequest(started, unscoredDecision, 'request_headers', SKIP_RESPONSE, true);
      }
      const x: Exchange = (this.x = { facts, endpoint, login: null, response: null, sample: null });
      let phases = REQUEST;
      const login = endpoint.rule?.login;
      let waitForBody = false;
      if (login) {
        if (needsBody(login.username) && !endOfStream) waitForBody = true;
        else {
          x.login = { username: extractUsername(login.username, decoded.headers, null, deps.pseudonymize), failure: login.failure };
          phases = REQUEST_AND_LOGIN;
        }
      }
      mode = modeFor(waitForBody, endpoint.rule?.export?.sampleBody === true);
      const { evaluation, failOpen } = await this.evaluate(x, phases, nowMs, true);
      decision = failOpen ? failOpenDecision(failOpen, facts.identity.kind, policy.checksum) : this.decide(evaluation, observe, nowMs);
      if (waitForBody && (decision.action === 'allow' || decision.action === 'tag')) {
        this.held = { evaluation, decision };
        return this.finishRequest(started, decision, 'request_headers', mode, false);
      }
    } catch (err) {
      deps.problems.warn('internal', { err: String((err as Error)?.stack ?? err) }, 'decision failed: allowing');
      decision = failOpenDecision('internal', this.x?.facts.identity.kind ?? 'ip', policy.checksum);
      this.held = null;
    }
    return this.finishRequest(started, decision, 'request_headers', mode, true);
  }

  requestBody(chunk: Buffer, endOfStream: boolean, observe: boolean): ProcessingResponse | Promise<ProcessingResponse> {
    if (!this.held) return CONTINUE.request_body;
    if (chunk.length > 0) {
      this.body.push(chunk);
      this.bodyBytes += chunk.length;
    }
    if (!endOfStream && this.bodyBytes < this.deps.maxBodyBytes) return CONTINUE.request_body;
    return this.loginDecision('request_body', observe);
  }

  requestTrailers(observe: boolean): ProcessingResponse | Promise<ProcessingResponse> {
    if (!this.held) return CONTINUE.request_trailers;
    return this.loginDecision('request_trailers', observe);
  }

  /** The login phase once the body is in: one round trip, then the exchange's one decision. */
  private async loginDecision(which: RequestReplyKind, observe: boolean): Promise<ProcessingResponse> {
    const started = performance.now();
    const held = this.held!;
    this.held = null;
    const x = this.x!;
    const policy = this.policy!;
    const nowMs = this.deps.clock.nowMs();
    let decision: Decision;
    try {
      const login = x.endpoint.rule!.login!;
      const body = Buffer.concat(this.body);
      this.body = [];
      const read = readUsername(login.username, this.requestHeaderList!, body, this.deps.pseudonymize);
      if (read.problem) {
        // Decided all the same, username unknown: a hostile body costs a bounded scan and one metric.
        this.deps.metrics.inputProblems.inc({ kind: read.problem });
        this.deps.problems.warn(read.problem, { endpoint: x.endpoint.group, bodyBytes: body.length }, 'login body not read: username unknown');
      }
      x.login = { username: read.username, failure: login.failure };
      const { evaluation, failOpen } = await this.evaluate(x, LOGIN, nowMs, true);
      decision = failOpen
        ? failOpenDecision(failOpen, x.facts.identity.kind, policy.checksum)
        : this.decide(mergeEvaluations(held.evaluation, evaluation), observe, nowMs);
    } catch (err) {
      this.deps.problems.warn('internal', { err: String((err as Error)?.stack ?? err) }, 'decision failed: allowing');
      decision = failOpenDecision('internal', x.facts.identity.kind, policy.checksum);
    }
    return this.finishRequest(started, decision, which, undefined, true);
  }

  responseHeaders(map: HeaderMap | undefined, endOfStream: boolean): ProcessingResponse {
    const x = this.x;
    if (!x || !this.policy) return CONTINUE.response_headers;
    let confirmHeader: string | null = null;
    try {
      let phases = RESPONSE;
      if (this.held) {
        // The body never came: Envoy ignored mode_override (allow_mode_override is off) or the request had
        // none. Count the attempt without a username; the decision was the headers' one.
        this.deps.metrics.inputProblems.inc({ kind: 'login-body-missing' });
        const login = x.endpoint.rule!.login!;
        x.login = { username: null, failure: login.failure };
        phases = LOGIN_AND_RESPONSE;
        this.report(this.held.decision);
        this.held = null;
      }
      const decoded = decodeHeaderMap(map, this.deps.headerLimits);
      const status = Number(decoded.headers.get(':status'));
      x.response = {
        status: Number.isInteger(status) ? status : 0,
        contentLength: parseContentLength(decoded.headers),
        headers: decoded.headers,
      };
      const encoding = (decoded.headers.get('content-encoding') ?? 'identity').trim().toLowerCase();
      this.sampling = !endOfStream && x.endpoint.rule?.export?.sampleBody === true && encoding === 'identity';
      this.offPath(x, phases);
      const confirm = this.policy.stepUp.confirmHeader;
      if (confirm && decoded.headers.get(confirm.name) !== undefined) {
        confirmHeader = confirm.name;
        if (confirm.value === null || decoded.headers.all(confirm.name).some((v) => v.trim() === confirm.value)) this.confirmStepUp(x);
      }
      // Shadow mode changes nothing the client sees: no soft limits either.
      return replyToResponseHeaders(this.deps.shadowMode ? null : this.decided, this.policy.responses, confirmHeader);
    } catch (err) {
      this.deps.problems.warn('internal', { err: String((err as Error)?.stack ?? err) }, 'response phase failed');
    }
    return confirmHeader ? replyToResponseHeaders(null, this.policy.responses, confirmHeader) : CONTINUE.response_headers;
  }

  /**
   * The upstream confirmed the step-up on this response (never read from the client's request): the
   * identity's challenge is cleared and credit granted, off the reply path.
   */
  private confirmStepUp(x: Exchange): void {
    const { deps } = this;
    const { creditMs } = this.policy!.stepUp;
    const subject = x.facts.identity.id;
    const nowMs = deps.clock.nowMs();
    deps.track(
      deps.store.confirmStepUp(subject, creditMs, nowMs).then(
        (cleared) => {
          deps.metrics.stepUps.inc({ via: 'upstream', result: cleared ? 'cleared' : 'no-challenge' });
          if (cleared) deps.logger.info({ identity: { kind: x.facts.identity.kind, id: subject }, via: 'upstream', creditUntilMs: nowMs + creditMs }, 'step-up cleared');
        },
        (err: unknown) => deps.problems.warn('step-up', { err: String(err) }, 'step-up confirmation not recorded: store unavailable'),
      ),
    );
  }

  responseBody(chunk: Buffer, endOfStream: boolean): ProcessingResponse {
    if (!this.sampling || !this.x) return CONTINUE.response_body;
    this.responseBytes += chunk.length;
    if (this.sampleBytes < SAMPLE_BYTES && chunk.length > 0) {
      const part = chunk.subarray(0, SAMPLE_BYTES - this.sampleBytes);
      this.sample.push(part);
      this.sampleBytes += part.length;
    }
    if (endOfStream) {
      this.sampling = false;
      const buf = Buffer.concat(this.sample);
      this.sample = [];
      this.x.sample = { bytes: buf.length, totalBytes: this.responseBytes, entropy: shannonEntropy(buf) };
      this.offPath(this.x, RESPONSE_BODY);
    }
    return CONTINUE.response_body;
  }

  close(): void {
    // A login whose body never came and whose response never came (reset, local reply): count it anyway.
    if (this.held) this.report(this.held.decision);
    this.held = null;
    this.body = [];
    this.sample = [];
  }

  /** Every final decision: counted and logged, then shown to the observer (replay) if there is one. */
  private report(decision: Decision): void {
    const { deps, about } = this;
    reportDecision(decision, about?.facts ?? null, deps.metrics, deps.logger, {
      group: about?.group,
      rule: about?.rule,
      rawPaths: deps.logRawPaths,
      sampler: { admit: (key, nowMs) => deps.logSampler.admit(key, nowMs), nowMs: deps.clock.nowMs() },
      ...(deps.logSignals ? { signals: this.evaluated, nearMiss: (identity, signals) => deps.nearMisses.admit(identity, signals, deps.clock.nowMs()) } : {}),
    });
    deps.onDecision?.({ decision, facts: about?.facts ?? null, endpointGroup: about?.group ?? null, unscored: about?.unscored ?? null, signals: this.evaluated });
  }

  /** One store round trip for some phases; a store failure is returned as a fail-open reason. */
  private async evaluate(x: Exchange, phases: readonly Phase[], nowMs: number, readIdentity: boolean): Promise<{ evaluation: Evaluation; failOpen: FailOpenReason | null }> {
    const { deps } = this;
    const policy = this.policy!;
    const detectors = policy.detectors;
    try {
      const options: EvaluateOptions = { readIdentity, escalation: policy.escalation };
      if (readIdentity) options.stepUp = stepUpFor(x.facts.claims, policy.stepUp);
      const evaluation = await evaluateDetectors(detectors, x, phases, deps.store, nowMs, options);
      runBackground(detectors, deps.store, nowMs, deps.backgroundFailed);
      this.count(x, evaluation, phases);
      return { evaluation, failOpen: null };
    } catch (err) {
      if (err instanceof StoreUnavailableError) return { evaluation: EMPTY_EVALUATION, failOpen: FAIL_OPEN[err.reason] };
      throw err;
    }
  }

  /** Response phases: started now, never awaited by a reply; they only update state. */
  private offPath(x: Exchange, phases: readonly Phase[]): void {
    const nowMs = this.deps.clock.nowMs();
    this.deps.track(
      this.evaluate(x, phases, nowMs, false).then(
        () => undefined,
        (err: unknown) => this.deps.problems.warn('internal', { err: String((err as Error)?.stack ?? err) }, 'response phase failed'),
      ),
    );
  }

  private count(x: Exchange, evaluation: Evaluation, phases: readonly Phase[]): void {
    const { metrics, logger } = this.deps;
    const phase = phases[phases.length - 1]!;
    if (evaluation.cleared) {
      metrics.stepUps.inc({ via: 'claims', result: 'cleared' });
      logger.info({ identity: { kind: x.facts.identity.kind, id: x.facts.identity.id }, via: 'claims', creditUntilMs: evaluation.creditUntilMs }, 'step-up cleared');
    }
    for (const s of evaluation.signals) {
      if (s.fired) metrics.signals.inc({ detector: s.detector, phase, shadow: String(s.shadow || this.deps.shadowMode) });
    }
    for (const p of evaluation.newPenalties) {
      metrics.penaltiesSet.inc({ detector: p.detector, action: p.action });
      const s = evaluation.signals.find((sig) => sig.detector === p.detector);
      logger.info(
        { subject: p.subject, detector: p.detector, action: p.action, escalationLevel: p.level, untilMs: p.untilMs, phase, signal: s ? { value: s.value, baseline: s.baseline, threshold: s.threshold, score: s.score, windowMs: s.windowMs } : null },
        'penalty set',
      );
    }
  }

  /**
   * A static path (`penalties: enforce`): no detector runs and nothing is counted, but the caller's
   * standing throttle or block penalty is read (one store call) and applies here too. A challenge does
   * not: the step-up page needs its assets.
   */
  private async standingPenalty(facts: RequestFacts, endpoint: Exchange['endpoint'], observe: boolean, nowMs: number): Promise<Decision> {
    const policy = this.policy!;
    const x: Exchange = { facts, endpoint, login: null, response: null, sample: null };
    let penalties: Evaluation['penalties'];
    try {
      ({ penalties } = await evaluateDetectors([], x, REQUEST, this.deps.store, nowMs, { readIdentity: true }));
    } catch (err) {
      if (err instanceof StoreUnavailableError) return failOpenDecision(FAIL_OPEN[err.reason], facts.identity.kind, policy.checksum);
      throw err;
    }
    const applying = penalties.filter((p) => p.action === 'throttle' || p.action === 'block');
    if (applying.length === 0) return allowDecision(facts.identity.kind, policy.checksum);
    return this.decideFor(facts, { signals: [], penalties: applying }, observe, nowMs, false);
  }

  private decide(evaluation: Evaluation, observe: boolean, nowMs: number): Decision {
    const x = this.x!;
    this.evaluated = evaluation.signals;
    return this.decideFor(x.facts, evaluation, observe, nowMs, x.endpoint.rule?.stepUp === true);
  }

  private decideFor(facts: RequestFacts, evaluation: Pick<Evaluation, 'signals' | 'penalties'> & Partial<Evaluation>, observe: boolean, nowMs: number, stepUpEndpoint: boolean): Decision {
    const policy = this.policy!;
    const decision = decide({
      evaluation,
      detectors: policy.detectors,
      // observability mode: Envoy ignores replies, so nothing can be enforced.
      globalShadow: this.deps.shadowMode || observe,
      identityKind: facts.identity.kind,
      identityId: facts.identity.id,
      stepUpEndpoint,
      policyChecksum: policy.checksum,
      nowMs,
    });
    // The store's view is this replica's own while the sync with the shared store fails.
    const degraded = this.deps.degraded?.();
    if (degraded) decision.degraded = degraded;
    return decision;
  }

  private replyContext(): ReplyContext {
    return replyContextOf(this.policy!, this.spoofed, this.about?.facts, this.x?.endpoint.rule);
  }

  private finishRequest(started: number, decision: Decision, which: RequestReplyKind, mode: ProcessingMode | undefined, final: boolean): ProcessingResponse {
    const { deps } = this;
    if (final) {
      this.report(decision);
      this.decided = decision;
    }
    let reply: ProcessingResponse;
    try {
      const ctx = this.replyContext();
      reply = which === 'request_headers' ? replyToRequestHeaders(decision, ctx, mode) : replyToRequest(which, decision, ctx);
    } catch (err) {
      deps.problems.warn('internal', { err: String(err) }, 'building the reply failed: allowing');
      reply = CONTINUE[which];
    }
    deps.metrics.decisionSeconds.observe((performance.now() - started) / 1000);
    return reply;
  }
}

/** API clients get the RFC 9470 401, browsers the policy's browser answer; an endpoint may say which. */
function replyContextOf(policy: Policy, spoofed: string[], facts: RequestFacts | undefined, rule: Exchange['endpoint']['rule'] | undefined): ReplyContext {
  const query = facts?.endpoint.query ?? '';
  return {
    responses: policy.responses,
    spoofed,
    challengeAs: rule?.challenge ?? (facts?.bearer === false ? 'browser' : 'api'),
    returnTo: `${facts?.endpoint.path ?? '/'}${query ? `?${query}` : ''}`,
  };
}

function isAllowlisted(policy: Policy, identityId: string, clientIp: string): boolean {
  return policy.allow.identities.has(identityId) || (policy.allow.cidrs.length > 0 && anyContains(policy.allow.cidrs, clientIp));
}


/** mode_override for this exchange, or undefined when the configured mode (bodies NONE) suits it. */
function modeFor(requestBody: boolean, responseBody: boolean): ProcessingMode | undefined {
  if (!requestBody && !responseBody) return undefined;
  return { request_body_mode: requestBody ? 'BUFFERED_PARTIAL' : 'NONE', response_body_mode: responseBody ? 'STREAMED' : 'NONE' };
}
