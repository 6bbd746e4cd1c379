/**
 * A header map with Envoy's operations (lower-cased keys, pseudo-headers first) and the wire
 * conversions of §1.2: values travel in `raw_value` only.
 */
import type { HeaderMap, HeaderValue } from '../extproc/messages.js';
import type { HeaderPairs } from './types.js';

export class HeaderList {
  private entries: Array<[string, string]>;

  constructor(pairs: HeaderPairs = []) {
    this.entries = [];
    for (const [k, v] of pairs) this.add(k, v);
  }

  get(name: string): string[] {
    const key = name.toLowerCase();
    return this.entries.filter(([k]) => k === key).map(([, v]) => v);
  }

  first(name: string): string | undefined {
    return this.get(name)[0];
  }

  has(name: string): boolean {
    return this.get(name).length > 0;
  }

  /** Envoy's addCopy: another value, keeping existing ones; pseudo-headers stay ahead of the rest. */
  add(name: string, value: string): void {
    const key = name.toLowerCase();
    if (key.startsWith(':')) {
      const at = this.entries.findIndex(([k]) => !k.startsWith(':'));
      this.entries.splice(at === -1 ? this.entries.length : at, 0, [key, value]);
    } else {
      this.entries.push([key, value]);
    }
  }

  /** Envoy's setCopy: one value only, replacing every existing one (in place of the first). */
  set(name: string, value: string): void {
    const key = name.toLowerCase();
    const at = this.entries.findIndex(([k]) => k === key);
    if (at === -1) return this.add(key, value);
    this.entries[at] = [key, value];
    this.entries = this.entries.filter(([k], i) => k !== key || i === at);
  }

  remove(name: string): void {
    const key = name.toLowerCase();
    this.entries = this.entries.filter(([k]) => k !== key);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Bytes of keys and values, as Envoy's HeaderMap::byteSize counts them. */
  byteSize(): number {
    return this.entries.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  }

  pairs(): HeaderPairs {
    return this.entries.map(([k, v]) => [k, v]);
  }

  clone(): HeaderList {
    return new HeaderList(this.entries);
  }

  /** §1.2: keys lower-case, pseudo-headers included, values in raw_value only. */
  toProto(): HeaderMap {
    return { headers: this.entries.map(([key, v]) => ({ key, raw_value: Buffer.from(v, 'utf8') })) };
  }
}

/** The bytes Envoy reads from a HeaderValue: raw_value only (§0.4, envoy#31555). */
export function rawValue(h: HeaderValue): Buffer {
  const raw = h.raw_value;
  return raw ? Buffer.from(raw) : Buffer.alloc(0);
}

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PSEUDO = /^:[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/** HeaderUtility::headerNameIsValid: an RFC 9110 token, or ':' + a lower-case token for pseudo-headers. */
export function headerNameIsValid(name: string): boolean {
  return name.startsWith(':') ? PSEUDO.test(name) : TCHAR.test(name);
}

/** HeaderUtility::headerValueIsValid (nghttp2): HTAB, SP, VCHAR and obs-text; no other control bytes. */
export function headerValueIsValid(value: Buffer): boolean {
  for (const b of value) {
    if (b === 0x09) continue;
    if (b < 0x20 || b === 0x7f) return false;
  }
  return true;
}

const AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:@[\]%]*$/;

/** HeaderUtility::authorityIsValid (host / :authority). */
export function authorityIsValid(value: string): boolean {
  return AUTHORITY.test(value);
}

/** Http::Utility::schemeIsValid. */
export function schemeIsValid(value: string): boolean {
  const v = value.toLowerCase();
  return v === 'http' || v === 'https';
}

/** A body as the chunks the codec would deliver; empty chunks are dropped (an empty body is no body). */
export function bodyChunks(body: Buffer | Buffer[] | undefined): Buffer[] {
  if (body === undefined) return [];
  return (Array.isArray(body) ? body : [body]).filter((c) => c.length > 0);
}
