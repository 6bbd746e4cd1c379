/** The default output of `vigil replay`: a short report for a person (the summary's numbers, in words). */
import type { ActionCounts, FlaggedCaller, ReplaySummary } from './summary.js';

const n = (v: number): string => v.toLocaleString('en-US');

function actionLine(c: ActionCounts, withAllow: boolean): string {
  const parts = (['allow', 'tag', 'throttle', 'challenge', 'block', 'error'] as const)
    .filter((a) => (withAllow && a !== 'error') || c[a] > 0)
    .map((a) => `${a} ${n(c[a])}`);
  return parts.length > 0 ? parts.join(' · ') : 'none';
}

function span(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 172_800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}

/** When the strongest decision was shadowed: what was enforced on the caller all the same. */
function enforcedNote(f: FlaggedCaller): string {
  if (f.strongestEnforced === f.strongest) return '';
  return ` (shadowed; enforced: ${f.strongestEnforced === 'allow' ? 'nothing' : f.strongestEnforced})`;
}

export function humanReport(s: ReplaySummary, top = 10): string {
  const out: string[] = [];
  out.push(
    `vigil replay: ${n(s.requests)} requests, ${n(s.responses)} responses, ${n(s.exchanges)} exchanges replayed` +
      (s.problems.total > 0 ? `, ${n(s.problems.total)} input problems` : ''),
  );
  for (const i of s.inputs) {
    const udp = i.udpHttpRequests > 0 ? `, ${n(i.udpHttpRequests)} HTTP-over-UDP requests not replayed` : '';
    out.push(`  ${i.file} (${i.kind}): ${n(i.requests)} requests, ${n(i.responses)} responses, ${n(i.problems)} problems${udp}`);
  }
  const mode = s.mode === 'target' ? 'against a running vigil' : s.shadow ? 'in shadow mode' : 'enforcing';
  out.push(s.policy ? `policy ${s.policy.source} (checksum ${s.policy.checksum}), ${mode}` : `replayed ${mode}`);
  if (s.timing.firstRequest) {
    out.push(
      `capture ${s.timing.firstRequest} → ${s.timing.lastRequest} (${span(s.timing.captureSeconds)}); ` +
        `replayed in ${(s.timing.elapsedMs / 1000).toFixed(1)} s (${n(s.timing.exchangesPerSecond)} exchanges/s)`,
    );
  }
  out.push('', `actions: ${actionLine(s.actions, true)}`);
  out.push(`  enforced: ${actionLine(s.enforced, false)}; shadowed: ${actionLine(s.shadowed, false)}`);
  const unscored = Object.entries(s.unscored);
  if (unscored.length > 0) out.push(`  not scored: ${unscored.map(([k, v]) => `${k} ${n(v)}`).join(' · ')}`);
  if (s.failOpen > 0) out.push(`  failed open (no store answer): ${n(s.failOpen)}`);
  const errors = Object.entries(s.errors).sort(([, a], [, b]) => b - a);
  if (errors.length > 0) {
    out.push(`errors: ${n(s.actions.error)} of ${n(s.exchanges)} exchanges got no decision from vigil`);
    for (const [why, count] of errors) out.push(`  ${n(count)} × ${why}`);
  }
  const detectors = Object.entries(s.detectors).sort(([a], [b]) => a.localeCompare(b));
  if (detectors.length > 0) {
    out.push('by detector (exchanges it was behind, enforced or shadowed):');
    const width = Math.max(...detectors.map(([d]) => d.length));
    for (const [d, c] of detectors) out.push(`  ${d.padEnd(width)}  ${Object.entries(c).map(([a, v]) => `${a} ${n(v ?? 0)}`).join(' · ')}`);
  }
  out.push('', `flagged: ${n(s.flagged.length)} of ${n(s.callers)} callers`);
  for (const f of s.flagged.slice(0, top)) {
    const ips = f.clientIps > 1 ? ` (+${f.clientIps - 1} more IPs)` : '';
    out.push(
      `  ${f.identity} from ${f.clientIp}${ips}: ${f.strongest}${enforcedNote(f)}; first ${f.firstFlagged.action} at its request ${n(f.firstFlagged.request)} ` +
        `(${f.firstFlagged.time}); ${n(f.flaggedRequests)} of ${n(f.requests)} requests flagged; ${f.detectors.join(', ')}`,
    );
  }
  if (s.flagged.length > top) out.push(`  … and ${n(s.flagged.length - top)} more (--json lists them all)`);
  if (s.problems.total > 0) {
    out.push('', `input problems: ${Object.entries(s.problems.byKind).map(([k, v]) => `${k} ${n(v)}`).join(' · ')}`);
    for (const p of s.problems.first.slice(0, 5)) out.push(`  ${p.kind}: ${p.detail}`);
  }
  return `${out.join('\n')}\n`;
}
