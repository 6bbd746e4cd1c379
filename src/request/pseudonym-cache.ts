/**
 * A cache in front of the identity pseudonym (keyed-hash.ts). Every request needs its identity's
 * pseudonym, and the HMAC behind it is a native crypto call that costs far more on a busy server than
 * in isolation (see docs/performance-notes.md); most requests come from callers seen moments before.
 *
 * No raw credential is kept. Entries are found by a fingerprint of the HMAC's input: two
 * HalfSipHash-2-4 outputs (half-siphash.ts) under two random 64-bit keys drawn at start-up, which
 * never leave the process; an entry holds the pseudonym, which logs and state keys carry anyway.
 * Without those keys nobody can predict a fingerprint or steer two inputs onto one, and 128 bits make
 * an accidental collision (one caller answered with another's pseudonym) negligible (≈ 2^-128 a pair).
 *
 * Only identity kinds are cached (jwt, api-key, session, ip: fixed names without "\0", so
 * `kind\0raw` is unambiguous). Usernames are not: they are low-entropy guesses an attacker chooses,
 * and a hit is faster than a miss, which would hint that a name was tried recently.
 *
 * Bounded: two generations of at most `generationSize` entries. New pseudonyms go into the recent
 * one; when it is full it becomes the older one (the previous older one is dropped), and a hit in the
 * older one moves back into the recent one.
 */
import { randomBytes } from 'node:crypto';
import { halfSipHash64 } from './half-siphash.js';
import type { Pseudonymizer } from './keyed-hash.js';

const CACHED_KINDS: ReadonlySet<string> = new Set(['jwt', 'api-key', 'session', 'ip']);
export const GENERATION_SIZE = 4096;

export function withPseudonymCache(compute: Pseudonymizer, generationSize = GENERATION_SIZE): Pseudonymizer {
  const random = randomBytes(16);
  const firstKey = new Uint32Array([random.readUInt32LE(0), random.readUInt32LE(4)]);
  const secondKey = new Uint32Array([random.readUInt32LE(8), random.readUInt32LE(12)]);
  const f = new Uint32Array(4);
  let recent = new Map<string, string>();
  let older = new Map<string, string>();
  return (kind, raw) => {
    if (!CACHED_KINDS.has(kind)) return compute(kind, raw);
    const input = `${kind}\0${raw}`;
    halfSipHash64(firstKey, input, f, 0);
    halfSipHash64(secondKey, input, f, 2);
    // The 128-bit fingerprint as eight 16-bit code units: a short Map key.
    const fingerprint = String.fromCharCode(
      f[0]! & 0xffff, f[0]! >>> 16, f[1]! & 0xffff, f[1]! >>> 16, f[2]! & 0xffff, f[2]! >>> 16, f[3]! & 0xffff, f[3]! >>> 16,
    );
    const hit = recent.get(fingerprint);
    if (hit !== undefined) return hit;
    const pseudonym = older.get(fingerprint) ?? compute(kind, raw);
    if (recent.size >= generationSize) {
      older = recent;
      recent = new Map();
    }
    recent.set(fingerprint, pseudonym);
    return pseudonym;
  };
}
