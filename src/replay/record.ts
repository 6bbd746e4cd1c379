/**
 * One replayed exchange and what vigil made of it: the unit of `--decisions`, the summary, the human
 * report and `--expect`. Built from the decision vigil reported in-process (full reasons), or from the
 * wire alone when replaying against a running vigil (`--target`).
 */
import type { Action, Reason } from '../decision/types.js';
import { ACTION_ORDER } from '../decision/types.js';
import { evaluatedSignal } from '../obs/decision-report.js';
import type { DecisionEvent, EvaluatedSignal } from '../obs/decision-report.js';
import type { SimResult } from '../envoy-sim/index.js';
import { failureOf } from '../envoy-sim/index.js';
import type { IdentityKind } from '../request/types.js';
import { splitTarget } from './to-sim-exchange.js';
import type { ReplayExchange } from './types.js';
import type { WireOutcome } from './wire-outcome.js';

export interface ReplayRecord {
  /** Position in replay order (all inputs merged by time), 0-based. */
  i: number;
  tsUs: number;
  /** Input file and place in it: 'shop.pcap conn 3', 'access.log line 17'. */
  origin: string;
  clientIp: string;
  /** null when replaying against a running vigil, which does not say whom it resolved. */
  identity: { kind: IdentityKind; id: string } | null;
  method: string;
  /** The request path without its query. */
  path: string;
  /** vigil's path template (`/orders/{id}`), or null when not known (`--target`). */
  template: string | null;
  /** The policy's endpoint group, or null when not known. */
  endpoint: string | null;
  /** The captured response status; null when the input holds no response. */
  status: number | null;
  /**
   * What vigil enforced: what the client's request got ('allow' when every candidate was shadowed);
   * 'error' when the exchange failed.
   */
  action: Action | 'error';
  /** True when `action` is a non-allow action (it was enforced). */
  enforced: boolean;
  /** The enforced detectors behind `action` (several when they agree). */
  detectors: string[];
  /**
   * What vigil would have done had nothing been shadowed, when that is stronger than `action` (a
   * shadow detector, canary or global shadow mode); else null. An exchange can have both: throttled
   * by a standing penalty while a stronger shadow detector would block it.
   */
  shadowAction: Action | null;
  /** The shadowed detectors behind `shadowAction` (empty when it is null). */
  shadowDetectors: string[];
  /** Each contributing detector in its own terms (in-process only; empty with `--target`). */
  reasons: Reason[];
  /** 'static' or 'allowlist' when vigil did not score the request. */
  unscored: string | null;
  /** Set when the decision was made without the store. */
  failOpen: string | null;
  /** What the client got in the replay: the status and who produced it. */
  outcome: { status: number; by: 'upstream' | 'vigil' | 'envoy' };
  /** With action 'error': why vigil decided nothing (src/envoy-sim/failure.ts); else null. */
  error: string | null;
  /**
   * With --signals (in-process only): every signal evaluated for the decision, fired or not, so a near
   * miss shows how near it was. Absent otherwise (a replay keeps its records in memory).
   */
  signals?: EvaluatedSignal[];
}

