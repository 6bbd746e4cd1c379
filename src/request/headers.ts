/**
 * Request headers as vigil sees them, decoded from ext_proc's HeaderMap.
 *
 * Values are "byte strings": every byte becomes the char with the same code (latin1), so decoding is
 * lossless and never throws on invalid UTF-8 or binary. Envoy sends values in `raw_value`; the string
 * `value` field is only a fallback and is first encoded to UTF-8 bytes so both paths give the same
 * string for the same bytes on the wire. Pure: no I/O, no clock.
 */

import type { HeaderMap } from '../extproc/messages.js';

/**
 * An ordered multi-map of headers; names are lower-cased on construction and lookup. A value may be
 * given as its bytes: it is decoded (latin1, as above) the first time it is read, so the headers
 * nothing reads (most of a request's) are never turned into strings.
 */
export class HeaderList {
  private readonly keys: string[] = [];
  private readonly values: Array<string | Buffer> = [];
  /** Index of the first value per name; later values of repeated names live in `more` (rare, so not paid for per header). */
  private readonly first = new Map<string, number>();
  private more: Map<string, number[]> | undefined;

  constructor(pairs: ReadonlyArray<readonly [name: string, value: string | Buffer]>) {
    for (const [rawName, value] of pairs) {
      const name = rawName.toLowerCase();
      const at = this.keys.length;
      this.keys.push(name);
      this.values.push(value);
      if (!this.first.has(name)) this.first.set(name, at);
      else {
        this.more ??= new Map();
        const indexes = this.more.get(name);
        if (indexes) indexes.push(at);
        else this.more.set(name, [at]);
      }
    }
  }

  /** The first value of `name`, or undefined. */
  get(name: string): string | undefined {
    const at = this.first.get(name.toLowerCase());
    return at === undefined ? undefined : this.value(at);
  }

  /** Every value of `name`, in arrival order (empty when absent). */
  all(name: string): string[] {
    const key = name.toLowerCase();
    const head = this.first.get(key);
    if (head === undefined) return [];
    const out = [this.value(head)];
    for (const at of this.more?.get(key) ?? []) out.push(this.value(at));
    return out;
  }

  /** The distinct header names, in order of first arrival. */
  names(): IterableIterator<string> {
    return this.first.keys();
  }

  /** Every [name, value] pair, in arrival order. */
  entries(): Array<[string, string]> {
    return this.keys.map((name, at) => [name, this.value(at)]);
  }

  get size(): number {
    return this.keys.length;
  }

  private value(at: number): string {
    const v = this.values[at]!;
    if (typeof v === 'string') return v;
    const text = v.toString('latin1');
    this.values[at] = text;
    return text;
  }
}

export interface HeaderLimits {
  /** Values (and names) longer than this many bytes are truncated. */
  maxValueBytes: number;
  /** Headers past this count are dropped. */
  maxHeaders: number;
}

export interface DecodedHeaders {
  headers: HeaderList;
  /** Human-readable notes on what was truncated, dropped or skipped; never contain a header value. */
  problems: string[];
}

/** Decodes an ext_proc HeaderMap into a HeaderList, applying size limits. Never throws. */
export function decodeHeaderMap(map: HeaderMap | undefined, limits: HeaderLimits): DecodedHeaders {
  const problems: string[] = [];
  const pairs: Array<[string, Buffer]> = [];
  const entries = Array.isArray(map?.headers) ? map.headers : [];
  const maxBytes = Math.max(0, Math.floor(limits.maxValueBytes));
  const maxHeaders = Math.max(0, Math.floor(limits.maxHeaders));

  for (let i = 0; i < entries.length; i++) {
    if (pairs.length >= maxHeaders) {
      problems.push(`dropped ${entries.length - i} header(s) past the limit of ${maxHeaders}`);
      break;
    }
    const entry = entries[i];
    const key = typeof entry?.key === 'string' ? entry.key : '';
    if (key === '') {
      problems.push(`header #${i} has no key; skipped`);
      continue;
    }
    let name = key;
    if (name.length > maxBytes) {
      problems.push(`header #${i} name truncated from ${name.length} to ${maxBytes} chars`);
      name = name.slice(0, maxBytes);
    }
    const bytes = valueBytes(entry?.raw_value, entry?.value);
    if (bytes.length > maxBytes) {
      problems.push(`header ${describeName(name)} value truncated from ${bytes.length} to ${maxBytes} bytes`);
    }
    // Decoded by the HeaderList when something reads it.
    pairs.push([name, bytes.length > maxBytes ? bytes.subarray(0, maxBytes) : bytes]);
  }
  return { headers: new HeaderList(pairs), problems };
}

function valueBytes(raw: Uint8Array | undefined, value: string | undefined): Buffer {
  if (raw instanceof Uint8Array && raw.length > 0) {
    return Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  }
  if (typeof value === 'string' && value.length > 0) return Buffer.from(value, 'utf8');
  return NO_BYTES;
}

const NO_BYTES = Buffer.alloc(0);

/** A header name safe to put in a problem message: printable ASCII only, at most 64 chars. */
function describeName(name: string): string {
  const cleaned = name.slice(0, 64).replace(/[^\x21-\x7e]/g, '?');
  return JSON.stringify(name.length > 64 ? `${cleaned}…` : cleaned);
}
