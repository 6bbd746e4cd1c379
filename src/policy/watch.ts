import { createHash } from 'node:crypto';
import { readFileSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
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
  /**
   * New bytes are compiled only once two reads at least this far apart found them the same (default
   * SETTLE_MS): a file written in place and caught half-written must not go live.
   */
  settleMs?: number;
  /** Monotonic milliseconds for the settle interval (default performance.now; tests move it by hand). */
  now?: () => number;
}

/** What one check found: `settling` = new bytes, not yet the same for settleMs (checked again then). */
export type CheckResult = 'unchanged' | 'settling' | 'reloaded' | 'rejected' | 'closed';

/** Default settle interval: far longer than a write takes, far shorter than anyone waits for a reload. */
export const SETTLE_MS = 500;

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
 * by renaming a new `..data_tmp` symlink over it); polls the content hash as a fallback. New bytes
 * must settle first: they are compiled only when a second read, settleMs later, finds them the same,
 * so a file written in place is not caught half-written. Then the new policy is compiled aside: a
 * valid one with a new checksum is handed to `onSwap` (the log line names the detectors it adds,
 * removes and changes), a broken one is counted, logged once (warn, every problem) and kept for
 * /debug/policy while the last good policy stays live. A policy without detectors replacing one with
 * some is refused unless it says `allow_no_detectors: true`. Never throws; close() stops it.
 */
export class PolicyWatcher {
  private readonly dir: string;
  private readonly debounceMs: number;
  private live: Policy;
  /** Hash of the bytes last checked, good or bad: the same bytes are not compiled (or rejected) twice. */
  private seen = '';
  /** New bytes seen but not yet compiled: their hash and when (now()) they were first read. */
  private pending: { key: string; since: number } | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private readonly settleMs: number;
  private readonly now: () => number;
  private readonly state: ReloadStatus;
  private dirWatcher: FSWatcher | undefined;
  private watchBroken = false;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: PolicyWatcherOptions) {
    this.dir = dirname(opts.file);
    this.debounceMs = opts.debounceMs ?? 100;
    this.settleMs = opts.settleMs ?? SETTLE_MS;
    this.now = opts.now ?? (() => performance.now());
    this.live = opts.initial;
    // The live policy's bytes need no settling: the first check finds them unchanged.
    this.seen = createHash('sha256').update(Buffer.from(opts.initial.text, 'utf8')).digest('hex');
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
   * Reads the policy file and, once its new bytes have settled, swaps or rejects it. `force` (SIGHUP)
   * compiles the bytes last seen again; new bytes still settle (the check then happens by itself once
   * they have). An unchanged checksum is never a reload.
   */
  check(force = false): CheckResult {
    if (this.closed) return 'closed';
    try {
      const key = contentKey(this.opts.file);
      if (key === this.seen) {
        this.pending = undefined;
        if (!force) return 'unchanged';
      } else if (!this.settled(key)) {
        return 'settling';
      }
      this.seen = key;
      let next: Policy;
      try {
        next = loadPolicyFile(this.opts.file);
      } catch (err) {
        return this.reject(err instanceof ConfigError ? err.problems : [`${this.opts.file}: cannot compile policy (${String(err)})`]);
      }
      if (next.checksum === this.live.checksum) return 'unchanged';
      if (next.detectors.length === 0 && this.live.detectors.length > 0 && !next.allowNoDetectors) {
        return this.reject([
          `${basename(this.opts.file)}: no detectors, where the live policy has ${this.live.detectors.length}: refused (an emptied or half-written file looks like this); to run without detectors, say allow_no_detectors: true`,
        ]);
      }
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
    clearTimeout(this.settleTimer);
    this.dirWatcher?.close();
    this.dirWatcher = undefined;
  }

  /**
   * Whether new bytes (`key`) have stayed the same for settleMs. The first read of them starts the
   * interval and a timer that checks again at its end; bytes that change meanwhile start it anew.
   */
  private settled(key: string): boolean {
    const t = this.now();
    if (this.pending?.key !== key) {
      this.pending = { key, since: t };
      this.settleCheck(this.settleMs);
      return false;
    }
    const waited = t - this.pending.since;
    if (waited >= this.settleMs) {
      this.pending = undefined;
      return true;
    }
    // Read again before the interval is over (a poll, a directory event): the timer still comes.
    if (!this.settleTimer) this.settleCheck(this.settleMs - waited);
    return false;
  }

  private settleCheck(afterMs: number): void {
    clearTimeout(this.settleTimer);
    // +5 ms: timers count whole milliseconds, now() does not; the check must not come a hair early.
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      this.check();
    }, Math.ceil(afterMs) + 5);
    this.settleTimer.unref();
  }

  private swap(next: Policy): CheckResult {
    const { metrics, logger, clock } = this.opts;
    const previous = this.live.checksum;
    const changes = detectorChanges(this.live, next);
    this.opts.onSwap(next);
    this.live = next;
    const atMs = clock.nowMs();
    this.state.loadedAt = new Date(atMs).toISOString();
    this.state.reloads.ok += 1;
    showLivePolicy(metrics, next.checksum, atMs);
    metrics.policyReloads.inc({ result: 'ok' });
    logger.info({ source: next.source, checksum: next.checksum, previous, detectors: next.detectors.length, ...changes }, 'policy reloaded');
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

/** Detectors by name: those the new policy adds, removes, and keeps with other settings. */
export function detectorChanges(live: Policy, next: Policy): { added: string[]; removed: string[]; changed: string[] } {
  const before = new Map(live.detectors.map((d) => [d.config.name, JSON.stringify(d.config)]));
  const after = new Map(next.detectors.map((d) => [d.config.name, JSON.stringify(d.config)]));
  return {
    added: [...after.keys()].filter((n) => !before.has(n)),
    removed: [...before.keys()].filter((n) => !after.has(n)),
    changed: [...after].filter(([n, c]) => before.has(n) && before.get(n) !== c).map(([n]) => n),
  };
}

/** sha256 of the file's bytes, or the read error's code: cheap enough to poll every few seconds. */
function contentKey(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch (err) {
    return `unreadable:${(err as NodeJS.ErrnoException).code ?? String(err)}`;
  }
}
