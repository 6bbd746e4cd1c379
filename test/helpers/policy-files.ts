import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Small valid policies, each with its own checksum. */
export const POLICY_EMPTY = 'format: 1\ndetectors: []\n';
export const policyWithDetector = (name: string, action = 'throttle') =>
  `format: 1\ndetectors:\n  - name: ${name}\n    type: rate-baseline\n    subject: identity\n    threshold_z: 3\n    min_count: 120\n    action: ${action}\n    penalty: 5m\n`;
/** Invalid: an unknown top-level key (and only that). */
export const POLICY_BOGUS = 'format: 1\ndetectors: []\nbogus: 1\n';

export function tempDir(prefix = 'vigil-policy-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Waits until `probe` returns something other than undefined/false, polling every 25 ms; fails after timeoutMs. */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** An editor's save: write a new file beside the policy, then rename it over (the inode changes). */
export function writeThenRename(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/**
 * A Kubernetes ConfigMap volume, laid out as kubelet's atomic writer does: the data in a timestamped
 * directory, `..data` a symlink to it, and each key a symlink through `..data`.
 */
export class ConfigMapVolume {
  private generation = 0;
  private current: string;
  constructor(readonly dir: string, text: string) {
    this.current = this.writeGeneration(text);
    symlinkSync(this.current, join(dir, '..data'));
    symlinkSync(join('..data', 'policy.yaml'), join(dir, 'policy.yaml'));
  }

  /**
   * kubelet's update: a new timestamped directory, a `..data_tmp` symlink to it renamed over `..data`,
   * then the old directory removed (so anything still holding the old file sees it vanish).
   */
  update(text: string): void {
    const next = this.writeGeneration(text);
    symlinkSync(next, join(this.dir, '..data_tmp'));
    renameSync(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    rmSync(join(this.dir, this.current), { recursive: true });
    this.current = next;
  }

  private writeGeneration(text: string): string {
    this.generation += 1;
    const name = `..2026_11_22_${String(this.generation).padStart(2, '0')}`;
    mkdirSync(join(this.dir, name));
    writeFileSync(join(this.dir, name, 'policy.yaml'), text);
    return name;
  }
}

/**
 * A rate detector (policy YAML list item) whose first bucket is predictable: prior mean 5, variance
 * 25, so z = (n − 5) / 5 passes 3 at the 21st request of a minute (min_count 10 is below that).
 * `extra` is appended as further indented lines (`    shadow: true\n`).
 */
export const predictableRate = (name: string, action: string, opts: { penalty?: string; endpoint?: string; extra?: string } = {}) => `  - name: ${name}
    type: rate-baseline
    subject: identity
    bucket: 1m
    threshold_z: 3
    min_count: 10
    prior_mean: 5
    prior_variance: 25
    prior_weight: 10
    learn_population: false
    action: ${action}
    penalty: ${opts.penalty ?? '1m'}
${opts.endpoint ? `    endpoints: [${opts.endpoint}]\n` : ''}${opts.extra ?? ''}`;

/** A step_up section: MFA is acr urn:example:mfa; the upstream confirms with x-step-up-confirmed: ok. */
export const STEP_UP = `step_up:
  acr: ["urn:example:mfa"]
  amr: []
  clock_skew: 30s
  credit: 10m
  relax: 3
  confirm_header: { name: x-step-up-confirmed, value: ok }
`;
