/**
 * A HyperLogLog that gives the same estimates as Redis's PFADD/PFCOUNT, for the memory store.
 *
 * It follows redis/src/hyperloglog.c: 2^14 registers; a member's UTF-8 bytes are hashed with
 * MurmurHash64A (seed 0xadc83b19); the low 14 bits pick the register, the register value is 1 + the
 * number of trailing zeros of the remaining 50 bits (51 when they are all zero); the estimate is Ertl's
 * improved estimator over the register histogram (hllCount with hllSigma/hllTau), rounded. Same
 * registers, same histogram, same double arithmetic: the estimates equal Redis's, which the contract
 * suite checks against a real redis-server.
 *
 * Memory: sparse (a packed list of non-zero registers, 4 bytes each) up to SPARSE_MAX registers, then
 * dense (one byte per register, 16 KiB). The estimate is cached until a register changes, like Redis.
 */

const P = 14;
const Q = 64 - P;
const REGISTERS = 1 << P;
const ALPHA_INF = 0.721347520444481703680;
const SPARSE_MAX = 1024;
const SEED = 0xadc83b19;
/** MurmurHash64A's multiplier 0xc6a4a7935bd1e995 as two 32-bit halves. */
const M_HI = 0xc6a4a793;
const M_LO = 0x5bd1e995;

let hashHi = 0;
let hashLo = 0;

/** Low 64 bits of (ah:al) × (bh:bl); writes the result into hashHi/hashLo. */
function mul64(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff;
  const a1 = al >>> 16;
  const b0 = bl & 0xffff;
  const b1 = bl >>> 16;
  const mid = a0 * b1 + a1 * b0; // < 2^33, exact
  const low = a0 * b0 + (mid % 0x10000) * 0x10000; // < 2^33, exact
  const hi = a1 * b1 + Math.floor(mid / 0x10000) + Math.floor(low / 0x100000000) + Math.imul(ah, bl) + Math.imul(al, bh);
  hashHi = hi >>> 0;
  hashLo = low >>> 0;
}

/** h ^= h >>> 47 on (hashHi:hashLo). */
function xorShift47(): void {
  hashLo = (hashLo ^ (hashHi >>> 15)) >>> 0;
}

/** MurmurHash64A(bytes, SEED) into hashHi/hashLo, as in Redis (little-endian reads). */
function murmur64a(bytes: Uint8Array): void {
  const len = bytes.length;
  // h = seed ^ (len * m)
  mul64(0, len, M_HI, M_LO);
  let hHi = hashHi;
  let hLo = (hashLo ^ SEED) >>> 0;
  const end = len - (len & 7);
  for (let i = 0; i < end; i += 8) {
    const kLo = (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)) >>> 0;
    const kHi = (bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24)) >>> 0;
    mul64(kHi, kLo, M_HI, M_LO); // k *= m
    xorShift47(); // k ^= k >> r
    mul64(hashHi, hashLo, M_HI, M_LO); // k *= m
    hHi = (hHi ^ hashHi) >>> 0; // h ^= k
    hLo = (hLo ^ hashLo) >>> 0;
    mul64(hHi, hLo, M_HI, M_LO); // h *= m
    hHi = hashHi;
    hLo = hashLo;
  }
  const rest = len & 7;
  if (rest > 0) {
    for (let j = rest - 1; j >= 0; j--) {
      const byte = bytes[end + j]!;
      if (j >= 4) hHi = (hHi ^ (byte << (8 * (j - 4)))) >>> 0;
      else hLo = (hLo ^ (byte << (8 * j))) >>> 0;
    }
    mul64(hHi, hLo, M_HI, M_LO);
    hHi = hashHi;
    hLo = hashLo;
  }
  hashHi = hHi;
  hashLo = hLo;
  xorShift47();
  mul64(hashHi, hashLo, M_HI, M_LO);
  xorShift47();
}

/** Number of trailing zero bits of a non-zero 32-bit value. */
function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Register index and value of a member, as Redis's hllPatLen. */
export function hllPattern(member: string): { index: number; value: number } {
  murmur64a(Buffer.from(member, 'utf8'));
  const index = hashLo & (REGISTERS - 1);
  // The 50 bits above the index: low 32 of them and the high 18.
  const low = ((hashLo >>> P) | (hashHi << (32 - P))) >>> 0;
  const high = hashHi >>> P;
  let value: number;
  if (low !== 0) value = ctz32(low) + 1;
  else if (high !== 0) value = 32 + ctz32(high) + 1;
  else value = Q + 1;
  return { index, value };
}

