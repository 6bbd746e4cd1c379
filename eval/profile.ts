/**
 * The evaluation's profile rows: `vigil profile` run on each dataset (from policy/default.yaml, as the
 * CLI does without --from), and the policy it learned replayed on the same dataset like every other
 * policy. Besides the guards, two promises of docs/profile.md are checked against the default policy's
 * row of the same dataset: the learned policy acts on no caller of a benign set, and on an attack set
 * it flags and acts on at least as many callers as the default policy.
 */
import { join } from 'node:path';
import type { Policy } from '../src/policy/policy.js';
import { runProfile } from '../src/profile/run-profile.js';
import { DEFAULT_MIN_READ_PERCENT } from '../src/replay/input-check.js';
import { runReplay } from '../src/replay/run-replay.js';
import { figures } from './measure.js';
import type { EvalRow } from './report.js';

/** The policy column of the profile rows (and their guards' keys). */
export const PROFILE_POLICY = 'vigil profile (learned from the dataset)';

export interface DatasetRef {
  file: string;
  label: 'attack' | 'benign';
  what: string;
}

export async function profileRows(datasets: readonly DatasetRef[], root: string, base: Policy, baseRows: readonly EvalRow[]): Promise<{ rows: EvalRow[]; failures: string[] }> {
  const rows: EvalRow[] = [];
  const failures: string[] = [];
  for (const d of datasets) {
    const file = join(root, d.file);
    const learned = await runProfile({ files: [file], base, keepEndpoints: false, minReadPercent: DEFAULT_MIN_READ_PERCENT, noCost: true });
    const { records, summary } = await runReplay({ files: [file], mode: { kind: 'in-process', policy: learned.learned, shadow: false } });
    const f = figures(records, summary);
    rows.push({ dataset: d.file, label: d.label, what: d.what, policy: PROFILE_POLICY, figures: f });
    process.stdout.write(
      `${PROFILE_POLICY} × ${d.file} (${d.label}): ${learned.endpoints.length} endpoints learned (${learned.endpoints.map((e) => e.role).join(', ') || 'none'}); ${f.callers} callers, ${f.flagged} flagged, ${f.acted} acted on\n`,
    );
    if (summary.actions.error > 0 || summary.failOpen > 0) failures.push(`${PROFILE_POLICY} × ${d.file}: ${summary.actions.error} errors, ${summary.failOpen} fail-open decisions`);
    const ref = baseRows.find((r) => r.dataset === d.file)?.figures;
    if (d.label === 'benign' && f.acted > 0) failures.push(`${PROFILE_POLICY} × ${d.file}: the learned policy acts on ${f.acted} benign callers`);
    if (d.label === 'attack' && ref && (f.flagged < ref.flagged || f.acted < ref.acted)) {
      failures.push(`${PROFILE_POLICY} × ${d.file}: the learned policy flags ${f.flagged} and acts on ${f.acted} attackers, the default policy ${ref.flagged} and ${ref.acted}`);
    }
  }
  return { rows, failures };
}
