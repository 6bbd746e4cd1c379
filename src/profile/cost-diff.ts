/**
 * What the learned policy costs and buys, shown before it is enforced: the same traffic replayed
 * in-process (replay/play-in-process.ts: the real gRPC server, embedded store, the input's own clock,
 * enforcing) once with the base policy and once with the learned one, and per caller the strongest
 * action each gave and the detectors behind it. The diff lists every caller whose outcome differs;
 * callers both leave alone are only counted.
 */
import type { Action } from '../decision/types.js';
import type { Policy } from '../policy/policy.js';
import { playInProcess } from '../replay/play-in-process.js';
import { byCaller, decided, decidingDetectors, force } from '../replay/record.js';
import type { ReplayRecord } from '../replay/record.js';
import type { ReplayExchange } from '../replay/types.js';

export interface CallerOutcome {
  action: Action;
  detectors: string[];
  /** The caller's own request number of the first non-allow decision (1-based), or null. */
  firstFlagged: number | null;
}

export interface CallerDiff {
  caller: string;
  clientIp: string;
  requests: number;
  base: CallerOutcome;
  learned: CallerOutcome;
  /** learned flags it and base did not; base did and learned does not; both, differently. */
  change: 'new' | 'gone' | 'changed';
}

export interface PolicyResult {
  flagged: number;
  acted: number;
  errors: number;
}

export interface CostDiff {
  callers: number;
  base: PolicyResult;
  learned: PolicyResult;
  /** Callers whose outcome differs, new first, then by request count. */
  diff: CallerDiff[];
  /** Callers flagged the same way by both. */
  same: number;
}

const ACTED = new Set<Action>(['throttle', 'challenge', 'block']);

function outcomes(records: readonly ReplayRecord[]): Map<string, { clientIp: string; requests: number; outcome: CallerOutcome }> {
  const out = new Map<string, { clientIp: string; requests: number; outcome: CallerOutcome }>();
  for (const [caller, rs] of byCaller(records)) {
    let action: Action = 'allow';
    const detectors = new Set<string>();
    let first: number | null = null;
    rs.forEach((r, i) => {
      // What each policy decided, enforced or shadowed (record.ts `decided`): a shadow detector's catch counts.
      const a = decided(r);
      if (a === 'error' || a === 'allow') return;
      if (first === null) first = i + 1;
      if (force(a) > force(action)) action = a;
      for (const d of decidingDetectors(r)) detectors.add(d);
    });
    out.set(caller, { clientIp: rs[0]!.clientIp, requests: rs.length, outcome: { action, detectors: [...detectors].sort(), firstFlagged: first } });
  }
  return out;
}

function result(records: readonly ReplayRecord[], per: ReturnType<typeof outcomes>): PolicyResult {
  const all = [...per.values()].map((v) => v.outcome.action);
  return { flagged: all.filter((a) => a !== 'allow').length, acted: all.filter((a) => ACTED.has(a)).length, errors: records.filter((r) => r.action === 'error').length };
}

export async function costDiff(exchanges: readonly ReplayExchange[], base: Policy, learned: Policy, keySecret?: string): Promise<CostDiff> {
  const secret = keySecret ? { keySecret } : {};
  const a = (await playInProcess(exchanges, { policy: base, shadow: false, ...secret })).records;
  const b = (await playInProcess(exchanges, { policy: learned, shadow: false, ...secret })).records;
  const pa = outcomes(a);
  const pb = outcomes(b);
  const diff: CallerDiff[] = [];
  let same = 0;
  for (const [caller, x] of pa) {
    const y = pb.get(caller)!;
    const before = x.outcome;
    const after = y.outcome;
    if (before.action === after.action && before.detectors.join() === after.detectors.join()) {
      if (before.action !== 'allow') same++;
      continue;
    }
    const change = before.action === 'allow' ? 'new' : after.action === 'allow' ? 'gone' : 'changed';
    diff.push({ caller, clientIp: x.clientIp, requests: x.requests, base: before, learned: after, change });
  }
  const rank = { new: 0, changed: 1, gone: 2 } as const;
  diff.sort((p, q) => rank[p.change] - rank[q.change] || q.requests - p.requests);
  return { callers: pa.size, base: result(a, pa), learned: result(b, pb), diff, same };
}
