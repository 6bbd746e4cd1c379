import type { Action, Decision, Reason } from './types.js';

/**
 * The action a decision is counted and explained under: what vigil did, or what it would have done
 * when that was stronger and shadowed.
 */
export function countedAction(d: Decision): { action: Action; shadow: boolean } {
  return d.shadowAction !== null ? { action: d.shadowAction, shadow: true } : { action: d.action, shadow: false };
}

/** The reason behind the counted action (the first one giving it), or null for a plain allow. */
export function decidingReason(d: Decision): Reason | null {
  const { action, shadow } = countedAction(d);
  if (action === 'allow') return null;
  return d.reasons.find((r) => r.action === action && r.shadow === shadow && !r.excused) ?? d.reasons.find((r) => !r.excused) ?? null;
}

/**
 * One reason as a header value (x-vigil-reason): the detector, then key=value pairs, e.g.
 * `request-rate; signal=rate-z; value=412; baseline=38.2; threshold=3; score=9.1; window=60s; action=throttle`
 * with `; level=N`, `; canary=…` and `; shadow` when they apply. Printable ASCII only (detector and
 * signal names are policy- and code-bounded).
 */
export function reasonHeaderValue(r: Reason): string {
  const parts = [
    r.detector,
    `signal=${r.signal}`,
    `value=${r.value}`,
    `baseline=${r.baseline}`,
    `threshold=${r.threshold}`,
    `score=${r.score}`,
    `window=${Math.round(r.windowMs / 1000)}s`,
    `action=${r.action}`,
  ];
  if (r.level) parts.push(`level=${r.level}`);
  if (r.canary) parts.push(`canary=${r.canary}`);
  if (r.manual) parts.push(`by=${r.manual.by}`, `until=${new Date(r.penaltyUntilMs ?? 0).toISOString()}`);
  if (r.shadow) parts.push('shadow');
  return parts.join('; ');
}
