/**
 * One field of a JSON document, found by a single forward pass over the bytes: no recursion, no parse
 * tree, no string built except the keys on the field's path and the field's value. A login body can be
 * anything a client sends (a megabyte of `[[[[…`), and the username must cost bounded CPU on vigil's
 * only thread whatever it is: the work is one look at each byte, at most, and the scan stops at the
 * first container nested deeper than `maxDepth`.
 *
 * Answers as `JSON.parse(text)` followed by walking `path` would (so the upstream, whose JSON parser
 * also keeps the last of duplicate keys, and vigil agree on the username):
 *  - the document must be one complete, valid JSON value with an object at the top;
 *  - each step of `path` is an object key (never an array index); keys compare after unescaping;
 *  - of duplicate keys the last wins, also for a parent (`{"user":{"name":"a"},"user":"x"}` has no user.name);
 *  - a string value is returned unescaped; a number as `String(Number(token))`; anything else is no value.
 * Invalid UTF-8 is replaced by U+FFFD, as `buffer.toString('utf8')` does. Pure and never throws.
 */

export interface JsonScanLimits {
  /** Containers (objects and arrays) nested deeper than this stop the scan: `too-deep`. */
  maxDepth: number;
}

export type JsonScanOutcome =
  /** One complete, valid JSON document. */
  | 'ok'
  /** Valid so far, but the bytes ended inside it (a truncated body). */
  | 'incomplete'
  /** Not JSON. */
  | 'invalid'
  /** Nested deeper than maxDepth; the scan stopped there. */
  | 'too-deep';

export interface JsonFieldResult {
  /** The field's value when the outcome is `ok` and the field is a string or a number, else null. */
  value: string | null;
  outcome: JsonScanOutcome;
  /** Bytes looked at before the scan ended (for tests: the work is bounded by the input). */
  scanned: number;
}

/** Login bodies are flat: 64 levels is far beyond any real one, and far below what costs anything. */
export const MAX_JSON_DEPTH = 64;

/** What the next non-blank byte must be. */
const Expect = {
  /** A value (the document's, an array element's after `,`, or an object member's after `:`). */
  Value: 0,
  /** A value or `]` (just after `[`). */
  ValueOrClose: 1,
  /** A key or `}` (just after `{`). */
  KeyOrClose: 2,
  /** A key (after `,` in an object). */
  Key: 3,
  /** `:` after a key. */
  Colon: 4,
  /** `,` or the container's close; at depth 0, only whitespace until the end. */
  AfterValue: 5,
} as const;
type Expect = (typeof Expect)[keyof typeof Expect];

const OBJECT = 0;
const ARRAY = 1;

export function scanJsonField(body: Buffer, path: readonly string[], limits: JsonScanLimits = { maxDepth: MAX_JSON_DEPTH }): JsonFieldResult {
  const keys = path.map((k) => Buffer.from(k, 'utf8'));
  const n = body.length;
  const kinds = new Uint8Array(limits.maxDepth + 1);
  let depth = 0;
  /** Path keys matched by the open containers (≤ depth − 1 inside an object on the path). */
  let matched = 0;
  /** Whether the value being read belongs to a key that continues (or ends) the path. */
  let onPath = false;
  let candidate: string | null = null;
  let expect: Expect = Expect.Value;
  let i = 0;
  const end = (outcome: JsonScanOutcome, at: number): JsonFieldResult => ({ value: outcome === 'ok' ? candidate : null, outcome, scanned: Math.min(at, n) });

  while (i < n) {
    const c = body[i]!;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
      continue;
    }
    switch (expect) {
      case Expect.Colon:
        if (c !== 0x3a) return end('invalid', i + 1);
        i++;
        expect = Expect.Value;
        continue;
      case Expect.AfterValue:
        if (depth === 0) return end('invalid', i + 1);
        if (c === 0x2c) {
          i++;
          expect = kinds[depth - 1] === OBJECT ? Expect.Key : Expect.Value;
          continue;
        }
        if (c === (kinds[depth - 1] === OBJECT ? 0x7d : 0x5d)) {
          i++;
          depth--;
          if (matched > Math.max(0, depth - 1)) matched = Math.max(0, depth - 1);
          expect = Expect.AfterValue;
          continue;
        }
        return end('invalid', i + 1);
      case Expect.KeyOrClose:
      case Expect.Key: {
        if (c === 0x7d && expect === Expect.KeyOrClose) {
          i++;
          depth--;
          if (matched > Math.max(0, depth - 1)) matched = Math.max(0, depth - 1);
          expect = Expect.AfterValue;
          continue;
        }
        if (c !== 0x22) return end('invalid', i + 1);
        const close = stringEnd(body, i);
        if (close < 0) return end(close === -1 ? 'incomplete' : 'invalid', close === -1 ? n : i + 1);
        // A key matters only in an object whose ancestors are all on the path.
        onPath = matched === depth - 1 && matched < keys.length && keyEquals(body, i, close, keys[matched]!);
        if (onPath) candidate = null; // a later duplicate replaces what an earlier one held
        i = close + 1;
        expect = Expect.Colon;
        continue;
      }
      case Expect.ValueOrClose:
        if (c === 0x5d) {
          i++;
          depth--;
          if (matched > Math.max(0, depth - 1)) matched = Math.max(0, depth - 1);
          expect = Expect.AfterValue;
          continue;
        }
        expect = Expect.Value; // the same byte again, as a value
        continue;
      case Expect.Value: {
        const leaf = onPath && matched + 1 === keys.length;
        const descend = onPath && !leaf;
        onPath = false;
        if (c === 0x7b || c === 0x5b) {
          if (depth >= limits.maxDepth) return end('too-deep', i + 1);
          kinds[depth] = c === 0x7b ? OBJECT : ARRAY;
          depth++;
          // The top-level object starts the path; a matched key's object continues it.
          if (c === 0x7b && (depth === 1 || descend)) matched = depth - 1;
          expect = c === 0x7b ? Expect.KeyOrClose : Expect.ValueOrClose;
          i++;
          continue;
        }
        let close: number;
        if (c === 0x22) {
          close = stringEnd(body, i);
          if (close < 0) return end(close === -1 ? 'incomplete' : 'invalid', close === -1 ? n : i + 1);
          if (leaf) candidate = decodeString(body, i, close);
          i = close + 1;
        } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
          close = numberEnd(body, i);
          if (close < 0) return end(close === -1 ? 'incomplete' : 'invalid', close === -1 ? n : i + 1);
          if (leaf) {
            const v = Number(body.toString('latin1', i, close));
            candidate = Number.isFinite(v) ? String(v) : null;
          }
          i = close;
        } else {
          const lit = literalEnd(body, i);
          if (lit < 0) return end(lit === -1 ? 'incomplete' : 'invalid', lit === -1 ? n : i + 1);
          i = lit;
        }
        if (depth === 0) {
          // A scalar document: valid JSON, but no object to hold the field.
          candidate = null;
        }
        expect = Expect.AfterValue;
        continue;
      }
    }
  }
  if (depth === 0 && expect === Expect.AfterValue) return end('ok', n);
  return end('incomplete', n);
}

