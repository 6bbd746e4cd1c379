/**
 * `vigil profile`'s report: the human summary (stderr by default) and the `--json` document. Both say
 * the same things: the inputs, each learned endpoint with its evidence, each threshold with its
 * distribution and margin, the changes from the base policy, and the cost diff.
 */
import type { CallerOutcome } from './cost-diff.js';
import type { ProfileResult } from './run-profile.js';

const n = (v: number): string => v.toLocaleString('en-US');

function outcome(o: CallerOutcome): string {
  if (o.action === 'allow') return 'allowed';
  return `${o.action} (${o.detectors.join(', ')}; from its request ${o.firstFlagged})`;
}

export function humanReport(r: ProfileResult, top = 20): string {
  const out: string[] = [];
  out.push(`vigil profile: ${n(r.exchanges)} exchanges from ${n(r.callers)} callers in ${r.inputs.map((i) => `${i.file} (${i.kind})`).join(', ')}`);
  out.push('', `Endpoints learned (${r.endpoints.length}):`);
  if (r.endpoints.length === 0) out.push('  none: no static assets, logins, object reads or exports recognised');
  for (const e of r.endpoints) {
    out.push(`  ${e.name}: ${e.role}, ${e.methods.join(',')} ${e.paths.slice(0, 4).join(' ')}${e.paths.length > 4 ? ` … (${e.paths.length} paths)` : ''} — ${n(e.requests)} requests, ${n(e.callers)} callers`);
    for (const line of e.evidence) out.push(`    ${line}`);
  }
  out.push('', 'Thresholds (each caller\'s busiest window; p50 / p99 / max over callers):');
  for (const t of r.thresholds) {
    const kinds = Object.entries(t.byKind).map(([k, d]) => `${k} ${d.p50}/${d.p99}/${d.max} (${n(d.callers)})`).join(', ');
    const verdict = t.recommended === t.current ? `kept ${t.current}` : `${t.current} → ${t.recommended}`;
    out.push(`  ${t.detector}.${t.key}: ${verdict}; ${t.what} per ${t.window}: ${t.all.p50} / ${t.all.p99} / ${t.all.max}${kinds ? ` [${kinds}]` : ''}`);
    out.push(`    ${t.margin}${t.above > 0 ? `; ${n(t.above)} caller(s) above it in this traffic` : ''}`);
  }
  out.push('', 'Changes from the base policy:');
  for (const c of r.changes) out.push(`  ${c}`);
  if (r.cost) {
    const c = r.cost;
    out.push('', `Cost diff: the same traffic replayed with each policy (${n(c.callers)} callers):`);
    out.push(`  base policy:    ${n(c.base.flagged)} flagged, ${n(c.base.acted)} acted on`);
    out.push(`  learned policy: ${n(c.learned.flagged)} flagged, ${n(c.learned.acted)} acted on`);
    if (c.diff.length === 0) out.push(`  no caller is treated differently${c.same > 0 ? ` (${n(c.same)} flagged the same by both)` : ''}`);
    for (const d of c.diff.slice(0, top)) {
      const sign = d.change === 'new' ? '+' : d.change === 'gone' ? '-' : '~';
      out.push(`  ${sign} ${d.caller} (${d.clientIp}, ${n(d.requests)} requests): base ${outcome(d.base)}; learned ${outcome(d.learned)}`);
    }
    if (c.diff.length > top) out.push(`  … ${n(c.diff.length - top)} more (--json lists all)`);
  }
  return `${out.join('\n')}\n`;
}

/** The `--json` document: the report's content, and the policy text itself. */
export function jsonReport(r: ProfileResult): unknown {
  return {
    inputs: r.inputs,
    exchanges: r.exchanges,
    callers: r.callers,
    endpoints: r.endpoints,
    thresholds: r.thresholds,
    changes: r.changes,
    cost: r.cost,
    policy: r.policyText,
  };
}
