/**
 * IP ranges: CIDR parsing and matching for allowlists and trusted proxies, and the IP prefix a
 * request belongs to (the `ip-prefix` subject: /24 for IPv4, /48 for IPv6 by default). Addresses are
 * compared as 32-bit words — one for IPv4, four for IPv6 — so `10.0.0.0/8` never matches an IPv6
 * address and the other way round. A range is parsed and masked once, when the policy is compiled;
 * a request's address is parsed once per check, with plain number arithmetic. Input addresses are
 * the canonical forms client-ip.ts produces.
 */
import { canonicalIp, formatGroups } from './client-ip.js';

export interface Cidr {
  /** The text as written in the policy, for messages. */
  text: string;
  version: 4 | 6;
  /** Network address, masked: one 32-bit word for IPv4, four for IPv6, most significant first. */
  network: readonly number[];
  /** The prefix's mask, word by word. */
  mask: readonly number[];
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
  const words = toWords(ip);
  if (words === null) return null;
  const mask = maskWords(words.length, bits);
  return { text, version, network: applyMask(words, mask), mask, bits };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const words = toWords(ip);
  return words !== null && inRange(cidr, words);
}

/** Whether any of the ranges holds `ip` (parsed once for all of them). */
export function anyContains(cidrs: readonly Cidr[], ip: string): boolean {
  if (cidrs.length === 0) return false;
  const words = toWords(ip);
  if (words === null) return false;
  for (const c of cidrs) if (inRange(c, words)) return true;
  return false;
}

/** A range in canonical form: `10.0.0.0/8` for `10.1.2.3/8`, `2001:db8::/32` for `2001:0db8::1/32`. */
export function cidrText(cidr: Cidr): string {
  return `${formatWords(cidr.network)}/${cidr.bits}`;
}

/** A canonical address's 32-bit words (one for IPv4, four for IPv6), or null (e.g. 'unknown'). */
export function ipWords(ip: string): number[] | null {
  return toWords(ip);
}

/** `203.0.113.0/24` for 203.0.113.7 (v4Bits 24), `2001:db8:1::/48` for an IPv6 address (v6Bits 48). */
export function ipPrefix(ip: string, v4Bits = 24, v6Bits = 48): string {
  const words = toWords(ip);
  if (words === null) return ip;
  const bits = words.length === 1 ? v4Bits : v6Bits;
  return `${formatWords(applyMask(words, maskWords(words.length, bits)))}/${bits}`;
}

function inRange(cidr: Cidr, words: readonly number[]): boolean {
  if (words.length !== cidr.network.length) return false; // IPv4 against IPv6, or the other way round
  for (let i = 0; i < words.length; i++) {
    if ((words[i]! & cidr.mask[i]!) >>> 0 !== cidr.network[i]) return false;
  }
  return true;
}

/** The mask of a /bits prefix over `count` 32-bit words. */
function maskWords(count: number, bits: number): number[] {
  const mask: number[] = [];
  for (let i = 0; i < count; i++) {
    const b = bits - 32 * i;
    mask.push(b >= 32 ? 0xffffffff : b <= 0 ? 0 : (0xffffffff << (32 - b)) >>> 0);
  }
  return mask;
}

function applyMask(words: readonly number[], mask: readonly number[]): number[] {
  return words.map((w, i) => (w & mask[i]!) >>> 0);
}

/** Canonical IPv4 or IPv6 text → its 32-bit words; null for anything else (e.g. 'unknown'). */
function toWords(ip: string): number[] | null {
  if (!ip.includes(':')) {
    const v4 = ipv4Word(ip);
    return v4 === null ? null : [v4];
  }
  return ipv6Words(ip);
}

/** `a.b.c.d`, each part 1–3 decimal digits and at most 255, as one unsigned 32-bit number. */
function ipv4Word(ip: string): number | null {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 0x2e /* . */) {
      if (digits === 0 || ++dots > 3) return null;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39 && digits < 3) {
      part = part * 10 + (c - 0x30);
      digits++;
      if (part > 255) return null;
    } else {
      return null;
    }
  }
  if (dots !== 3 || digits === 0) return null;
  return value * 256 + part;
}

/** Eight hex groups, `::` standing for a run of zero groups, as four 32-bit words. */
function ipv6Words(ip: string): number[] | null {
  const halves = ip.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...new Array<string>(Math.max(0, fill)).fill('0'), ...tail];
  if (groups.length !== 8) return null;
  const words: number[] = [];
  for (let i = 0; i < 8; i += 2) {
    const hi = groups[i]!;
    const lo = groups[i + 1]!;
    if (!HEX_GROUP.test(hi) || !HEX_GROUP.test(lo)) return null;
    words.push(parseInt(hi, 16) * 0x10000 + parseInt(lo, 16));
  }
  return words;
}

const HEX_GROUP = /^[0-9a-f]{1,4}$/i;

function formatWords(words: readonly number[]): string {
  if (words.length === 1) {
    const v = words[0]!;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const groups: number[] = [];
  for (const w of words) groups.push(w >>> 16, w & 0xffff);
  return formatGroups(groups);
}
