/**
 * Expectations vs observed decisions. Pure: returns every failed assertion, each with what was expected
 * and what happened; formatFailures turns them into a readable report with the client's decisions
 * run by run. Indexes are 0-based within the client's own requests, in time order.
 */
import type { CountSpec, Expectation, FlagSpec, ObservedDecision } from './types.js';

export interface Failure {
  where: string;
  client: string;
  assertion: string;
  expected: string;
  got: string;
}

const flagged = (d: ObservedDecision): boolean => d.action !== 'allow';
const shadowFlagged = (d: ObservedDecision): boolean => d.shadowAction !== null;

function describeDecision(d: ObservedDecision, shadow: boolean): string {
  const [action, names] = shadow ? [d.shadowAction, d.shadowDetectors] : [d.action, d.detectors];
  return `#${d.n} ${action}${names.length > 0 ? ` [${names.join(',')}]` : ''}`;
}

function describeFlag(spec: FlagSpec): string {
  const parts = [spec.action ?? 'any non-allow action'];
  if (spec.atLeast !== null && spec.atMost !== null) {
    parts.push(spec.atLeast === spec.atMost ? `at #${spec.atLeast}` : `at #${spec.atLeast}..#${spec.atMost}`);
  } else if (spec.atLeast !== null) parts.push(`at #${spec.atLeast} or later`);
  else if (spec.atMost !== null) parts.push(`at #${spec.atMost} or earlier`);
  return parts.join(' ');
}

function checkFlag(spec: FlagSpec, mine: ObservedDecision[], shadow: boolean): string | null {
  const first = mine.find(shadow ? shadowFlagged : flagged);
  if (!first) return `never ${shadow ? 'shadow-' : ''}flagged in ${mine.length} requests`;
  const action = shadow ? first.shadowAction : first.action;
  const ok =
    (spec.action === null || spec.action === action) &&
    (spec.atLeast === null || first.n >= spec.atLeast) &&
    (spec.atMost === null || first.n <= spec.atMost);
  return ok ? null : `first ${shadow ? 'shadow-' : ''}flagged: ${describeDecision(first, shadow)}`;
}

const inRange = (c: number, spec: CountSpec): boolean => c >= spec.min && c <= spec.max;

export function checkExpectations(expectations: readonly Expectation[], decisions: readonly ObservedDecision[]): Failure[] {
  const failures: Failure[] = [];
  for (const e of expectations) {
    const mine = decisions.filter((d) => d.client === e.client);
    const fail = (assertion: string, expected: string, got: string) => failures.push({ where: e.where, client: e.client, assertion, expected, got });

    if (e.firstFlagged) {
      const got = checkFlag(e.firstFlagged, mine, false);
      if (got) fail('first_flagged', describeFlag(e.firstFlagged), got);
    }
    if (e.neverFlagged) {
      const hits = mine.filter(flagged);
      if (hits.length > 0) fail('never_flagged', `no request flagged (of ${mine.length})`, `${hits.length} flagged, first ${describeDecision(hits[0]!, false)}`);
    }
    if (e.shadowFlagged === false) {
      const hits = mine.filter(shadowFlagged);
      if (hits.length > 0) fail('shadow_flagged', `no request shadow-flagged (of ${mine.length})`, `${hits.length} shadow-flagged, first ${describeDecision(hits[0]!, true)}`);
    } else if (e.shadowFlagged) {
      const got = checkFlag(e.shadowFlagged, mine, true);
      if (got) fail('shadow_flagged', describeFlag(e.shadowFlagged), got);
    }
    if (e.actions) {
      const counts = new Map<string, number>();
      for (const d of mine) counts.set(d.action, (counts.get(d.action) ?? 0) + 1);
      const wrong = [...e.actions].filter(([action, spec]) => !inRange(counts.get(action) ?? 0, spec));
      if (wrong.length > 0) {
        const expected = wrong.map(([action, spec]) => `${action} ${spec.text}`).join(', ');
        const got = [...counts].map(([action, c]) => `${action} ${c}`).join(', ') || 'no requests';
        fail('actions', expected, got);
      }
    }
    if (e.detectors.length > 0) {
      const shadow = e.shadowFlagged !== null && e.shadowFlagged !== false;
      const seen = new Set(mine.filter(shadow ? shadowFlagged : flagged).flatMap((d) => (shadow ? d.shadowDetectors : d.detectors)));
      const missing = e.detectors.filter((name) => !seen.has(name));
      if (missing.length > 0) {
        fail('detectors', `${e.detectors.join(', ')} among the reasons of ${shadow ? 'shadow-' : ''}flagged requests`, seen.size > 0 ? [...seen].join(', ') : 'no reasons at all');
      }
    }
  }
  return failures;
}

interface Run {
  from: ObservedDecision;
  to: ObservedDecision;
  label: string;
  count: number;
}

function label(d: ObservedDecision): string {
  let s = d.action as string;
  if (d.detectors.length > 0) s += ` [${d.detectors.join(',')}]`;
  if (d.shadowAction) s += ` shadow ${d.shadowAction}${d.shadowDetectors.length > 0 ? ` [${d.shadowDetectors.join(',')}]` : ''}`;
  return s;
}

export function formatOffset(ms: number): string {
  const sign = ms < 0 ? '-' : '+';
  let rest = Math.abs(ms);
  const days = Math.floor(rest / 86_400_000);
  rest -= days * 86_400_000;
  const h = Math.floor(rest / 3_600_000);
  const m = Math.floor((rest % 3_600_000) / 60_000);
  const s = ((rest % 60_000) / 1000).toFixed(3).padStart(6, '0');
  return `${sign}${days > 0 ? `${days}d` : ''}${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${s}`;
}

/** The client's decisions as runs of equal outcome: "#0..#118 allow ×119 (+00:20:00.000..)". */
export function describeRuns(mine: readonly ObservedDecision[], startMs: number, maxRuns = 12): string[] {
  const runs: Run[] = [];
  for (const d of mine) {
    const l = label(d);
    const last = runs[runs.length - 1];
    if (last && last.label === l) {
      last.to = d;
      last.count++;
    } else runs.push({ from: d, to: d, label: l, count: 1 });
  }
  const lines = runs.slice(0, maxRuns).map((r) => {
    const span = r.count === 1 ? `#${r.from.n}` : `#${r.from.n}..#${r.to.n}`;
    const at = r.count === 1 ? formatOffset(r.from.atMs - startMs) : `${formatOffset(r.from.atMs - startMs)}..${formatOffset(r.to.atMs - startMs)}`;
    return `${span.padEnd(14)} ${`${r.label} ×${r.count}`.padEnd(40)} ${at}`;
  });
  if (runs.length > maxRuns) lines.push(`… ${runs.length - maxRuns} more runs`);
  return lines;
}

export function formatFailures(scenario: string, failures: readonly Failure[], decisions: readonly ObservedDecision[], startMs: number): string {
  const out = [`${scenario}: ${failures.length} expectation(s) failed`];
  const shown = new Set<string>();
  for (const f of failures) {
    out.push('', `  ${f.where}  client ${f.client}: ${f.assertion}`, `    expected: ${f.expected}`, `    got:      ${f.got}`);
    if (shown.has(f.client)) continue;
    shown.add(f.client);
    const mine = decisions.filter((d) => d.client === f.client);
    out.push(`    ${f.client}'s ${mine.length} requests (index, outcome × count, time from start):`);
    for (const line of describeRuns(mine, startMs)) out.push(`      ${line}`);
  }
  return out.join('\n');
}
