/**
 * Whether enough of an input could be read to replay it. A replay of what little survived a damaged or
 * misread input would report on traffic that is not there, and a CI gate on it would pass; so an input
 * is refused (ReplayInputError: the CLI exits 2) when
 *
 * - a log: fewer than `minPercent` % of its non-empty lines became requests (the rest were rejected as
 *   problems), nothing at all included;
 * - a capture: no HTTP request could be read from it. A capture's problems are places (a truncated
 *   record, a gap), not units, so no share is taken: a capture that is damaged after its first requests
 *   is replayed with its problems counted.
 *
 * The message says how much was read, the problems by kind and the first one.
 */
import { ReplayInputError } from '../errors.js';
import type { ReplayInput } from './types.js';

/** The default least share of a log's lines that must be read (`vigil replay --min-read`). */
export const DEFAULT_MIN_READ_PERCENT = 50;

const n = (v: number): string => v.toLocaleString('en-US');

function problemsText(input: ReplayInput): string {
  if (input.problems.length === 0) return '';
  const byKind = new Map<string, number>();
  for (const p of input.problems) byKind.set(p.kind, (byKind.get(p.kind) ?? 0) + 1);
  const kinds = [...byKind].sort(([, a], [, b]) => b - a).map(([k, c]) => `${k} ${n(c)}`).join(' · ');
  return `; problems: ${kinds}; the first: ${input.problems[0]!.detail}`;
}

/** Throws ReplayInputError when too little of `input` could be read; `minPercent` from 0 to 100. */
export function checkReadable(input: ReplayInput, minPercent = DEFAULT_MIN_READ_PERCENT): void {
  const problems = problemsText(input);
  if (input.lines !== undefined) {
    const read = input.exchanges.length;
    const lines = input.lines;
    if (read === 0) {
      throw new ReplayInputError(input.file, `nothing could be read: none of its ${n(lines)} lines is a request vigil can replay${problems}`);
    }
    const percent = (100 * read) / lines;
    if (percent < minPercent) {
      const shown = percent < 1 ? percent.toFixed(2) : percent.toFixed(0);
      throw new ReplayInputError(
        input.file,
        `only ${shown} % of its lines could be read (${n(read)} of ${n(lines)}), less than the ${minPercent} % replay needs (--min-read)${problems}`,
      );
    }
    return;
  }
  if (input.exchanges.length === 0) {
    const udp = input.udpHttpRequests > 0 ? ` (only ${n(input.udpHttpRequests)} HTTP-over-UDP requests, which are never replayed)` : '';
    const hint = udp !== '' ? udp : input.problems.length === 0 ? ' (HTTPS and HTTP/2 cannot be read from a capture; replay reads HTTP/1.x)' : '';
    throw new ReplayInputError(input.file, `nothing could be read: no HTTP request in this ${input.kind} capture${hint}${problems}`);
  }
}
