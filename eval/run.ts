/**
 * `npm run eval`: replays every third-party dataset in ../shared/datasets (eval/datasets.yaml says
 * which are attacks and which benign) with the default policy and every policy in test/eval/, runs
 * `vigil profile` on each and replays the policy it learned (eval/profile.ts), checks the capture
 * readers' counts against tshark, writes docs/evaluation.md, and fails when a figure got worse than
 * its guard in eval/guards.json (`npm run eval -- --update-guards` records the current ones).
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { defaultPolicyPath, projectRoot } from '../src/paths.js';
import { loadPolicyFile } from '../src/policy/load.js';
import type { Policy } from '../src/policy/policy.js';
import { readInput } from '../src/replay/read-input.js';
import { runReplay } from '../src/replay/run-replay.js';
import { checkGuards, type Guards } from './guards.js';
import { figures, type Figures } from './measure.js';
import { profileRows } from './profile.js';
import { evaluationMarkdown, type CountRow, type EvalRow } from './report.js';
import { tsharkCounts, tsharkVersion } from './tshark.js';

interface Dataset {
  file: string;
  label: 'attack' | 'benign';
  what: string;
}

function loadDatasets(): Dataset[] {
  const doc = parseYaml(readFileSync(join(projectRoot, 'eval', 'datasets.yaml'), 'utf8')) as { datasets: Dataset[] };
  return doc.datasets;
}

function policies(): Policy[] {
  const dir = join(projectRoot, 'test', 'eval');
  const extra = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort() : [];
  return [loadPolicyFile(defaultPolicyPath), ...extra.map((f) => loadPolicyFile(join(dir, f)))];
}

const isCapture = (file: string): boolean => /\.pcap(ng)?(\.gz)?$/.test(file);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { datasets: { type: 'string' }, 'update-guards': { type: 'boolean' }, out: { type: 'string' } },
  });
  const root = values.datasets ?? join(projectRoot, '..', 'shared', 'datasets');
  if (!existsSync(root)) {
    process.stderr.write(`eval: no datasets at ${root} (give --datasets DIR)\n`);
    return 2;
  }
  const datasets = loadDatasets();
  const missing = datasets.filter((d) => !existsSync(join(root, d.file)));
  if (missing.length > 0) {
    process.stderr.write(`eval: missing from ${root}: ${missing.map((d) => d.file).join(', ')}\n`);
    return 2;
  }
  const failures: string[] = [];

  // 1. The readers against an independent dissector.
  const counts: CountRow[] = [];
  for (const d of datasets.filter((x) => isCapture(x.file))) {
    const path = join(root, d.file);
    const mine = readInput(path);
    const theirs = tsharkCounts(path);
    const row: CountRow = {
      file: d.file,
      format: mine.kind,
      requests: mine.requests,
      responses: mine.responses,
      udp: mine.udpHttpRequests,
      problems: mine.problems.length,
      tshark: theirs,
    };
    counts.push(row);
    const ok = row.requests === theirs.tcpRequests && row.responses === theirs.tcpResponses && row.udp === theirs.udpRequests;
    process.stdout.write(
      `${ok ? 'ok  ' : 'DIFF'} ${d.file}: requests ${row.requests}/${theirs.tcpRequests}, responses ${row.responses}/${theirs.tcpResponses}, udp ${row.udp}/${theirs.udpRequests} (vigil/tshark)\n`,
    );
    if (!ok) failures.push(`${d.file}: vigil found ${row.requests} requests and ${row.responses} responses (${row.udp} over UDP); tshark ${theirs.tcpRequests}, ${theirs.tcpResponses} (${theirs.udpRequests})`);
  }

  // 2. Every dataset through every policy.
  const rows: EvalRow[] = [];
  for (const policy of policies()) {
    for (const d of datasets) {
      const { records, summary } = await runReplay({ files: [join(root, d.file)], mode: { kind: 'in-process', policy, shadow: false } });
      const f: Figures = figures(records, summary);
      const policyName = relative(projectRoot, policy.source);
      rows.push({ dataset: d.file, label: d.label, what: d.what, policy: policyName, figures: f });
      process.stdout.write(
        `${policyName} × ${d.file} (${d.label}): ${f.callers} callers, ${f.flagged} flagged, ${f.acted} acted on; ${f.exchanges} exchanges at ${f.exchangesPerSecond}/s\n`,
      );
      if (summary.actions.error > 0 || summary.failOpen > 0) failures.push(`${policyName} × ${d.file}: ${summary.actions.error} errors, ${summary.failOpen} fail-open decisions`);
    }
  }

  // 2b. vigil profile on every dataset, its learned policy replayed (eval/profile.ts).
  const defaultName = relative(projectRoot, defaultPolicyPath);
  const profiled = await profileRows(datasets, root, loadPolicyFile(defaultPolicyPath), rows.filter((r) => r.policy === defaultName));
  rows.push(...profiled.rows);
  failures.push(...profiled.failures);

  // 3. Guards: a change may not make a figure worse without saying so.
  const guardsFile = join(projectRoot, 'eval', 'guards.json');
  const guards: Guards = existsSync(guardsFile) ? (JSON.parse(readFileSync(guardsFile, 'utf8')) as Guards) : {};
  const { problems, updated } = checkGuards(rows, guards);
  if (values['update-guards']) {
    writeFileSync(guardsFile, `${JSON.stringify(updated, null, 2)}\n`);
    process.stdout.write(`eval: guards written to ${relative(projectRoot, guardsFile)}\n`);
  } else failures.push(...problems);

  const out = values.out ?? join(projectRoot, 'docs', 'evaluation.md');
  const notesFile = join(projectRoot, 'eval', 'notes.md');
  writeFileSync(out, evaluationMarkdown({ counts, rows, tshark: tsharkVersion(), notes: existsSync(notesFile) ? readFileSync(notesFile, 'utf8') : '' }));
  process.stdout.write(`eval: wrote ${relative(projectRoot, out)}\n`);
  for (const f of failures) process.stderr.write(`eval: FAIL ${f}\n`);
  return failures.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`eval: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
