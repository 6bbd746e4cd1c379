/**
 * IP ranges: CIDR parsing and matching for allowlists and trusted proxies, and the IP prefix a
 * request belongs to (the `ip-prefix` subject: /24 for IPv4, /48 for IPv6 by default). Addresses are
 * compared as 128-bit numbers (IPv4 as its own 32-bit space), so `10.0.0.0/8` never matches an IPv6
 * address and the other way round. Input addresses are the canonical forms client-ip.ts produces.
 */
import { canonicalIp } from './client-ip.js';

export interface Cidr {
  /** The text as written in the policy, for messages. */
  text: string;
  version: 4 | 6;
  /** Network address, masked. */
  network: bigint;
  bits: number;
}

/** Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (a /32 or /128). Null when invalid. */
export function parseCidr(text: string): Cidr | null {
  if (typeof text !== 'string') return null;
  const slash = text.indexOf('/');
  const host = slash < 0 ? text.trim() : text.slice(0, slash).trim();
  const ip = canonicalIp(host);
  if (ip === null) return null;
  const version = ip.includes(':') ? 6 : 4;
  const width = version === 4 ? 32 : 128;
  let bits = width;
  if (slash >= 0) {
    const b = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(b) || Number(b) > width) return null;
    bits = Number(b);
  }
  const value = toBigInt(ip);
  if (value === null) return null;
  return { text, version, network: value & mask(width, bits), bits };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const version = ip.includes(':') ? 6 : 4;
  if (version !== cidr.version) return false;
  const value = toBigInt(ip);
  if (value === null) return false;
  return (value & mask(version === 4 ? 32 : 128, cidr.bits)) === cidr.network;
}

export function anyContains(cidrs: readonly Cidr[], ip: string): boolean {
  for (const c of cidrs) if (cidrContains(c, ip)) return true;
  return false;
}

/** `203.0.113.0/24` for 203.0.113.7 (v4Bits 24), `2001:db8:1::/48` for an IPv6 address (v6Bits 48). */
export function ipPrefix(ip: string, v4Bits = 24, v6Bits = 48): string {
  const version = ip.includes(':') ? 6 : 4;
  const value = toBigInt(ip);
  if (value === null) return ip;
  const width = version === 4 ? 32 : 128;
  const bits = version === 4 ? v4Bits : v6Bits;
  return `${fromBigInt(value & mask(width, bits), version)}/${bits}`;
}

function mask(width: number, bits: number): bigint {
  if (bits <= 0) return 0n;
  const all = (1n << BigInt(width)) - 1n;
  return all ^ ((1n << BigInt(width - bits)) - 1n);
}

/** Canonical IPv4 or IPv6 text → number; null for anything else (e.g. 'unknown'). */
function toBigInt(ip: string): bigint | null {
  if (!ip.includes(':')) {
    const parts = ip.split('.');
    if (parts.length !== 4) return null;
    let v = 0n;
    for (const p of parts) {
      const n = Number(p);
      if (!/^\d{1,3}$/.test(p) || n > 255) return null;
      v = (v << 8n) | BigInt(n);
    }
    return v;
  }
  const halves = ip.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...new Array<string>(Math.max(0, fill)).fill('0'), ...tail];
  if (groups.length !== 8) return null;
  let v = 0n;
  for (const g of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(g)) return null;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  return v;
}

function fromBigInt(v: bigint, version: 4 | 6): string {
  if (version === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
  const groups: number[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(Number((v >> s) & 0xffffn));
  return canonicalIp(groups.map((g) => g.toString(16)).join(':')) ?? '';
}
