/**
 * One SimResult (plus the decision log lines vigil wrote while handling it, when they can be read) →
 * what vigil decided, as the wire shows it. Replay uses it against a vigil it did not start
 * (`--target`), where the wire is all there is; the scenario harness uses it with the log lines.
 *
 * The wire says what was enforced: vigil's immediate responses carry the details vigil_throttle,
 * vigil_challenge or vigil_block (src/extproc/respond.ts); a request that reached the upstream was
 * allowed, or tagged when vigil added x-vigil-action: tag; x-vigil-shadow-action names a shadowed
 * decision. Reasons come from the `decision` log line (src/obs/decision-report.ts), which vigil writes
 * for every non-allow decision, enforced or shadowed; the x-vigil-*-detectors headers are used when
 * present. Anything else (an ext_proc error reply, a reset) is an 'error', and so is an exchange Envoy
 * let through only because vigil failed (failure_mode_allow: the stream failed or timed out): vigil
 * decided nothing, so it is no allow.
 */
import type { Action } from '../decision/types.js';
import { ACTION_ORDER } from '../decision/types.js';
import type { SimResult } from '../envoy-sim/index.js';

export const LOCAL_REPLY_ACTIONS: Readonly<Record<string, Action>> = {
  vigil_throttle: 'throttle',
  vigil_challenge: 'challenge',
  vigil_block: 'block',
};

export interface WireOutcome {
  /** The enforced action; 'error' when the exchange neither passed nor got a vigil reply. */
  action: Action | 'error';
  /** The status the client received. */
  status: number;
  /** Envoy's response code details. */
  details: string | undefined;
  /** Detectors behind the enforced action (empty for allow). */
  detectors: string[];
  /** What vigil would have done without shadowing, when stronger than `action`. */
  shadowAction: Action | null;
  shadowDetectors: string[];
}

interface LogReason {
  detector?: unknown;
  shadow?: unknown;
}

const asAction = (v: unknown): Action | null => ((ACTION_ORDER as readonly unknown[]).includes(v) ? (v as Action) : null);

const splitNames = (v: string | undefined): string[] | null => (v === undefined ? null : v.split(',').filter((s) => s !== ''));

function reasonNames(line: Record<string, unknown> | undefined, shadow: boolean): string[] {
  const reasons = Array.isArray(line?.['reasons']) ? (line['reasons'] as LogReason[]) : [];
  const names = reasons.filter((r) => r.shadow === shadow && typeof r.detector === 'string').map((r) => r.detector as string);
  return [...new Set(names)];
}

/** `decisionLines`: the `msg: "decision"` log lines written during this exchange (at most one is expected). */
export function classify(r: SimResult, decisionLines: Array<Record<string, unknown>> = []): WireOutcome {
  const line = decisionLines[decisionLines.length - 1];
  const enforcedLine = line?.['enforced'] === true ? line : undefined;
  const shadowLine = line?.['shadow'] === true ? line : undefined;
  const upstream = r.upstreamRequest?.headers;
  const get = (name: string): string | undefined => upstream?.find(([k]) => k === name)?.[1];

  let action: Action | 'error';
  const local = r.details !== undefined ? LOCAL_REPLY_ACTIONS[r.details] : undefined;
  if (r.stats.failure_mode_allowed > 0) action = 'error';
  else if (local && !r.upstreamRequest) action = local;
  else if (!r.upstreamRequest) action = 'error';
  else if (get('x-vigil-action') === 'tag' || asAction(enforcedLine?.['action']) === 'tag') action = 'tag';
  else action = 'allow';

  const detectors = action === 'allow' || action === 'error' ? [] : splitNames(get('x-vigil-detectors')) ?? reasonNames(enforcedLine ?? line, false);

  const shadowAction = asAction(get('x-vigil-shadow-action')) ?? asAction(shadowLine?.['action']);
  const shadowDetectors = shadowAction === null ? [] : splitNames(get('x-vigil-shadow-detectors')) ?? reasonNames(shadowLine, true);

  return { action, status: r.client.status, details: r.details, detectors, shadowAction, shadowDetectors };
}
