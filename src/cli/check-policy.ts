import { ConfigError } from '../errors.js';
import { loadPolicyFile } from '../policy/load.js';

export const CHECK_POLICY_HELP = `vigil check-policy — validate a policy file offline

Usage: vigil check-policy FILE

Exit 0 and a summary when the policy is valid; exit 1 listing every problem (file, detector, field) when not.
`;

export function runCheckPolicy(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(CHECK_POLICY_HELP);
    return 0;
  }
  if (argv.length !== 1) {
    process.stderr.write(`vigil check-policy: expected one FILE\n\n${CHECK_POLICY_HELP}`);
    return 2;
  }
  try {
    const policy = loadPolicyFile(argv[0]!);
    process.stdout.write(`${policy.source}: valid (checksum ${policy.checksum}, ${policy.detectors.length} detector(s))\n`);
    for (const d of policy.detectors) {
      const c = d.config;
      process.stdout.write(`  ${c.name}: ${c.type} on ${c.subject} → ${c.action}${c.shadow ? ' (shadow)' : ''}\n`);
    }
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.problems.map((p) => `${p}\n`).join(''));
      return 1;
    }
    throw err;
  }
}