function pathOf(x: ReplayExchange): string {
  const { path } = splitTarget(x.request.target);
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

function outcomeOf(r: SimResult): ReplayRecord['outcome'] {
  if (r.outcome === 'passed') return { status: r.client.status, by: 'upstream' };
  if (r.outcome === 'immediate-response') return { status: r.client.status, by: 'vigil' };
  return { status: r.client.status, by: 'envoy' };
}

function base(i: number, x: ReplayExchange, r: SimResult) {
  return {
    i,
    tsUs: x.tsUs,
    origin: x.origin,
    clientIp: x.clientIp,
    method: x.request.method.toUpperCase(),
    path: pathOf(x),
    status: x.response?.status ?? null,
    outcome: outcomeOf(r),
  };
}

const errorOf = (action: Action | 'error', r: SimResult): string | null => (action === 'error' ? (failureOf(r) ?? 'no decision from vigil') : null);

/** The detectors of a decision's reasons that gave `action`, enforced or shadowed, once each. */
function detectorsBehind(reasons: readonly Reason[], action: Action, shadow: boolean): string[] {
  return [...new Set(reasons.filter((r) => r.action === action && r.shadow === shadow && !r.excused).map((r) => r.detector))];
}

/**
 * In-process: the decision event vigil reported for this exchange (null: none was reported); with
 * `withSignals`, the record keeps every signal evaluated for it.
 */
export function recordFromDecision(i: number, x: ReplayExchange, r: SimResult, event: DecisionEvent | null, withSignals = false): ReplayRecord {
  const failed = r.outcome === 'reset' || (r.outcome === 'local-reply' && !r.details?.startsWith('vigil_'));
  const d = failed ? undefined : event?.decision;
  const action: Action | 'error' = failed ? 'error' : (d?.action ?? 'allow');
  const shadowAction = d?.shadowAction ?? null;
  return {
    ...base(i, x, r),
    identity: event?.facts ? { kind: event.facts.identity.kind, id: event.facts.identity.id } : null,
    template: event?.facts?.endpoint.template ?? null,
    endpoint: event?.endpointGroup ?? null,
    action,
    enforced: action !== 'allow' && action !== 'error',
    detectors: d && d.action !== 'allow' ? detectorsBehind(d.reasons, d.action, false) : [],
    shadowAction,
    shadowDetectors: d && shadowAction ? detectorsBehind(d.reasons, shadowAction, true) : [],
    reasons: event?.decision.reasons ?? [],
    unscored: event?.unscored ?? null,
    failOpen: d?.failOpen ?? null,
    error: errorOf(action, r),
    ...(withSignals ? { signals: (event?.signals ?? []).map(evaluatedSignal) } : {}),
  };
}

/** `--target`: only what the wire shows (x-vigil-* headers, vigil's immediate responses). */
export function recordFromWire(i: number, x: ReplayExchange, r: SimResult, wire: WireOutcome): ReplayRecord {
  const action = wire.action;
  const shadowAction = action === 'error' ? null : wire.shadowAction;
  return {
    ...base(i, x, r),
    identity: null,
    template: null,
    endpoint: null,
    action,
    enforced: action !== 'allow' && action !== 'error',
    detectors: action === 'allow' || action === 'error' ? [] : wire.detectors,
    shadowAction,
    shadowDetectors: shadowAction ? wire.shadowDetectors : [],
    reasons: [],
    unscored: null,
    failOpen: null,
    error: errorOf(action, r),
  };
}

/**
 * What vigil decided for the exchange, enforced or shadowed: the shadowed action when there is one
 * (it is the stronger), else the enforced one. "What would full enforcement do", the question a
 * shadow replay asks; the summary's `actions`, flagged callers and `--expect` read it.
 */
export function decided(r: ReplayRecord): Action | 'error' {
  return r.shadowAction ?? r.action;
}

/** The detectors behind an exchange's decision, enforced and shadowed, once each. */
export function decidingDetectors(r: ReplayRecord): string[] {
  return r.shadowDetectors.length === 0 ? r.detectors : [...new Set([...r.detectors, ...r.shadowDetectors])];
}

/** The key a record's caller is counted under: its identity pseudonym, else its client IP. */
export function callerOf(r: ReplayRecord): string {
  return r.identity?.id ?? `ip ${r.clientIp}`;
}

/** An action's rank in ACTION_ORDER; a failed exchange ranks below allow. */
export function force(a: Action | 'error'): number {
  return a === 'error' ? -1 : ACTION_ORDER.indexOf(a);
}

/** Records grouped by caller (callerOf), each group in replay order. */
export function byCaller(records: readonly ReplayRecord[]): Map<string, ReplayRecord[]> {
  const groups = new Map<string, ReplayRecord[]>();
  for (const r of records) {
    const key = callerOf(r);
    const list = groups.get(key);
    if (list) list.push(r);
    else groups.set(key, [r]);
  }
  return groups;
}
