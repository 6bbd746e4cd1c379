/**
 * TieredStore: the request path's StateStore when replicas share a store (Redis). It never waits on the
 * network: every batch runs on an in-process tier (a MemoryStore, the same maths as everywhere), and a
 * sync loop carries the changes to the shared store and the merged state back.
 *
 *   run(batches)   the tier answers at once; each batch's changes are recorded as the subject's
 *                  delta (delta.ts): rate increments per bucket, counts, HyperLogLog members, penalties
 *                  set, strikes, credit, cleared challenges.
 *   sync           at most every syncMs of vigil's clock (driven by run and by tick, so a manual clock
 *                  drives it in tests and replay), one SharedStore.sync call with every dirty subject's
 *                  delta: one pipelined round trip. The shared store merges them (counts add, registers
 *                  merge, the stronger penalty wins, …) and replies with the merged state, which
 *                  replaces the tier's for those keys; changes recorded while the sync was in flight
 *                  are applied again on top. With one replica the merged state is the tier's own, so
 *                  decisions are exactly those of the embedded store.
 *   new subjects   a subject the tier has not synced yet (new, evicted, or idle since before the last
 *                  sync) is decided from the tier alone, and asks for an early sync so its shared state
 *                  arrives one round trip later instead of one interval later (docs/architecture.md
 *                  states what this lets through).
 *   failures       a sync that could not be sent keeps its changes for the next one (backoff doubles
 *                  from syncMs to maxBackoffMs); one that was sent but got no answer (deadline, dropped
 *                  connection) may have been applied, so its changes are not sent again (counting them
 *                  twice would raise false positives; losing one interval's worth under-counts instead)
 *                  and the connection is reset. Decisions go on from the tier meanwhile; `degraded`
 *                  says so.
 *   memory         at most maxSubjects subjects; beyond that the least recently used subjects whose
 *                  changes have been synced are dropped from the tier (never one with unsent changes,
 *                  unless the tier holds twice maxSubjects while the shared store is away).
 *
 * Admin calls (list, inspect, lift) flush first and then go to the shared store; lift and the
 * upstream's step-up confirmation also apply to the tier at once.
 */
import { FIRST_CURSOR, concatDeltas, emptyDelta, lastGroup, strongerPenalty, type PenaltyEvent, type SubjectDelta, type SubjectSnapshot } from './delta.js';
import { withDeadline } from './deadline.js';
import { MemoryStore } from './memory-store.js';
import { isDetectorState, type Batch, type BatchResult, type LiftedPenalty, type ListedPenalty, type PopulationStats, type SharedStore, type StateStore, type SubjectState } from './store.js';

export interface TierOptions {
  /** Interval between syncs, on vigil's clock. */
  syncMs: number;
  /** Subjects held in the tier. Default 20_000 (about 10 KB of RSS each, docs/performance-notes.md). */
  maxSubjects?: number;
  /** A sync with no answer after this long (wall clock) is abandoned. Default 2000 ms. */
  deadlineMs?: number;
  /** Subjects sent in one sync at most (the rest follow at once in the next). Default 10_000. */
  maxPerSync?: number;
  /** Longest wait between failed syncs. Default 5000 ms. */
  maxBackoffMs?: number;
  /** Told after every sync attempt (metrics, logs). */
  onSync?: (report: SyncReport) => void;
  /**
   * A monotonic wall clock (ms) for the backoff after failures, which is about sparing a struggling
   * store in real time, not about decisions; main gives performance.now. Default: the backoff
   * runs on vigil's clock instead.
   */
  wallMs?: () => number;
  /** Resets the shared store's connection after an unanswered sync, or a deadline of not being ready. */
  resetConnection?: () => void;
  /** Whether the shared store can take a call now (false: keep the changes, do not send). */
  canSend?: () => boolean;
}

export interface SyncReport {
  ok: boolean;
  /** Subjects sent. */
  subjects: number;
  /** What went wrong: 'not-ready' (kept for the next sync), 'timeout' or 'error' (dropped). */
  failure?: 'not-ready' | 'timeout' | 'error';
  error?: unknown;
  /** Subjects whose unsent changes were dropped (unanswered sync, or eviction under pressure). */
  dropped: number;
}

