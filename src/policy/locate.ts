import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';

/** The file vigil reads when VIGIL_POLICY (or `vigil check-policy`'s argument) names a directory. */
export const POLICY_FILE_IN_DIR = 'policy.yaml';

/**
 * The policy file a path names: the path itself, or `<dir>/policy.yaml` when it is a directory (a
 * Kubernetes ConfigMap mounted as a volume, with the policy under the key `policy.yaml`). Decided
 * once, when vigil starts; a path that cannot be read is returned as is, so that `loadPolicyFile`
 * reports it. Throws ConfigError for a directory without policy.yaml.
 */
export function policyFileFor(path: string): string {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    return path;
  }
  if (!isDir) return path;
  const file = join(path, POLICY_FILE_IN_DIR);
  try {
    if (statSync(file).isFile()) return file;
  } catch {
    // reported below
  }
  let yaml: string[] = [];
  try {
    yaml = readdirSync(path).filter((f) => /\.ya?ml$/.test(f) && !f.startsWith('.'));
  } catch {
    // no hint then
  }
  const hint = yaml.length > 0 ? `; it holds ${yaml.slice(0, 3).join(', ')}${yaml.length > 3 ? ', …' : ''}: name the file itself (${join(path, yaml[0]!)})` : '';
  throw new ConfigError([`${path}: a directory without ${POLICY_FILE_IN_DIR} (a policy directory, such as a ConfigMap volume, must hold the policy as ${POLICY_FILE_IN_DIR})${hint}`]);
}
