/**
 * The options `vigil replay` and `vigil profile` read alike (the same inputs, the same report of
 * flagged callers), parsed and checked in one place so the two commands say the same thing.
 */
import { DEFAULT_MIN_READ_PERCENT } from '../replay/input-check.js';

/** A command line that cannot be used: the command prints it with its usage and exits 2. */
export class UsageError extends Error {}

/** `--top N`: how many flagged callers the report lists. */
export function topOption(value: string | undefined, dflt: number): number {
  const top = value === undefined ? dflt : Number(value);
  if (!Number.isInteger(top) || top < 0) throw new UsageError('--top must be a whole number');
  return top;
}

/** `--min-read PERCENT`: the share of an input that must be readable (input-check.ts). */
export function minReadOption(value: string | undefined): number {
  const raw = value ?? String(DEFAULT_MIN_READ_PERCENT);
  const percent = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || percent > 100) throw new UsageError('--min-read must be a percentage from 0 to 100');
  return percent;
}