interface Entry {
  /** Every key the tier holds for the subject (to forget it on eviction). */
  keys: Set<string>;
  pending: SubjectDelta | null;
  inflight: SubjectDelta | null;
  /** Clock time of the sync that last refreshed it, or -Infinity. */
  syncedAtMs: number;
}

export class TieredStore implements StateStore {
  readonly kind: StateStore['kind'];
  readonly local = new MemoryStore({ maxKeys: Number.MAX_SAFE_INTEGER });
  private readonly entries = new Map<string, Entry>();
  private readonly syncMs: number;
  private readonly maxSubjects: number;
  private readonly deadlineMs: number;
  /** Since when (wall) canSend has said no without a break; null while it says yes. */
  private notReadySinceMs: number | null = null;
  private readonly maxBackoffMs: number;
  private readonly maxPerSync: number;
  private syncing: Promise<void> | null = null;
  private lastSyncAtMs = -Infinity;
  private nextAttemptMs = -Infinity;
  private failures = 0;
  private lastOkAtMs = -Infinity;
  private earlyWanted = false;
  private latestMs = -Infinity;
  /** Where this replica is in the shared store's penalty events. */
  private cursor = FIRST_CURSOR;
  /** Least clock time between an early sync (for a subject not in the last sync) and the one before. */
  private readonly earlyMs: number;

  constructor(
    readonly shared: SharedStore,
    private readonly opts: TierOptions,
  ) {
    this.kind = shared.kind;
    this.syncMs = Math.max(1, opts.syncMs);
    this.maxSubjects = Math.max(1, opts.maxSubjects ?? 20_000);
    this.deadlineMs = opts.deadlineMs ?? 2000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 5000;
    this.maxPerSync = Math.max(1, opts.maxPerSync ?? 10_000);
    this.earlyMs = Math.max(1, Math.floor(this.syncMs / 10));
  }

