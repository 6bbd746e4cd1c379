/**
 * `npm run bench -- [options]`: which targets and scenarios to run and for how long. Flags win over
 * the BENCH_* environment variables. The docs are only rewritten by a full run (all targets, all
 * scenarios, full length); anything else prints its tables and leaves docs/benchmarks.md alone.
 */
import { SCENARIOS, TARGETS, type ScenarioId, type TargetName } from './types.js';

export interface BenchOptions {
  quick: boolean;
  targets: readonly TargetName[];
  scenarios: readonly ScenarioId[];
  reps: number;
  keys: number;
  /** Not the full run: tables only, docs/benchmarks.md left alone. */
  subset: boolean;
  /** Write this run's report here (any run) instead of docs/benchmarks.md (full runs only). */
  out: string | null;
  help: boolean;
}

export const BENCH_HELP = `npm run bench -- [options]   (the full run needs a quiet machine and should take under 10 minutes)

  --quick               2-second runs, 20,000 keys; prints the tables, does not write docs/benchmarks.md
  --targets=a,b         run only these targets (bare, the floor, always runs):
                        ${TARGETS.join(', ')}
  --scenarios=a,b       run only these scenarios (saturation, which the others are scaled on, always runs):
                        ${SCENARIOS.join(', ')}
  --reps=N              repetitions of each run (default 3; the median is reported)
  --keys=N              API keys in the many-keys scenario (default 100000)
  --out=FILE            write this run's report to FILE (also for a quick or partial run) instead of
                        docs/benchmarks.md, which only a full run rewrites
  -h, --help            this help

Environment equivalents: BENCH_QUICK=1, BENCH_TARGETS, BENCH_SCENARIOS, BENCH_REPS, BENCH_KEYS, BENCH_OUT.
BENCH_SYNC_MS=N runs the vigil targets with VIGIL_SYNC_MS=N (to compare sync intervals).
Needs h2load (apt-get install nghttp2-client), redis-server and taskset.
Example, a one-minute look at the Redis mode: npm run bench -- --quick --targets=vigil-redis --scenarios=half-bare --reps=1
`;

function flag(argv: readonly string[], name: string): string | undefined {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : undefined;
}

function list<T extends string>(raw: string | undefined, all: readonly T[], always: T, what: string): readonly T[] {
  if (raw === undefined || raw.trim() === '') return all;
  const picked = raw.split(',').map((x) => x.trim()).filter(Boolean);
  const unknown = picked.filter((x) => !(all as readonly string[]).includes(x));
  if (unknown.length) throw new Error(`unknown ${what}: ${unknown.join(', ')} (known: ${all.join(', ')})`);
  return all.filter((x) => x === always || picked.includes(x));
}

function positiveInt(raw: string | undefined, fallback: number, what: string): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${what} must be a positive integer, got ${raw}`);
  return n;
}

export function parseOptions(argv: readonly string[], env: NodeJS.ProcessEnv): BenchOptions {
  const known = /^(--quick|-h|--help|--(targets|scenarios|reps|keys|out)=.*)$/;
  const stray = argv.filter((a) => !known.test(a));
  if (stray.length) throw new Error(`unknown option ${stray[0]} (npm run bench -- --help)`);
  const quick = argv.includes('--quick') || env['BENCH_QUICK'] === '1';
  const targets = list(flag(argv, 'targets') ?? env['BENCH_TARGETS'], TARGETS, 'bare', 'target');
  const scenarios = list(flag(argv, 'scenarios') ?? env['BENCH_SCENARIOS'], SCENARIOS, 'saturation', 'scenario');
  const reps = positiveInt(flag(argv, 'reps') ?? env['BENCH_REPS'], 3, '--reps');
  const keys = positiveInt(flag(argv, 'keys') ?? env['BENCH_KEYS'], quick ? 20_000 : 100_000, '--keys');
  const subset = quick || targets.length < TARGETS.length || scenarios.length < SCENARIOS.length || reps !== 3 || keys !== 100_000;
  const out = flag(argv, 'out') ?? env['BENCH_OUT'] ?? null;
  return { quick, targets, scenarios, reps, keys, subset, out: out || null, help: argv.includes('--help') || argv.includes('-h') };
}
