/** `vigil replay`: captures and access logs through envoy-sim into vigil; report, decisions, expectations. */
import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { UsageError, minReadOption, topOption } from './input-options.js';
import { ConfigError, ReplayInputError } from '../errors.js';
import { defaultPolicyPath } from '../paths.js';
import { loadPolicyFile } from '../policy/load.js';
import { policyFileFor } from '../policy/locate.js';
import { formatResults, loadExpectations, runChecks } from '../replay/expect.js';
import type { Check } from '../replay/expect.js';
import { humanReport } from '../replay/human-report.js';
import { decisionLine } from '../replay/decision-line.js';
import { runReplay } from '../replay/run-replay.js';
import { Progress } from './progress.js';
import type { ReplayMode } from '../replay/run-replay.js';
import type { ReplaySummary } from '../replay/summary.js';

export const REPLAY_HELP = `vigil replay — play captures and access logs through vigil

Usage: vigil replay [options] FILE...

Reads packet captures (pcap, pcapng) and access logs (Apache/Nginx combined, Envoy JSON), plain or
gzip-compressed, rebuilds their HTTP/1.x exchanges and plays them in time order through envoy-sim
(Envoy's ext_proc filter) into a vigil started in-process on loopback, whose clock follows the
capture's timestamps: the same input and policy give the same decisions every run.

Options:
  --policy PATH        policy file, or a directory holding policy.yaml (default: policy/default.yaml)
  --shadow             shadow mode: decide and report what enforcement would do, never enforce
  --target HOST:PORT   replay against a running vigil instead, paced on the wall clock; only what the
                       wire shows is recorded (action, detectors), and its own policy decides
  --speed N|max        with --target: play N times faster than captured (default 1); max = back to back
  --message-timeout MS with --target: Envoy's per-message timeout (default 200, Envoy's default); an
                       exchange vigil does not answer in time is an error
  --json               print the summary as JSON on stdout (expectation results go to stderr)
  --decisions FILE     write one JSON line per exchange (time, client, identity, method, path
                       template, status, action enforced, action shadowed, reasons) to FILE
  --signals            with --decisions, in-process only: each line also lists every signal
                       evaluated for the exchange, fired or not (value, baseline, threshold, score):
                       how near an allowed caller came
  --expect FILE        check the decisions against expectations (YAML; docs/replay.md); exit 1 with
                       what happened instead when one fails
  --top N              flagged callers listed in the report (default 10)
  -q, --quiet          no progress line on stderr (it is shown only on a terminal, and only for a
                       replay that lasts more than 2 s)
  --min-read PERCENT   refuse a log of which less than PERCENT of the lines could be read (default 50;
                       a log or capture of which nothing could be read is always refused)
  -h, --help           this help

Environment: VIGIL_KEY_SECRET keys the identity pseudonyms as in production (default: a fixed replay
key, so runs compare with each other).

Exit status: 0 done and every expectation held; 1 an expectation failed or vigil failed exchanges;
2 bad arguments, or an input, policy or expectations file that cannot be used.
`;


interface ReplayArgs {
  files: string[];
  mode: ReplayMode;
  json: boolean;
  decisions: string | null;
  expect: string | null;
  top: number;
  minReadPercent: number;
  quiet: boolean;
}