  /** Subjects held, and those with changes not yet merged into the shared store. */
  get subjects(): number {
    return this.entries.size;
  }
  get dirty(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.pending || e.inflight) n++;
    return n;
  }
  /** Clock time since the last successful sync (0 before the first attempt). */
  lagMs(nowMs: number): number {
    return this.lastOkAtMs === -Infinity ? (this.lastSyncAtMs === -Infinity ? 0 : nowMs - this.lastSyncAtMs) : Math.max(0, nowMs - this.lastOkAtMs);
  }
  /**
   * 'store-sync' while the shared store cannot be reached (the last sync failed, or the connection is
   * down): decisions are then this replica's own view. Else null.
   */
  get degraded(): string | null {
    return this.failures > 0 || (this.opts.canSend !== undefined && !this.opts.canSend()) ? 'store-sync' : null;
  }

  async run(batches: Batch[], nowMs: number): Promise<BatchResult[]> {
    const results = this.local.runNow(batches, nowMs);
    for (let i = 0; i < batches.length; i++) this.record(batches[i]!, results[i]!, nowMs);
    this.tick(nowMs);
    return results;
  }

  /** Starts a sync when one is due on the clock (or a new subject wants one), unless one is running. */
  tick(nowMs: number): void {
    if (nowMs > this.latestMs) this.latestMs = nowMs;
    if (this.syncing) return;
    if (this.failures > 0) {
      // Retrying: when the backoff has passed, whatever the clock says (a manual clock may stand still).
      if (this.wall(nowMs) >= this.nextAttemptMs) void this.syncNow(nowMs);
      return;
    }
    const since = nowMs - this.lastSyncAtMs;
    if (since >= this.syncMs || (this.earlyWanted && since >= this.earlyMs)) void this.syncNow(nowMs);
  }

  /** Syncs now (waiting for one in flight first), at nowMs or the latest time seen; never rejects. */
  async flush(nowMs = this.latestMs): Promise<void> {
    if (this.syncing) await this.syncing;
    if (nowMs === -Infinity) return;
    await this.syncNow(nowMs);
  }

  private syncNow(nowMs: number): Promise<void> {
    this.syncing ??= this.syncOnce(nowMs).finally(() => {
      this.syncing = null;
    });
    return this.syncing;
  }

  private async syncOnce(nowMs: number): Promise<void> {
    this.lastSyncAtMs = nowMs;
    this.earlyWanted = false;
    const sent: Entry[] = [];
    const deltas: SubjectDelta[] = [];
    for (const e of this.entries.values()) {
      if (!e.pending) continue;
      if (deltas.length === this.maxPerSync) {
        // The rest go with the next sync, due at once.
        this.earlyWanted = true;
        break;
      }
      e.inflight = e.pending;
      e.pending = null;
      sent.push(e);
      deltas.push(e.inflight);
    }
    const report: SyncReport = { ok: true, subjects: deltas.length, dropped: 0 };
    if (this.opts.canSend && !this.opts.canSend()) {
      for (const e of sent) this.putBack(e, nowMs);
      // Not ready for a whole deadline: a connection stuck in its handshake (a hung peer that accepts
      // connections and answers nothing) is abandoned too; a store that is simply away is left to its
      // own reconnects (resetConnection ignores those states).
      const wall = this.wall(nowMs);
      if (this.notReadySinceMs === null) this.notReadySinceMs = wall;
      else if (wall - this.notReadySinceMs >= this.deadlineMs) {
        this.notReadySinceMs = wall;
        this.opts.resetConnection?.();
      }
      this.failed(report, 'not-ready', undefined, nowMs);
      return;
    }
    this.notReadySinceMs = null;
    try {
      // withDeadline judges the deadline after the loop has read its sockets once more: a stall of
      // vigil's own (CPU starvation) is not blamed on the store (deadline.ts).
      const { snapshots, events, cursor } = await withDeadline(this.shared.sync(deltas, nowMs, this.cursor), this.deadlineMs, () =>
        Object.assign(new Error(`sync: no answer after ${this.deadlineMs} ms`), { timeout: true }),
      );
      this.cursor = cursor;
      let kept = 0;
      for (let i = 0; i < sent.length; i++) {
        const e = sent[i]!;
        const d = e.inflight!;
        const snap = snapshots[i];
        if (!snap) {
          // Its node was away (a cluster master): not applied, so kept for the next sync.
          this.putBack(e, nowMs);
          kept++;
          continue;
        }
        e.inflight = null;
        this.local.importSnapshot(snap, d, this.latestMs);
        // Changes made since the sync was sent go again on top of what was imported; keys it did not
        // carry were not replaced, so they hold those changes already.
        if (e.pending) this.local.applyDelta(importedPart(e.pending, snap), this.latestMs);
        e.syncedAtMs = nowMs;
        // Window keys come and go (a new one per window): forget those the tier no longer holds.
        for (const key of e.keys) if (!this.local.has(key)) e.keys.delete(key);
      }
      for (const ev of events) this.applyEvent(ev);
      if (kept > 0) {
        this.failed(report, 'error', new Error(`${kept} of ${sent.length} subjects' nodes did not answer`), nowMs);
        return;
      }
      this.failures = 0;
      this.nextAttemptMs = -Infinity;
      this.lastOkAtMs = nowMs;
      this.evict();
      this.opts.onSync?.(report);
    } catch (err) {
      const timedOut = (err as { timeout?: boolean }).timeout === true;
      if ((err as { notApplied?: boolean }).notApplied === true) {
        // Refused without being run (a cluster redirect, a node away): send it again later.
        for (const e of sent) this.putBack(e, nowMs);
        this.failed(report, 'error', err, nowMs);
        return;
      }
      // Sent, but no answer: the store may have merged it. Do not send it again (see the header).
      for (const e of sent) e.inflight = null;
      report.dropped = sent.length;
      if (timedOut) this.opts.resetConnection?.();
      this.failed(report, timedOut ? 'timeout' : 'error', err, nowMs);
    }
  }

  private failed(report: SyncReport, failure: NonNullable<SyncReport['failure']>, error: unknown, nowMs: number): void {
    this.failures++;
    this.nextAttemptMs = this.wall(nowMs) + Math.min(this.maxBackoffMs, this.syncMs * 2 ** Math.min(this.failures - 1, 16));
    report.ok = false;
    report.failure = failure;
    if (error !== undefined) report.error = error;
    report.dropped += this.evict();
    this.opts.onSync?.(report);
  }

  /**
   * A penalty set or lifted on any replica: taken into the tier at once, for subjects it holds or not,
   * so the next request of that subject here is decided with it.
   */
  private applyEvent(ev: PenaltyEvent): void {
    const nowMs = this.latestMs;
    if (ev.penalty === null) {
      if (!this.entries.has(ev.subject)) return;
      void this.local.liftPenalty(ev.subject, nowMs);
      this.forgetLifted(ev.subject, ev.detector);
      return;
    }
    if (!(ev.penalty.untilMs > nowMs)) return;
    if (!this.entries.has(ev.subject)) {
      this.entries.set(ev.subject, { keys: new Set(), pending: null, inflight: null, syncedAtMs: -Infinity });
    }
    this.local.applyDelta({ ...emptyDelta(ev.subject), penalty: ev.penalty }, nowMs);
  }

  private wall(nowMs: number): number {
    return this.opts.wallMs ? this.opts.wallMs() : nowMs;
  }

  /** An unsent delta goes back in front of the changes made since. */
  private putBack(e: Entry, nowMs: number): void {
    const d = e.inflight!;
    e.inflight = null;
    e.pending = e.pending ? concatDeltas(d, e.pending, nowMs) : d;
  }

  /** Drops least recently used subjects beyond maxSubjects; returns how many lost unsent changes. */
  private evict(): number {
    let over = this.entries.size - this.maxSubjects;
    if (over <= 0) return 0;
    const pressure = this.entries.size >= 2 * this.maxSubjects;
    let lost = 0;
    for (const [subject, e] of this.entries) {
      if (over <= 0) break;
      if (e.inflight) continue;
      if (e.pending && !pressure) continue;
      if (e.pending) lost++;
      this.forget(subject, e);
      over--;
    }
    return lost;
  }

  private forget(subject: string, e: Entry): void {
    this.local.forget(e.keys);
    this.local.forget([`vigil:{${subject}}:penalty`, `vigil:{${subject}}:strikes`, `vigil:{${subject}}:credit`]);
    this.entries.delete(subject);
  }

  /** The subject's entry, most recently used now. */
  private touch(subject: string): Entry {
    let e = this.entries.get(subject);
    if (e) {
      this.entries.delete(subject);
    } else {
      e = { keys: new Set(), pending: null, inflight: null, syncedAtMs: -Infinity };
    }
    this.entries.set(subject, e);
    // Not refreshed by the latest sync: new here, evicted, or idle since. Fetch its shared state soon.
    if (e.syncedAtMs < this.lastSyncAtMs || e.syncedAtMs === -Infinity) {
      if (!e.inflight) this.earlyWanted = true;
    }
    return e;
  }

  /** Adds one batch's changes (and its result's penalty, strikes and credit) to the subject's delta. */
  private record(batch: Batch, result: BatchResult, nowMs: number): void {
    const e = this.touch(batch.subject);
    const d = (e.pending ??= emptyDelta(batch.subject));
    const prefix = `vigil:{${batch.subject}}`;
    for (const op of batch.ops) {
      if (op.kind === 'rate') {
        const by = op.by ?? 1;
        const last = lastGroup(d.rates, op.name);
        if (last && Math.floor(last.atMs / op.bucketMs) === Math.floor(nowMs / op.bucketMs) && nowMs >= last.atMs) {
          last.by += by;
          last.lastMs = nowMs;
        } else {
          d.rates.push({ name: op.name, op, atMs: nowMs, lastMs: nowMs, by });
          e.keys.add(`${prefix}:rate:${op.name}`);
        }
      } else if (op.kind === 'count') {
        const w = Math.floor(nowMs / op.windowMs);
        addCount(d, e, prefix, op.name, w, op.windowMs, op.by ?? 1, nowMs);
        if (op.sliding) addCount(d, e, prefix, op.name, w - 1, op.windowMs, 0, nowMs);
      } else {
        if (op.member === '') continue;
        const w = Math.floor(nowMs / op.windowMs);
        addMember(d, e, prefix, op.name, w, op.windowMs, op.member, nowMs);
        if (op.learn) addMember(d, e, prefix, op.name, w - 1, op.windowMs, '', nowMs);
      }
    }
    if (result.cleared) {
      d.clearedSinceMs = nowMs;
      if (d.penalty?.action === 'challenge') d.penalty = null;
      d.creditUntilMs = Math.max(d.creditUntilMs, result.creditUntilMs);
    }
    const p = result.penalty;
    if (p && p.sinceMs === nowMs && result.fired.length > 0) {
      d.penalty = strongerPenalty(d.penalty, p);
      if (batch.escalation) d.strikes = this.local.strikesOf(batch.subject, nowMs);
    }
  }

  mergePopulation(name: string, samples: number[], alpha: number, ttlMs: number, nowMs: number): Promise<PopulationStats> {
    return this.shared.mergePopulation(name, samples, alpha, ttlMs, nowMs);
  }

  /**
   * Lifts in the shared store (after a flush, so no unsent penalty comes back) and in the tier, with
   * the lifted detector's state on both (and in the changes not sent yet).
   */
  async liftPenalty(subject: string, nowMs: number): Promise<LiftedPenalty | null> {
    await this.flush(nowMs);
    const lifted = await this.shared.liftPenalty(subject, nowMs);
    const local = await this.local.liftPenalty(subject, nowMs);
    const detector = lifted?.detector ?? local?.detector;
    this.forgetLifted(subject, detector);
    return lifted ?? local;
  }

  /** The lift of a subject's penalty in the tier's unsent changes (and the detector's state there). */
  private forgetLifted(subject: string, detector: string | undefined): void {
    const e = this.entries.get(subject);
    if (detector !== undefined) this.local.resetDetector(subject, detector);
    if (!e?.pending) return;
    const d = e.pending;
    d.penalty = null;
    d.strikes = null;
    if (detector === undefined) return;
    d.rates = d.rates.filter((g) => !isDetectorState(`rate:${g.name}`, detector));
    for (const suffix of [...d.counts.keys()]) if (isDetectorState(suffix, detector)) d.counts.delete(suffix);
    for (const suffix of [...d.hlls.keys()]) if (isDetectorState(suffix, detector)) d.hlls.delete(suffix);
  }

  /** The upstream confirmed a step-up: cleared in the tier now, merged into the shared store at the next sync. */
  async confirmStepUp(subject: string, creditMs: number, nowMs: number): Promise<boolean> {
    const cleared = await this.local.confirmStepUp(subject, creditMs, nowMs);
    if (cleared) {
      const e = this.touch(subject);
      const d = (e.pending ??= emptyDelta(subject));
      d.clearedSinceMs = nowMs;
      if (d.penalty?.action === 'challenge') d.penalty = null;
      d.creditUntilMs = Math.max(d.creditUntilMs, nowMs + Math.max(1, Math.ceil(creditMs)));
      this.tick(nowMs);
    }
    return cleared;
  }

  async listPenalties(nowMs: number, limit: number): Promise<ListedPenalty[]> {
    await this.flush(nowMs);
    return this.shared.listPenalties(nowMs, limit);
  }

  async inspect(subject: string, nowMs: number): Promise<SubjectState> {
    await this.flush(nowMs);
    return this.shared.inspect(subject, nowMs);
  }

  ping(): Promise<void> {
    return this.shared.ping();
  }

  /** Flushes what it can (bounded by the sync deadline), then closes the shared store. */
  async close(): Promise<void> {
    await this.flush();
    await this.local.close();
    await this.shared.close();
  }
}

