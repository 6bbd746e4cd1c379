/**
 * The wire format of the tier's sync with Redis (lua/sync.lua's KEYS and ARGV, its reply) and of the
 * penalty events every replica reads, for redis-store.ts. delta.ts says what the values mean.
 */
import { StoreUnavailableError } from '../errors.js';
import type { PenaltyEvent, SubjectDelta, SubjectSnapshot } from './delta.js';
import { decodeRedisHll } from './redis-hll.js';
import { DEFAULT_MAX_EMPTY, PENALTY_ORDER, type Penalty, type PenaltyAction } from './store.js';

export type Arg = string | number;

/** Durations go to PEXPIRE as positive whole milliseconds, rounded up (memory-store.ts does the same). */
export function ttlArg(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}

/** The six penalty fields of a script reply from index `at` (penalty.lua's penalty_fields). */
export function parsePenalty(r: string[], at: number): Penalty | null {
  if (r[at] === '') return null;
  return {
    action: r[at] as PenaltyAction,
    untilMs: Number(r[at + 1]),
    detector: r[at + 2]!,
    score: Number(r[at + 3]),
    sinceMs: Number(r[at + 4]),
    level: Number(r[at + 5]),
  };
}

/**
 * The penalty events every replica reads at its sync (delta.ts PenaltyEvent): a capped stream in a slot
 * of its own, kept a day after the last event.
 */
export const EVENTS_KEY = 'vigil:{events}:penalties';
export const EVENTS_TTL_MS = 86_400_000;

export function eventFields(subject: string, p: Penalty | null): Arg[] {
  if (!p) return ['s', subject, 'lift', 1];
  return ['s', subject, 'a', p.action, 'u', p.untilMs, 'd', p.detector, 'c', p.score, 'i', p.sinceMs, 'l', p.level];
}

/** XRANGE's entries as events, and the last entry's id. */
export function parseEvents(reply: unknown): { events: PenaltyEvent[]; last: string | null } {
  const events: PenaltyEvent[] = [];
  let last: string | null = null;
  if (!Array.isArray(reply)) return { events, last };
  for (const entry of reply as Array<[string, string[]]>) {
    const [id, list] = entry;
    last = id;
    const f = new Map<string, string>();
    for (let i = 0; i + 1 < list.length; i += 2) f.set(list[i]!, list[i + 1]!);
    const subject = f.get('s');
    if (subject === undefined) continue;
    const action = f.get('a');
    if (f.has('lift') || action === undefined || !PENALTY_ORDER.includes(action as PenaltyAction)) {
      const detector = f.get('d');
      events.push({ subject, penalty: null, ...(detector !== undefined ? { detector } : {}) });
      continue;
    }
    events.push({
      subject,
      penalty: {
        action: action as PenaltyAction, untilMs: Number(f.get('u')), detector: f.get('d') ?? '', score: Number(f.get('c')),
        sinceMs: Number(f.get('i')), level: Number(f.get('l') ?? 0),
      },
    });
  }
  return { events, last };
}

/** KEYS and ARGV of one `vigil_sync` call (lua/sync.lua's header). */
export function syncArgs(d: SubjectDelta, nowMs: number): [string[], Arg[]] {
  const prefix = `vigil:{${d.subject}}`;
  const keys = [`${prefix}:penalty`, `${prefix}:strikes`, `${prefix}:credit`];
  const index = new Map<string, number>();
  const keyIndex = (key: string): number => {
    let i = index.get(key);
    if (i === undefined) {
      keys.push(key);
      i = keys.length;
      index.set(key, i);
    }
    return i;
  };
  const packed: Record<string, unknown> = {};
  if (d.rates.length > 0) {
    packed.r = d.rates.map((g) => {
      const o = g.op;
      return [
        keyIndex(`${prefix}:rate:${g.name}`), o.bucketMs, o.alpha, g.by, o.priorMean, o.priorVariance, o.priorWeight,
        o.varianceFloor, o.minCount, o.clampZ, ttlArg(o.ttlMs), o.maxEmpty ?? DEFAULT_MAX_EMPTY, o.skipLongGaps ? 1 : 0, g.atMs, g.lastMs,
      ];
    });
  }
  if (d.counts.size > 0) packed.c = [...d.counts].map(([suffix, c]) => [keyIndex(`${prefix}:${suffix}`), c.by, ttlArg(c.windowMs * 2)]);
  if (d.hlls.size > 0) packed.h = [...d.hlls].map(([suffix, h]) => [keyIndex(`${prefix}:${suffix}`), ttlArg(h.windowMs * 2), ...h.members]);
  const p = d.penalty;
  if (p) packed.p = [p.action, p.untilMs, p.detector, p.score, p.sinceMs, p.level];
  if (d.strikes) packed.s = [d.strikes.n, d.strikes.last, d.strikes.w, d.strikes.k];
  if (d.creditUntilMs > 0) packed.k = d.creditUntilMs;
  if (d.clearedSinceMs >= 0) packed.x = d.clearedSinceMs;
  return [keys, [nowMs, JSON.stringify(packed)]];
}

/** A `vigil_sync` reply (Buffers) as the snapshot of the delta's keys. */
export function parseSnapshot(d: SubjectDelta, reply: unknown, nowMs: number): SubjectSnapshot {
  if (!Array.isArray(reply) || !reply.every((x) => Buffer.isBuffer(x))) {
    throw new StoreUnavailableError('error', 'redis: unexpected vigil_sync reply');
  }
  const r = reply as Buffer[];
  const text = (i: number): string => r[i]?.toString('latin1') ?? '';
  const head = Array.from({ length: 6 }, (_, i) => text(i));
  const penalty = parsePenalty(head, 0);
  const strikes = text(6) === '' ? null : { n: Number(text(6)), last: Number(text(7)), w: Number(text(8)), k: Number(text(9)) };
  const snap: SubjectSnapshot = {
    subject: d.subject,
    penalty: penalty && penalty.untilMs > nowMs ? penalty : null,
    strikes,
    creditUntilMs: Number(text(10)),
    rates: new Map(),
    counts: new Map(),
    hlls: new Map(),
  };
  // Keys come back in the order syncArgs put them in KEYS: rates (each name once), counts, hlls.
  let at = 11;
  for (const g of d.rates) {
    if (snap.rates.has(g.name)) continue;
    const f = Array.from({ length: 6 }, (_, i) => text(at + i));
    at += 6;
    snap.rates.set(g.name, f[0] === '' ? null : { b: Number(f[0]), c: Number(f[1]), m: Number(f[2]), v: Number(f[3]), n: Number(f[4]), x: f[5] === '' ? nowMs + ttlArg(g.op.ttlMs) : Number(f[5]) });
  }
  for (const suffix of d.counts.keys()) snap.counts.set(suffix, Number(text(at++)));
  for (const suffix of d.hlls.keys()) {
    const raw = r[at++];
    snap.hlls.set(suffix, raw && raw.length > 0 ? decodeRedisHll(raw) : null);
  }
  if (at !== r.length) throw new StoreUnavailableError('error', `redis: vigil_sync reply has ${r.length} fields, expected ${at}`);
  return snap;
}
