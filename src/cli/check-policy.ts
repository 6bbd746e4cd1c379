import { ConfigError } from '../errors.js';
import { loadPolicyFile } from '../policy/load.js';
import { POLICY_FILE_IN_DIR, policyFileFor } from '../policy/locate.js';

export const CHECK_POLICY_HELP = `vigil check-policy — validate a policy offline

Usage: vigil check-policy PATH

PATH is a policy file, or a directory holding ${POLICY_FILE_IN_DIR} (as VIGIL_POLICY may be, e.g. a
mounted ConfigMap): the same rule vigil serve uses.

Exit 0 and a summary when the policy is valid; exit 1 listing every problem (file, detector, field) on
stderr when it is not (a directory without ${POLICY_FILE_IN_DIR} included); exit 2 on a usage error.
`;

export function runCheckPolicy(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(CHECK_POLICY_HELP);
    return 0;
  }
  if (argv.length !== 1) {
    process.stderr.write(`vigil check-policy: expected one PATH (a file, or a directory holding ${POLICY_FILE_IN_DIR})\n\n${CHECK_POLICY_HELP}`);
    return 2;
  }
  try {
    const policy = loadPolicyFile(policyFileFor(argv[0]!));
    process.stdout.write(`${policy.source}: valid (checksum ${policy.checksum}, ${policy.detectors.length} detector(s))\n`);
    for (const d of policy.detectors) {
      const c = d.config;
      process.stdout.write(`  ${c.name}: ${c.type} on ${c.subject} → ${c.action}${c.shadow ? ' (shadow)' : ''}\n`);
    }
    if (policy.detectors.length === 0 && !policy.allowNoDetectors) {
      process.stdout.write('  no detectors: a running vigil refuses to reload to this policy unless it says allow_no_detectors: true\n');
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
