/**
 * Parent side of bench/paced.ts: runs the paced generator in its own process (pinned like h2load, via
 * the `pin` prefix) and returns its result. A 64 MiB young generation makes the generator's own
 * garbage collections rare, so they seldom delay a start or a response.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChild } from './child.js';
import type { PacedSpec } from './paced.js';
import type { PacedResult } from './paced-summary.js';

const PACED_JS = join(fileURLToPath(new URL('.', import.meta.url)), 'paced.js');

export async function runPaced(spec: PacedSpec, pin: string[]): Promise<PacedResult> {
  const argv = [...pin, process.execPath, '--max-semi-space-size=64', PACED_JS, JSON.stringify(spec)];
  const { code, stdout, stderr } = await runChild(argv);
  if (code !== 0) throw new Error(`paced generator exited with ${code}: ${stderr.trim()}`);
  try {
    return JSON.parse(stdout) as PacedResult;
  } catch {
    throw new Error(`paced generator printed no result: ${stdout.slice(0, 200)} ${stderr.trim()}`);
  }
}