/** The part of `d` on keys the snapshot replaced (penalty, strikes, credit and clears always are). */
function importedPart(d: SubjectDelta, snap: SubjectSnapshot): SubjectDelta {
  const out: SubjectDelta = { ...d, rates: d.rates.filter((g) => snap.rates.has(g.name)), counts: new Map(), hlls: new Map() };
  for (const [suffix, c] of d.counts) if (snap.counts.has(suffix)) out.counts.set(suffix, c);
  for (const [suffix, h] of d.hlls) if (snap.hlls.has(suffix)) out.hlls.set(suffix, h);
  return out;
}

function addCount(d: SubjectDelta, e: Entry, prefix: string, name: string, w: number, windowMs: number, by: number, nowMs: number): void {
  const suffix = `count:${name}:${w}`;
  const have = d.counts.get(suffix);
  if (have) have.by += by;
  else {
    d.counts.set(suffix, { name, w, windowMs, by, atMs: nowMs });
    e.keys.add(`${prefix}:${suffix}`);
  }
}

function addMember(d: SubjectDelta, e: Entry, prefix: string, name: string, w: number, windowMs: number, member: string, nowMs: number): void {
  const suffix = `hll:${name}:${w}`;
  let have = d.hlls.get(suffix);
  if (!have) {
    have = { name, w, windowMs, members: new Set(), lastMs: nowMs };
    d.hlls.set(suffix, have);
    e.keys.add(`${prefix}:${suffix}`);
  }
  if (member !== '') {
    have.members.add(member);
    have.lastMs = nowMs;
  }
}
