/** What `vigil admin` prints without --json (admin.ts): tables and short sentences from the API's answers. */

export interface PenaltyView {
  subject: string;
  action: string;
  detector: string;
  score: number;
  level: number;
  until: string | null;
  expiresInS: number;
}

export interface RuleView {
  target: string;
  kind: string;
  action: string;
  reason: string;
  by: string;
  until: string | null;
  expiresInS: number;
}

export function json(body: unknown): string {
  return JSON.stringify(body, null, 2);
}

/** 3725 → `1h2m5s`. */
export function human(s: number): string {
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return `${d ? `${d}d` : ''}${h ? `${h}h` : ''}${m ? `${m}m` : ''}${r || s === 0 ? `${r}s` : ''}`;
}

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(head), ...rows.map(line)].join('\n');
}

export function penaltiesTable(list: PenaltyView[]): string {
  if (list.length === 0) return 'no active penalties';
  return table(
    ['SUBJECT', 'ACTION', 'DETECTOR', 'LEVEL', 'EXPIRES IN', 'UNTIL'],
    list.map((p) => [p.subject, p.action, p.detector, String(p.level), human(p.expiresInS), p.until ?? '']),
  );
}

export function rulesTable(list: RuleView[]): string {
  if (list.length === 0) return 'no manual rules';
  return table(
    ['TARGET', 'KIND', 'ACTION', 'EXPIRES IN', 'UNTIL', 'BY', 'REASON'],
    list.map((r) => [r.target, r.kind, r.action, human(r.expiresInS), r.until ?? '', r.by, r.reason]),
  );
}

export function inspectText(body: Record<string, any>): string {
  const subjects: Array<Record<string, any>> = body.ip !== undefined ? body.subjects : [body];
  const out: string[] = [];
  if (body.ip !== undefined) {
    const m = body.manual as RuleView | null;
    out.push(`ip ${body.ip}: ${m ? `manual ${m.action} of ${m.target} until ${m.until} by ${m.by}${m.reason ? ` (${m.reason})` : ''}` : 'no manual rule'}`);
  }
  for (const s of subjects) {
    const p = s.penalty as PenaltyView | null;
    out.push(`${s.subject}`);
    out.push(`  penalty   ${p ? `${p.action} by ${p.detector}, level ${p.level}, until ${p.until} (${human(p.expiresInS)})` : 'none'}`);
    out.push(`  strikes   ${s.strikes ? `${s.strikes.n}, last ${s.strikes.last}` : 'none'}`);
    out.push(`  credit    ${s.creditUntil ?? 'none'}`);
    const state = (s.state as Array<{ key: string; ttlMs: number; value: Record<string, number> }>) ?? [];
    out.push(`  state     ${state.length === 0 ? 'none' : ''}`.trimEnd());
    for (const k of state) out.push(`    ${k.key}  ${Object.entries(k.value).map(([a, b]) => `${a}=${b}`).join(' ')}  (ttl ${Math.max(0, Math.round(k.ttlMs / 1000))}s)`);
  }
  return out.join('\n');
}
