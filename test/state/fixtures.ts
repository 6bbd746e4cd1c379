/** Shared by the StateStore contract suite (contract-suite.ts, contract-ops.ts) and contract.test.ts. */
import assert from 'node:assert/strict';
import type { CountOp, DistinctOp, PenaltyRule, RateOp, StateStore } from '../../src/state/store.js';

export interface Harness {
  readonly store: StateStore;
  /** Empties the store. */
  reset(): Promise<void>;
  /** Remaining TTL of a key in ms (PTTL; the memory store measures it on the nowMs clock); -2 when missing. */
  pttl(key: string, nowMs: number): Promise<number>;
  /** Every live key (the memory store: live at nowMs), sorted. */
  keys(nowMs: number): Promise<string[]>;
  /** Keys held without a (finite) TTL: PTTL −1 in Redis; none may exist after any test. */
  untimed(): Promise<string[]>;
  close(): Promise<void>;
}

/** An instant on a minute boundary, so buckets and windows start there. */
export const T0 = 28_333_333 * 60_000;
export const B = 10_000;
/** Index of T0's one-minute window (count and distinct keys end in it). */
export const W0 = T0 / 60_000;

export function rateOp(over: Partial<RateOp> = {}): RateOp {
  return {
    kind: 'rate', name: 'r', bucketMs: B, alpha: 0.5, priorMean: 0, priorVariance: 0, priorWeight: 0,
    varianceFloor: 0, minCount: 0, clampZ: 1e9, ttlMs: 3_600_000, ...over,
  };
}
export function countOp(over: Partial<CountOp> = {}): CountOp {
  return { kind: 'count', name: 'c', windowMs: 60_000, ...over };
}
export function distinctOp(member: string, over: Partial<DistinctOp> = {}): DistinctOp {
  return { kind: 'distinct', name: 'd', member, windowMs: 60_000, ...over };
}
export function rule(op: number, above: number, action: PenaltyRule['action'], detector: string, durationMs = 30_000): PenaltyRule {
  return { op, above, action, durationMs, detector };
}

export function near(actual: number | undefined, expected: number, what: string): void {
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= 1e-9, `${what}: got ${actual}, expected ${expected}`);
}