function sigma(x: number): number {
  if (x === 1) return Infinity;
  let y = 1;
  let z = x;
  let zPrime: number;
  do {
    x *= x;
    zPrime = z;
    z += x * y;
    y += y;
  } while (zPrime !== z);
  return z;
}

function tau(x: number): number {
  if (x === 0 || x === 1) return 0;
  let y = 1;
  let z = 1 - x;
  let zPrime: number;
  do {
    x = Math.sqrt(x);
    zPrime = z;
    y *= 0.5;
    z -= Math.pow(1 - x, 2) * y;
  } while (zPrime !== z);
  return z / 3;
}

export class HyperLogLog {
  /** Sparse: (index << 8 | value) per non-zero register; null once dense. */
  private sparse: Uint32Array | null = new Uint32Array(8);
  private sparseLen = 0;
  private dense: Uint8Array | null = null;
  private cached = 0;
  private cacheValid = true;

  /** Adds a member; returns whether a register changed (PFADD's 1/0). */
  add(member: string): boolean {
    const { index, value } = hllPattern(member);
    if (this.dense) {
      if (this.dense[index]! >= value) return false;
      this.dense[index] = value;
      this.cacheValid = false;
      return true;
    }
    const sparse = this.sparse!;
    for (let i = 0; i < this.sparseLen; i++) {
      const entry = sparse[i]!;
      if (entry >>> 8 === index) {
        if ((entry & 0xff) >= value) return false;
        sparse[i] = ((index << 8) | value) >>> 0;
        this.cacheValid = false;
        return true;
      }
    }
    this.cacheValid = false;
    if (this.sparseLen === SPARSE_MAX) {
      this.toDense();
      this.dense![index] = value;
      return true;
    }
    if (this.sparseLen === sparse.length) {
      const grown = new Uint32Array(sparse.length * 2);
      grown.set(sparse);
      this.sparse = grown;
    }
    this.sparse![this.sparseLen++] = ((index << 8) | value) >>> 0;
    return true;
  }

  /** The cardinality estimate (PFCOUNT). */
  count(): number {
    if (this.cacheValid) return this.cached;
    const histogram = new Array<number>(64).fill(0);
    if (this.dense) {
      for (let i = 0; i < REGISTERS; i++) histogram[this.dense[i]!]!++;
    } else {
      histogram[0] = REGISTERS - this.sparseLen;
      for (let i = 0; i < this.sparseLen; i++) histogram[this.sparse![i]! & 0xff]!++;
    }
    const m = REGISTERS;
    let z = m * tau((m - histogram[Q + 1]!) / m);
    for (let j = Q; j >= 1; j--) {
      z += histogram[j]!;
      z *= 0.5;
    }
    z += m * sigma(histogram[0]! / m);
    this.cached = Math.round((ALPHA_INF * m * m) / z);
    this.cacheValid = true;
    return this.cached;
  }

  /** A HyperLogLog holding these registers (2^14 values, as registers() gives or Redis's bytes decode to). */
  static fromRegisters(registers: Uint8Array): HyperLogLog {
    const h = new HyperLogLog();
    for (let i = 0; i < REGISTERS; i++) {
      const v = registers[i]!;
      if (v === 0) continue;
      if (h.dense) h.dense[i] = v;
      else if (h.sparseLen === SPARSE_MAX) {
        h.toDense();
        h.dense![i] = v;
      } else {
        if (h.sparseLen === h.sparse!.length) {
          const grown = new Uint32Array(h.sparse!.length * 2);
          grown.set(h.sparse!);
          h.sparse = grown;
        }
        h.sparse![h.sparseLen++] = ((i << 8) | v) >>> 0;
      }
    }
    h.cacheValid = false;
    return h;
  }

  /** Every register's value (2^14 bytes), the union's input when states are merged. */
  registers(): Uint8Array {
    if (this.dense) return this.dense.slice();
    const out = new Uint8Array(REGISTERS);
    for (let i = 0; i < this.sparseLen; i++) {
      const entry = this.sparse![i]!;
      out[entry >>> 8] = entry & 0xff;
    }
    return out;
  }

  /** Approximate bytes held (for eviction budgeting and tests). */
  get bytes(): number {
    return this.dense ? this.dense.byteLength : this.sparse!.byteLength;
  }

  private toDense(): void {
    const dense = new Uint8Array(REGISTERS);
    for (let i = 0; i < this.sparseLen; i++) {
      const entry = this.sparse![i]!;
      dense[entry >>> 8] = entry & 0xff;
    }
    this.dense = dense;
    this.sparse = null;
    this.sparseLen = 0;
  }
}
