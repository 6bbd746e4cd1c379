/**
 * Parent side of bench/paced.ts: runs the paced generator in its own process (pinned like h2load, via
 * the `pin` prefix) and returns its result. A 64 MiB young generation makes the generator's own
 * garbage collections rare, so they seldom delay a start or a response.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PacedSpec } from './paced.js';
import type { PacedResult } from './paced-summary.js';

const PACED_JS = join(fileURLToPath(new URL('.', import.meta.url)), 'paced.js');

export function runPaced(spec: PacedSpec, pin: string[]): Promise<PacedResult> {
  const argv = [...pin, process.execPath, '--max-semi-space-size=64', PACED_JS, JSON.stringify(spec)];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`paced generator exited with ${code}: ${stderr.trim()}`));
      try {
        resolve(JSON.parse(stdout) as PacedResult);
      } catch {
        reject(new Error(`paced generator printed no result: ${stdout.slice(0, 200)} ${stderr.trim()}`));
      }
    });
  });
}