/** Index of the closing quote of the string opening at `start`; -1 when the bytes end first, -2 when invalid. */
function stringEnd(b: Buffer, start: number): number {
  const n = b.length;
  for (let i = start + 1; i < n; i++) {
    const c = b[i]!;
    if (c === 0x22) return i;
    if (c < 0x20) return -2;
    if (c === 0x5c) {
      if (i + 1 >= n) return -1;
      const e = b[i + 1]!;
      if (e === 0x75) {
        if (i + 5 >= n) return -1;
        for (let k = i + 2; k < i + 6; k++) if (!isHex(b[k]!)) return -2;
        i += 5;
      } else if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i++;
      } else return -2;
    }
  }
  return -1;
}

/** Index just past the number starting at `start` (RFC 8259 grammar); -1 when the bytes end inside it, -2 when invalid. */
function numberEnd(b: Buffer, start: number): number {
  const n = b.length;
  let i = start;
  if (b[i] === 0x2d) i++;
  if (i >= n) return -1;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i]!)) while (i < n && isDigit(b[i]!)) i++;
  else return -2;
  if (i < n && b[i] === 0x2e) {
    i++;
    if (i >= n) return -1;
    if (!isDigit(b[i]!)) return -2;
    while (i < n && isDigit(b[i]!)) i++;
  }
  if (i < n && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < n && (b[i] === 0x2b || b[i] === 0x2d)) i++;
    if (i >= n) return -1;
    if (!isDigit(b[i]!)) return -2;
    while (i < n && isDigit(b[i]!)) i++;
  }
  // A number at the very end of the bytes is complete only for a scalar document; the caller's state decides.
  return i;
}

const LITERALS = [Buffer.from('true'), Buffer.from('false'), Buffer.from('null')];

/** Index just past `true`, `false` or `null` at `start`; -1 when the bytes end inside one, -2 when none. */
function literalEnd(b: Buffer, start: number): number {
  for (const lit of LITERALS) {
    if (b[start] !== lit[0]) continue;
    for (let k = 1; k < lit.length; k++) {
      if (start + k >= b.length) return -1;
      if (b[start + k] !== lit[k]) return -2;
    }
    return start + lit.length;
  }
  return -2;
}

/** Whether the string token b[open..close] (quotes included) is `key` once unescaped. */
function keyEquals(b: Buffer, open: number, close: number, key: Buffer): boolean {
  const len = close - open - 1;
  if (b.subarray(open + 1, close).indexOf(0x5c) < 0) return len === key.length && b.compare(key, 0, key.length, open + 1, close) === 0;
  // Escaped, a key takes at most 6 bytes per byte of its UTF-8 (\uXXXX), so a longer token cannot be it.
  if (len > key.length * 6) return false;
  return decodeString(b, open, close) === key.toString('utf8');
}

function decodeString(b: Buffer, open: number, close: number): string {
  return JSON.parse(b.toString('utf8', open, close + 1)) as string;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}
