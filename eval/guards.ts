/**
 * Regression guards for the evaluation: per dataset and policy, benign sets may not flag or act on
 * more callers than recorded, attack sets may not flag or act on fewer, nor take more requests to do
 * it. Improvements pass (and are reported, so the guard can be tightened with --update-guards).
 */
import type { EvalRow } from './report.js';

export interface Guard {
  label: 'attack' | 'benign';
  /** benign: at most this many. */
  maxFlagged?: number;
  maxActed?: number;
  /** attack: at least this many, and no slower (median requests to the first flag). */
  minFlagged?: number;
  minActed?: number;
  maxMedianRequestsToFlag?: number | null;
}

export type Guards = Record<string, Guard>;

export const guardKey = (row: Pick<EvalRow, 'dataset' | 'policy'>): string => `${row.policy} × ${row.dataset}`;

function current(row: EvalRow): Guard {
  const f = row.figures;
  return row.label === 'benign'
    ? { label: 'benign', maxFlagged: f.flagged, maxActed: f.acted }
    : { label: 'attack', minFlagged: f.flagged, minActed: f.acted, maxMedianRequestsToFlag: f.medianRequestsToFlag };
}

export function checkGuards(rows: readonly EvalRow[], guards: Guards): { problems: string[]; updated: Guards } {
  const problems: string[] = [];
  const updated: Guards = {};
  for (const row of rows) {
    const key = guardKey(row);
    updated[key] = current(row);
    const g = guards[key];
    const f = row.figures;
    if (!g) {
      problems.push(`${key}: no guard recorded (run npm run eval -- --update-guards and commit eval/guards.json)`);
      continue;
    }
    if (g.maxFlagged !== undefined && f.flagged > g.maxFlagged) problems.push(`${key}: ${f.flagged} benign callers flagged, guard allows ${g.maxFlagged}`);
    if (g.maxActed !== undefined && f.acted > g.maxActed) problems.push(`${key}: ${f.acted} benign callers acted on, guard allows ${g.maxActed}`);
    if (g.minFlagged !== undefined && f.flagged < g.minFlagged) problems.push(`${key}: ${f.flagged} attackers flagged, guard requires ${g.minFlagged}`);
    if (g.minActed !== undefined && f.acted < g.minActed) problems.push(`${key}: ${f.acted} attackers acted on, guard requires ${g.minActed}`);
    if (g.maxMedianRequestsToFlag != null && (f.medianRequestsToFlag === null || f.medianRequestsToFlag > g.maxMedianRequestsToFlag)) {
      problems.push(`${key}: median requests to the first flag ${f.medianRequestsToFlag ?? 'never'}, guard allows ${g.maxMedianRequestsToFlag}`);
    }
  }
  return { problems, updated };
}
