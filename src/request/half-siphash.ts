/**
 * HalfSipHash-2-4 with a 64-bit output: the 32-bit-word member of the SipHash family (Aumasson and
 * Bernstein; reference implementation and test vectors: github.com/veorq/SipHash, halfsiphash.c).
 * A keyed pseudo-random function for short inputs: without the key its outputs can be neither
 * predicted nor steered into collisions. Its arithmetic is on 32-bit words, which JavaScript does
 * natively. The message is a string's UTF-16 code units as little-endian bytes (two per unit), so
 * no encoding step is needed. Pure and never throws.
 */

/** A 64-bit key as two little-endian 32-bit words (key bytes 0–3, 4–7). */
export type HalfSipKey = Uint32Array;

// The state of the one hash being computed (the function is synchronous, so one state suffices).
let v0 = 0;
let v1 = 0;
let v2 = 0;
let v3 = 0;

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

function sipRound(): void {
  v0 = (v0 + v1) | 0;
  v1 = rotl(v1, 5) ^ v0;
  v0 = rotl(v0, 16);
  v2 = (v2 + v3) | 0;
  v3 = rotl(v3, 8) ^ v2;
  v0 = (v0 + v3) | 0;
  v3 = rotl(v3, 7) ^ v0;
  v2 = (v2 + v1) | 0;
  v1 = rotl(v1, 13) ^ v2;
  v2 = rotl(v2, 16);
}

function compress(m: number): void {
  v3 ^= m;
  sipRound();
  sipRound();
  v0 ^= m;
}

/** Writes HalfSipHash-2-4-64(key, UTF-16LE bytes of text) to out[at] and out[at + 1] (output bytes 0–3, 4–7). */
export function halfSipHash64(key: HalfSipKey, text: string, out: Uint32Array, at: number): void {
  const k0 = key[0]! | 0;
  const k1 = key[1]! | 0;
  v0 = k0;
  v1 = k1 ^ 0xee;
  v2 = 0x6c796765 ^ k0;
  v3 = 0x74656462 ^ k1;
  const units = text.length;
  let i = 0;
  for (; i + 1 < units; i += 2) compress(text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16));
  // The last block: the message length in bytes (mod 256) in the top byte, any odd unit's two bytes at the bottom.
  let last = ((units * 2) & 0xff) << 24;
  if (i < units) last |= text.charCodeAt(i);
  compress(last);
  v2 ^= 0xee;
  for (let r = 0; r < 4; r++) sipRound();
  out[at] = v1 ^ v3;
  v1 ^= 0xdd;
  for (let r = 0; r < 4; r++) sipRound();
  out[at + 1] = v1 ^ v3;
}
