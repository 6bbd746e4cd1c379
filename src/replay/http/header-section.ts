/**
 * Reads a header (or trailer) section: field lines up to the empty line that ends it (RFC 9112 §5, §2.1).
 *
 *   field-line = field-name ":" OWS field-value OWS        field-name = token (RFC 9110 §5.1)
 *
 * Lines are decoded as latin1 so no byte is lost. A line without a colon, with whitespace before the colon
 * (RFC 9112 §5.1) or with a name that is not a token is reported and skipped; the message is kept. A line starting
 * with SP/HTAB continues the previous field (obs-fold, RFC 9112 §5.2) and is joined to it with one SP.
 */
import type { HeaderPairs } from '../types.js';
import { readLine, type Run } from './byte-stream.js';
import { isToken } from './start-line.js';

export type HeaderSectionResult =
  | {
      kind: 'ok';
      headers: HeaderPairs;
      /** Field lines that were skipped, as sent (for problem details). */
      badLines: string[];
      /** Offset just after the empty line. */
      next: number;
      /** Bytes the section took, the empty line included. */
      bytes: number;
    }
  | { kind: 'gap' }
  | { kind: 'end' }
  | { kind: 'too-large' };

/** Strips leading and trailing OWS (SP / HTAB, RFC 9110 §5.6.3). */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === 0x09)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === 0x09)) b--;
  return s.slice(a, b);
}

/** Reads field lines from `o` until an empty line, within `budget` bytes. */
export function readHeaderSection(run: Run, o: number, budget: number, isLastRun: boolean): HeaderSectionResult {
  const headers: HeaderPairs = [];
  const badLines: string[] = [];
  let used = 0;
  /** Whether the previous line was a field we kept (an obs-fold line may only continue one of those). */
  let lastKept = false;
  for (;;) {
    if (used >= budget) return { kind: 'too-large' };
    const line = readLine(run, o, budget - used, isLastRun);
    if (line.kind === 'too-long') return { kind: 'too-large' };
    if (line.kind !== 'line') return line;
    used += line.bytes;
    o = line.next;
    const text = line.text;
    if (text.length === 0) return { kind: 'ok', headers, badLines, next: o, bytes: used };
    const first = text.charCodeAt(0);
    if (first === 0x20 || first === 0x09) {
      const last = headers[headers.length - 1];
      if (lastKept && last !== undefined) {
        const more = trimOws(text);
        if (more.length > 0) last[1] = last[1].length > 0 ? `${last[1]} ${more}` : more;
      } else {
        badLines.push(text);
      }
      continue;
    }
    const colon = text.indexOf(':');
    const name = colon < 0 ? '' : text.slice(0, colon);
    if (!isToken(name)) {
      badLines.push(text);
      lastKept = false;
      continue;
    }
    headers.push([name, trimOws(text.slice(colon + 1))]);
    lastKept = true;
  }
}

/** All values of a field (case-insensitive name), in order. */
export function fieldValues(headers: HeaderPairs, name: string): string[] {
  const lower = name.toLowerCase();
  const out: string[] = [];
  for (const [n, v] of headers) if (n.toLowerCase() === lower) out.push(v);
  return out;
}
