/** One `--decisions` line: a replayed exchange and vigil's decision, as JSON. */
import type { ReplayRecord } from './record.js';
import { isoOf } from './summary.js';

export function decisionLine(r: ReplayRecord): string {
  return JSON.stringify({
    time: isoOf(r.tsUs),
    i: r.i,
    origin: r.origin,
    clientIp: r.clientIp,
    identity: r.identity,
    method: r.method,
    path: r.path,
    template: r.template,
    endpoint: r.endpoint,
    status: r.status,
    action: r.action,
    enforced: r.enforced,
    detectors: r.detectors,
    shadowed: r.shadowAction !== null,
    shadowAction: r.shadowAction,
    shadowDetectors: r.shadowDetectors,
    reasons: r.reasons.map((x) => ({
      detector: x.detector,
      signal: x.signal,
      value: x.value,
      baseline: x.baseline,
      threshold: x.threshold,
      score: x.score,
      windowMs: x.windowMs,
      action: x.action,
      shadow: x.shadow,
      ...(x.penaltyUntilMs !== undefined ? { penaltyUntil: isoOf(x.penaltyUntilMs * 1000) } : {}),
    })),
    unscored: r.unscored,
    failOpen: r.failOpen,
    outcome: r.outcome,
    error: r.error,
    ...(r.signals ? { signals: r.signals } : {}),
  });
}
