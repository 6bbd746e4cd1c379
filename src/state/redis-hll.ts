/**
 * Redis's HyperLogLog string, decoded into its 2^14 register values, so the in-process tier can hold
 * exactly the registers the shared store holds (tiered-store.ts). The layout is redis/src/hyperloglog.c's:
 *
 *   header  16 bytes: "HYLL", encoding (0 dense, 1 sparse), 3 unused, 8 bytes cached cardinality
 *   dense   16,384 registers of 6 bits, little-endian bit order: register i starts at bit 6·i
 *   sparse  opcodes: ZERO  00xxxxxx           xxxxxx + 1 registers are 0          (1–64)
 *                    XZERO 01xxxxxx yyyyyyyy  (xxxxxx yyyyyyyy) + 1 registers are 0 (1–16,384)
 *                    VAL   1vvvvvxx           xx + 1 registers hold vvvvv + 1       (1–4 of 1–32)
 *
 * Anything else (not "HYLL", an unknown encoding, a run past the last register, a short dense body)
 * is an error: the caller treats the key as unreadable rather than guessing.
 */

const REGISTERS = 1 << 14;
const HEADER = 16;
const DENSE_BYTES = (REGISTERS * 6) / 8;

export function decodeRedisHll(bytes: Uint8Array): Uint8Array {
  if (bytes.length < HEADER || bytes[0] !== 0x48 || bytes[1] !== 0x59 || bytes[2] !== 0x4c || bytes[3] !== 0x4c) {
    throw new Error('not a Redis HyperLogLog (no HYLL header)');
  }
  const registers = new Uint8Array(REGISTERS);
  const encoding = bytes[4];
  if (encoding === 0) {
    if (bytes.length < HEADER + DENSE_BYTES) throw new Error('dense HyperLogLog is truncated');
    for (let i = 0; i < REGISTERS; i++) {
      const bit = i * 6;
      const at = HEADER + (bit >> 3);
      const shift = bit & 7;
      const lo = bytes[at]!;
      const hi = shift > 2 ? bytes[at + 1]! : 0;
      registers[i] = ((lo >> shift) | (hi << (8 - shift))) & 63;
    }
    return registers;
  }
  if (encoding !== 1) throw new Error(`unknown HyperLogLog encoding ${encoding}`);
  let index = 0;
  for (let p = HEADER; p < bytes.length; ) {
    const op = bytes[p]!;
    if ((op & 0xc0) === 0x00) {
      index += (op & 0x3f) + 1;
      p += 1;
    } else if ((op & 0xc0) === 0x40) {
      if (p + 1 >= bytes.length) throw new Error('sparse HyperLogLog is truncated');
      index += (((op & 0x3f) << 8) | bytes[p + 1]!) + 1;
      p += 2;
    } else {
      const value = ((op >> 2) & 0x1f) + 1;
      const run = (op & 0x03) + 1;
      if (index + run > REGISTERS) throw new Error('sparse HyperLogLog runs past its registers');
      registers.fill(value, index, index + run);
      index += run;
      p += 1;
    }
    if (index > REGISTERS) throw new Error('sparse HyperLogLog runs past its registers');
  }
  return registers;
}