function parse(argv: string[]): ReplayArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        policy: { type: 'string' },
        shadow: { type: 'boolean' },
        target: { type: 'string' },
        speed: { type: 'string' },
        'message-timeout': { type: 'string' },
        json: { type: 'boolean' },
        decisions: { type: 'string' },
        signals: { type: 'boolean' },
        expect: { type: 'string' },
        top: { type: 'string' },
        'min-read': { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  if (positionals.length === 0) throw new UsageError('no input FILE given');
  const top = topOption(values.top, 10);
  const minReadPercent = minReadOption(values['min-read']);
  if (values.signals && values.decisions === undefined) throw new UsageError('--signals adds the evaluated signals to the --decisions lines: give --decisions FILE too');
  if (values.signals && values.target !== undefined) throw new UsageError('--signals needs an in-process replay: a running vigil (--target) does not send its signals');
  let mode: ReplayMode;
  if (values.target !== undefined) {
    if (!/^[^\s:]+:\d+$|^\[[0-9a-fA-F:.]+\]:\d+$/.test(values.target)) throw new UsageError('--target must be HOST:PORT');
    if (values.policy !== undefined || values.shadow) throw new UsageError('--policy and --shadow do not apply with --target: the running vigil uses its own policy and settings');
    const raw = values.speed ?? '1';
    const speed = raw === 'max' ? Infinity : Number(raw);
    if (!(speed > 0)) throw new UsageError('--speed must be a number > 0, or max');
    const rawTimeout = values['message-timeout'] ?? '200';
    const messageTimeoutMs = Number(rawTimeout);
    if (!/^\d+$/.test(rawTimeout) || messageTimeoutMs < 1 || messageTimeoutMs > 3_600_000) throw new UsageError('--message-timeout must be a whole number of milliseconds from 1 to 3600000');
    mode = { kind: 'target', target: values.target, speed, messageTimeoutMs };
  } else {
    if (values.speed !== undefined) throw new UsageError('--speed goes with --target (in-process replay runs on the capture clock, as fast as it can)');
    if (values['message-timeout'] !== undefined) throw new UsageError('--message-timeout goes with --target (in-process replay waits for vigil)');
    const path = values.policy ?? defaultPolicyPath;
    const secret = process.env['VIGIL_KEY_SECRET'];
    mode = {
      kind: 'in-process',
      policy: loadPolicyFile(policyFileFor(path)),
      shadow: values.shadow === true,
      ...(secret ? { keySecret: secret } : {}),
      ...(values.signals ? { signals: true } : {}),
    };
  }
  return { files: positionals, mode, json: values.json === true, decisions: values.decisions ?? null, expect: values.expect ?? null, top, minReadPercent, quiet: values.quiet === true };
}

function openDecisions(file: string): Promise<WriteStream> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(file);
    out.once('open', () => resolve(out));
    out.once('error', (err) => reject(new UsageError(`--decisions ${file}: ${(err as NodeJS.ErrnoException).code ?? err.message}`)));
  });
}

export async function runReplayCli(argv: string[]): Promise<number> {
  let args: ReplayArgs;
  let progress: Progress;
  let checks: Check[] = [];
  let decisions: WriteStream | null = null;
  try {
    const parsed = parse(argv);
    if (parsed === 'help') {
      process.stdout.write(REPLAY_HELP);
      return 0;
    }
    args = parsed;
    progress = new Progress({ quiet: args.quiet });
    if (args.expect) checks = loadExpectations(args.expect);
    if (args.decisions) decisions = await openDecisions(args.decisions);
  } catch (err) {
    return fail(err);
  }
  try {
    const out = decisions;
    let played = 0;
    const { records, summary } = await runReplay({
      files: args.files,
      mode: args.mode,
      minReadPercent: args.minReadPercent,
      onPlay: (total) => progress.start('replaying', total, 'exchanges'),
      onRecord: (r) => {
        out?.write(`${decisionLine(r)}\n`);
        progress.update(++played);
      },
    }).finally(() => progress.done());
    const results = runChecks(checks, records);
    if (args.json) {
      process.stdout.write(`${JSON.stringify(checks.length > 0 ? { ...summary, expectations: results } : summary, null, 2)}\n`);
      if (checks.length > 0) process.stderr.write(formatResults(results));
    } else {
      process.stdout.write(humanReport(summary, args.top));
      if (checks.length > 0) process.stdout.write(`\n${formatResults(results)}`);
    }
    const errors = summary.actions.error;
    if (errors > 0) process.stderr.write(errorMessage(summary, args.mode));
    return results.some((r) => !r.ok) || errors > 0 ? 1 : 0;
  } catch (err) {
    return fail(err);
  } finally {
    if (decisions) await new Promise<void>((resolve) => decisions!.end(resolve));
  }
}

/** How many exchanges vigil decided nothing for, and why: the run failed. */
function errorMessage(s: ReplaySummary, mode: ReplayMode): string {
  const why = Object.entries(s.errors)
    .sort(([, a], [, b]) => b - a)
    .map(([reason, count]) => `  ${count.toLocaleString('en-US')} × ${reason}\n`)
    .join('');
  const hint =
    mode.kind === 'target'
      ? `  Is vigil serving ext_proc at ${mode.target}? --target takes its gRPC address (VIGIL_GRPC_ADDRESS), not the admin one.\n`
      : '';
  return `vigil replay: FAILED: ${s.actions.error.toLocaleString('en-US')} of ${s.exchanges.toLocaleString('en-US')} exchanges got no decision from vigil (action "error" in --decisions):\n${why}${hint}`;
}

function fail(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`vigil replay: ${err.message}\n(vigil replay --help for usage)\n`);
    return 2;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`vigil replay: cannot use this:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    return 2;
  }
  if (err instanceof ReplayInputError) {
    process.stderr.write(`vigil replay: ${err.message}\n`);
    return 2;
  }
  throw err;
}
