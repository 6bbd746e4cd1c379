/** `vigil profile`: a site's policy learned from its own traffic (docs/profile.md). */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { UsageError, minReadOption, topOption } from './input-options.js';
import { ConfigError, ReplayInputError } from '../errors.js';
import { defaultPolicyPath } from '../paths.js';
import { loadPolicyFile } from '../policy/load.js';
import { policyFileFor } from '../policy/locate.js';
import type { Policy } from '../policy/policy.js';
import { humanReport, jsonReport } from '../profile/report.js';
import { runProfile } from '../profile/run-profile.js';
import { lineDiff } from '../profile/text-diff.js';

export const PROFILE_HELP = `vigil profile — learn a site's policy from its own traffic

Usage: vigil profile [options] FILE...

Reads what vigil replay reads (pcap, pcapng, Apache/Nginx combined and Envoy JSON access logs, plain
or gzip-compressed) and writes a policy for that site, valid for vigil check-policy and commented with
the evidence behind every choice: endpoints by path template; their roles (static assets, logins and
how a failed login shows, object reads by id, exports); detector thresholds from the distribution of
each caller's counts per window (p50, p99, max): the higher of 2 × p99 and 1.25 × the busiest caller,
never looser than the base policy. Then it replays the same traffic with the base policy and the
learned one and shows whom each flags (the cost diff). docs/profile.md explains every rule.

The policy goes to stdout (or -o FILE); the report goes to stderr.

Options:
  -o, --output FILE    write the policy to FILE instead of stdout
  --from POLICY        start from your policy (a file, or a directory holding policy.yaml): keep its
                       endpoints, add learned ones none of them matches, propose thresholds; the
                       report shows the change as a line diff (default: start from
                       policy/default.yaml and replace its endpoints with the learned ones)
  --json               print the report as JSON on stdout (the policy text is in it, under "policy";
                       with -o it is also written to FILE); nothing on stderr but errors
  --no-cost            skip the cost diff (the two replays)
  --top N              callers listed in the cost diff (default 20)
  --min-read PERCENT   refuse a log of which less than PERCENT of the lines could be read (default 50;
                       a log or capture of which nothing could be read is always refused)
  -q, --quiet          no report and no progress on stderr (progress is shown only on a terminal)
  -h, --help           this help

Environment: VIGIL_KEY_SECRET keys the pseudonyms shown in the cost diff, as for vigil replay.

Exit status: 0 done; 1 vigil failed exchanges in the cost diff's replays; 2 bad arguments, or an input
or policy that cannot be used.
`;


interface ProfileArgs {
  files: string[];
  output: string | null;
  from: string | null;
  json: boolean;
  noCost: boolean;
  top: number;
  minReadPercent: number;
  quiet: boolean;
}

function parse(argv: string[]): ProfileArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: {
        output: { type: 'string', short: 'o' },
        from: { type: 'string' },
        json: { type: 'boolean' },
        'no-cost': { type: 'boolean' },
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
  const top = topOption(values.top, 20);
  const minReadPercent = minReadOption(values['min-read']);
  if (values.output === '') throw new UsageError('-o needs a FILE');
  return {
    files: positionals,
    output: values.output ?? null,
    from: values.from ?? null,
    json: values.json === true,
    noCost: values['no-cost'] === true,
    top,
    minReadPercent,
    quiet: values.quiet === true,
  };
}

export async function runProfileCli(argv: string[]): Promise<number> {
  try {
    const args = parse(argv);
    if (args === 'help') {
      process.stdout.write(PROFILE_HELP);
      return 0;
    }
    const base: Policy = loadPolicyFile(args.from !== null ? policyFileFor(args.from) : defaultPolicyPath);
    const showProgress = process.stderr.isTTY === true && !args.quiet && !args.json;
    const secret = process.env['VIGIL_KEY_SECRET'];
    const result = await runProfile({
      files: args.files,
      base,
      keepEndpoints: args.from !== null,
      minReadPercent: args.minReadPercent,
      ...(secret ? { keySecret: secret } : {}),
      noCost: args.noCost,
      ...(showProgress ? { onProgress: (s: string) => process.stderr.write(`vigil profile: ${s}…\n`) } : {}),
    });
    if (args.output !== null) {
      try {
        writeFileSync(args.output, result.policyText);
      } catch (err) {
        throw new UsageError(`-o ${args.output}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
    }
    const diff = args.from !== null ? lineDiff(base.text, result.policyText) : null;
    if (args.json) {
      process.stdout.write(`${JSON.stringify({ ...(jsonReport(result) as object), ...(diff !== null ? { diff } : {}) }, null, 2)}\n`);
    } else {
      if (args.output === null) process.stdout.write(result.policyText);
      if (!args.quiet) {
        process.stderr.write(humanReport(result, args.top));
        if (diff !== null) process.stderr.write(`\nProposed change to ${base.source}:\n${diff || '  none\n'}`);
        if (args.output !== null) process.stderr.write(`\nPolicy written to ${args.output}; check it with vigil check-policy ${args.output}\n`);
      }
    }
    const errors = (result.cost?.base.errors ?? 0) + (result.cost?.learned.errors ?? 0);
    if (errors > 0) {
      process.stderr.write(`vigil profile: FAILED: vigil decided nothing for ${errors.toLocaleString('en-US')} exchanges of the cost diff's replays\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    return fail(err);
  }
}

function fail(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`vigil profile: ${err.message}\n(vigil profile --help for usage)\n`);
    return 2;
  }
  if (err instanceof ConfigError) {
    process.stderr.write(`vigil profile: cannot use this policy:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
    return 2;
  }
  if (err instanceof ReplayInputError) {
    process.stderr.write(`vigil profile: ${err.message}\n`);
    return 2;
  }
  throw err;
}
