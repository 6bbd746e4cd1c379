/**
 * A whole profile, shared by the CLI and the evaluation: read every input (the replay's readers and
 * its input check), observe each exchange, learn endpoints and roles, recommend thresholds, write the
 * policy from the base one, compile it (a learned policy that does not load is a bug, never output),
 * and replay the traffic with both policies for the cost diff.
 */
import { randomBytes } from 'node:crypto';
import { ConfigError } from '../errors.js';
import { compilePolicy } from '../policy/load.js';
import type { Policy } from '../policy/policy.js';
import { createPseudonymizer } from '../request/keyed-hash.js';
import { checkReadable } from '../replay/input-check.js';
import { mergeExchanges, readInput } from '../replay/read-input.js';
import type { ReplayInput } from '../replay/types.js';
import { costDiff } from './cost-diff.js';
import type { CostDiff } from './cost-diff.js';
import { observe } from './observe.js';
import { writePolicy } from './policy-writer.js';
import { learnRoles } from './roles.js';
import type { LearnedEndpoint } from './roles.js';
import { recommendThresholds } from './thresholds.js';
import type { Recommendation } from './thresholds.js';

export interface ProfileOptions {
  files: readonly string[];
  base: Policy;
  /** --from: keep the base's endpoints and only add. */
  keepEndpoints: boolean;
  minReadPercent: number;
  /** Keys the pseudonyms of the cost diff's replays (as vigil replay does). */
  keySecret?: string;
  /** Skip the two replays of the cost diff. */
  noCost?: boolean;
  /** Called at each stage (the CLI shows it on a terminal). */
  onProgress?: (stage: string) => void;
}

export interface ProfileResult {
  inputs: Array<{ file: string; kind: ReplayInput['kind']; exchanges: number; problems: number }>;
  exchanges: number;
  callers: number;
  endpoints: LearnedEndpoint[];
  thresholds: Recommendation[];
  policyText: string;
  changes: string[];
  learned: Policy;
  cost: CostDiff | null;
}

/** Throws ReplayInputError for an unreadable input, before anything is learned. */
export async function runProfile(opts: ProfileOptions): Promise<ProfileResult> {
  const progress = opts.onProgress ?? (() => {});
  const inputs = opts.files.map((f) => {
    progress(`reading ${f}`);
    const input = readInput(f);
    checkReadable(input, opts.minReadPercent);
    return input;
  });
  const exchanges = mergeExchanges(inputs);
  progress(`learning from ${exchanges.length.toLocaleString('en-US')} exchanges`);
  // A key of this run only: the callers' pseudonyms are never written anywhere, only counted.
  const pseudonym = createPseudonymizer(randomBytes(32));
  const observations = exchanges.map((x) => observe(x, pseudonym));
  const endpoints = learnRoles(observations);
  const thresholds = recommendThresholds(opts.base, observations, endpoints);
  const files = opts.files.length === 1 ? opts.files[0]! : `${opts.files.length} inputs`;
  const written = writePolicy({
    base: opts.base,
    keepEndpoints: opts.keepEndpoints,
    endpoints,
    thresholds,
    header: `Learned by \`vigil profile\` from ${files}: ${exchanges.length.toLocaleString('en-US')} exchanges, ${new Set(observations.map((o) => o.caller)).size.toLocaleString('en-US')} callers.`,
  });
  let learned: Policy;
  try {
    learned = compilePolicy(written.text, 'learned-policy.yaml');
  } catch (err) {
    // The writer's output must load: anything else is vigil's bug, not the user's input.
    const problems = err instanceof ConfigError ? err.problems.join('; ') : String(err);
    throw new Error(`vigil profile wrote a policy that does not load (a bug): ${problems}`);
  }
  let cost: CostDiff | null = null;
  if (!opts.noCost) {
    progress('replaying with the base policy and the learned one (the cost diff)');
    cost = await costDiff(exchanges, opts.base, learned, opts.keySecret);
  }
  return {
    inputs: inputs.map((i) => ({ file: i.file, kind: i.kind, exchanges: i.exchanges.length, problems: i.problems.length })),
    exchanges: exchanges.length,
    callers: new Set(observations.map((o) => o.caller)).size,
    endpoints,
    thresholds,
    policyText: written.text,
    changes: written.changes,
    learned,
    cost,
  };
}
