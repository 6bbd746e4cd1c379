import { createHash } from 'node:crypto';
import { readFileSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../clock.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../obs/logger.js';
import { showLivePolicy } from '../obs/metrics.js';
import type { Metrics } from '../obs/metrics.js';
import { loadPolicyFile } from './load.js';
import type { Policy } from './policy.js';

export interface PolicyWatcherOptions {
  /** The policy file (a directory already resolved to `<dir>/policy.yaml` by policyFileFor). */
  file: string;
  /** The live policy, loaded from `file` at start-up. */
  initial: Policy;
  /** When `initial` was loaded (the injected clock's ms). */
  loadedAtMs: number;
  /** Receives each new valid policy; the caller replaces its reference whole. Called synchronously. */
  onSwap: (policy: Policy) => void;
  clock: Clock;
  metrics: Metrics;
  logger: Logger;
  /** Period of the content-hash poll (fallback for filesystems where fs.watch misses events); 0 = no polling. */
  pollMs: number;
  /** Quiet time after the last directory event before the file is read (editors and kubelet write in bursts). */
  debounceMs?: number;
  /** Watch the containing directory with fs.watch (default true; tests turn it off to exercise polling alone). */
  watchDirectory?: boolean;
}

/** What one check found. */
export type CheckResult = 'unchanged' | 'reloaded' | 'rejected' | 'closed';

/** What /debug/policy shows about reloads. */
export interface ReloadStatus {
  /** When the live policy was loaded (ISO 8601). */
  loadedAt: string;
  reloads: { ok: number; rejected: number };
  /** The last policy that was rejected, with every problem, or null. */
  lastRejected: { at: string; problems: string[] } | null;
}

export function initialReloadStatus(loadedAtMs: number): ReloadStatus {
  return { loadedAt: new Date(loadedAtMs).toISOString(), reloads: { ok: 0, rejected: 0 }, lastRejected: null };
}

/**
 * Hot reload, swap-or-keep (house style, habit 5). Watches the DIRECTORY holding the policy file,
 * since the file itself is replaced, not rewritten, by editors (write a new file, rename it over)
 * and by Kubernetes (a ConfigMap's `policy.yaml` is a symlink through `..data`, which kubelet swaps
 * by renaming a new `..data_tmp` symlink over it); polls the content hash as a fallback. On a
 * change it compiles the new policy aside: a valid one with a new checksum is handed to `onSwap`,
 * a broken one is counted, logged once (warn, every problem) and kept for /debug/policy while the
 * last good policy stays live. Never throws; close() stops it.
 */
export class PolicyWatcher {
  private readonly dir: string;
  private readonly debounceMs: number;
  private live: Policy;
  /** Hash of the bytes last checked, good or bad: the same bytes are not compiled (or rejected) twice. */
  private seen = '';
  private readonly state: ReloadStatus;
  private dirWatcher: FSWatcher | undefined;
  private watchBroken = false;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: PolicyWatcherOptions) {
    this.dir = dirname(opts.file);
    this.debounceMs = opts.debounceMs ?? 100;
    this.live = opts.initial;
    this.state = initialReloadStatus(opts.loadedAtMs);
  }

  /** Starts watching and polling. Returns this. */
  start(): this {
    const { metrics, logger, pollMs } = this.opts;
    metrics.policyReloads.inc({ result: 'ok' }, 0);
    metrics.policyReloads.inc({ result: 'rejected' }, 0);
    if (this.opts.watchDirectory !== false) this.watchDir();
    if (pollMs > 0) {
      this.poll = setInterval(() => {
        if (this.opts.watchDirectory !== false && !this.dirWatcher) this.watchDir();
        this.check();
      }, pollMs);
      this.poll.unref();
    }
    logger.info({ file: this.opts.file, directory: this.dir, watching: this.dirWatcher !== undefined, pollMs }, 'watching the policy for changes');
    this.check(); // a change between the start-up load and now is not missed
    return this;
  }

  /**
   * Reads the policy file and swaps or rejects it when its bytes changed. `force` (SIGHUP) compiles
   * it even when the bytes are the ones last seen; an unchanged checksum is never a reload.
   */
  check(force = false): CheckResult {
    if (this.closed) return 'closed';
    try {
      const key = contentKey(this.opts.file);
      if (!force && key === this.seen) return 'unchanged';
      this.seen = key;
      let next: Policy;
      try {
        next = loadPolicyFile(this.opts.file);
      } catch (err) {
        return this.reject(err instanceof ConfigError ? err.problems : [`${this.opts.file}: cannot compile policy (${String(err)})`]);
      }
      if (next.checksum === this.live.checksum) return 'unchanged';
      return this.swap(next);
    } catch (err) {
      this.opts.logger.error({ err: String((err as Error)?.stack ?? err), file: this.opts.file }, 'policy check failed (live policy kept)');
      return 'unchanged';
    }
  }

  status(): ReloadStatus {
    const s = this.state;
    return {
      loadedAt: s.loadedAt,
      reloads: { ...s.reloads },
      lastRejected: s.lastRejected && { at: s.lastRejected.at, problems: [...s.lastRejected.problems] },
    };
  }

  /** Stops watching and polling; later checks do nothing. Idempotent. */
  close(): void {
    this.closed = true;
    clearInterval(this.poll);
    clearTimeout(this.debounce);
    this.dirWatcher?.close();
    this.dirWatcher = undefined;
  }

  private swap(next: Policy): CheckResult {
    const { metrics, logger, clock } = this.opts;
    const previous = this.live.checksum;
    this.opts.onSwap(next);
    this.live = next;
    const atMs = clock.nowMs();
    this.state.loadedAt = new Date(atMs).toISOString();
    this.state.reloads.ok += 1;
    showLivePolicy(metrics, next.checksum, atMs);
    metrics.policyReloads.inc({ result: 'ok' });
    logger.info({ source: next.source, checksum: next.checksum, previous, detectors: next.detectors.length }, 'policy reloaded');
    return 'reloaded';
  }

  private reject(problems: string[]): CheckResult {
    const { metrics, logger, clock } = this.opts;
    this.state.reloads.rejected += 1;
    this.state.lastRejected = { at: new Date(clock.nowMs()).toISOString(), problems: [...problems] };
    metrics.policyReloads.inc({ result: 'rejected' });
    logger.warn({ source: this.opts.file, live: this.live.checksum, problems }, 'policy rejected: keeping the last good policy');
    return 'rejected';
  }

  /** Any event in the directory may concern the policy (`..data` swaps, renames): check after a quiet time. */
  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.check();
    }, this.debounceMs);
    this.debounce.unref();
  }

  private watchDir(): void {
    const { logger } = this.opts;
    try {
      const w = watch(this.dir, { persistent: false }, () => this.schedule());
      w.on('error', (err) => {
        w.close();
        if (this.dirWatcher === w) this.dirWatcher = undefined;
        if (!this.closed) this.watchLost(err);
        this.schedule();
      });
      this.dirWatcher = w;
      if (this.watchBroken) logger.info({ directory: this.dir }, 'watching the policy directory again');
      this.watchBroken = false;
    } catch (err) {
      this.watchLost(err);
    }
  }

  /** Logged once per loss, not once per retry. */
  private watchLost(err: unknown): void {
    if (this.watchBroken) return;
    this.watchBroken = true;
    const polling = this.opts.pollMs > 0 ? `polling every ${this.opts.pollMs} ms` : 'no polling (VIGIL_POLICY_POLL_MS=0): SIGHUP still reloads';
    this.opts.logger.warn({ directory: this.dir, err: String((err as Error)?.message ?? err) }, `cannot watch the policy directory: ${polling}`);
  }
}

/** sha256 of the file's bytes, or the read error's code: cheap enough to poll every few seconds. */
function contentKey(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch (err) {
    return `unreadable:${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
}
