/**
 * Which IP the request came from, in a canonical text form so one client always maps to one string.
 *
 * 'envoy': Envoy's `source.address` attribute (`1.2.3.4:5678`, `[::1]:5678`, or a bare address).
 * 'xff':   x-forwarded-for, all header lines joined and comma-split, empty entries ignored. The right-most
 *          `trustedHops` entries were appended by our own proxies; the client is the entry just before
 *          them (trustedHops = 0: the right-most entry). If the list is shorter, the left-most entry is
 *          used. Entries further left are client-controlled and never trusted. If the chosen entry is not
 *          a valid IP (or there is no header), source.address is used; if nothing is valid, 'unknown'.
 *          With trustedProxies (CIDRs) set, they replace trustedHops: x-forwarded-for is believed only
 *          when the peer (source.address) is a trusted proxy, and the client is the right-most entry
 *          that is not one (the left-most entry when all are); an invalid entry on that walk stops it
 *          and the peer is used.
 *
 * Canonical form: IPv4 dotted quad; IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as IPv4; other IPv6 lower-case
 * and compressed per RFC 5952; ports and zone ids (`%eth0`) dropped. Pure and never throws.
 */

import { isIP } from 'node:net';
import { anyContains } from './cidr.js';
import type { HeaderList } from './headers.js';
import type { IdentityConfig } from './types.js';

export const UNKNOWN_IP = 'unknown';

/** Longest address text we try to parse: a bracketed IPv6 with zone id and port fits easily. */
const MAX_ADDRESS_CHARS = 128;
const PORT = /^\d{1,5}$/;

export function resolveClientIp(
  headers: HeaderList,
  sourceAddress: string | undefined,
  cfg: Pick<IdentityConfig, 'clientIpSource' | 'trustedHops'> & Partial<Pick<IdentityConfig, 'trustedProxies'>>,
): string {
  if (cfg.clientIpSource !== 'xff') return fromSource(sourceAddress);

  const entries = headers
    .all('x-forwarded-for')
    .join(',')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length === 0) return fromSource(sourceAddress);
  const trusted = cfg.trustedProxies ?? [];
  if (trusted.length > 0) {
    const peer = fromSource(sourceAddress);
    if (!anyContains(trusted, peer)) return peer;
    for (let i = entries.length - 1; i >= 0; i--) {
      const ip = parseAddress(entries[i]);
      if (ip === null) return peer;
      if (i === 0 || !anyContains(trusted, ip)) return ip;
    }
    return peer;
  }
  const hops = Number.isFinite(cfg.trustedHops) && cfg.trustedHops > 0 ? Math.floor(cfg.trustedHops) : 0;
  const chosen = entries[Math.max(0, entries.length - 1 - hops)];
  return parseAddress(chosen) ?? fromSource(sourceAddress);
}

function fromSource(sourceAddress: string | undefined): string {
  return parseAddress(sourceAddress) ?? UNKNOWN_IP;
}

/** Parses `ip`, `ip:port`, `[ipv6]` or `[ipv6]:port` into canonical form; null when not a valid IP. */
export function parseAddress(text: string | undefined): string | null {
  if (typeof text !== 'string') return null;
  const s = text.trim();
  if (s === '' || s.length > MAX_ADDRESS_CHARS) return null;

  let host: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return null;
    const rest = s.slice(close + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return null;
    host = s.slice(1, close);
    if (isIP(host) !== 6) return null; // brackets are for IPv6 only
  } else {
    const colon = s.indexOf(':');
    if (colon >= 0 && s.indexOf(':', colon + 1) < 0) {
      // One colon: host:port (an IPv6 address has at least two).
      if (!PORT.test(s.slice(colon + 1))) return null;
      host = s.slice(0, colon);
    } else {
      host = s;
    }
  }
  return canonicalIp(host);
}

/** Canonical form of a bare IP literal (zone id allowed on IPv6 and dropped); null when invalid. */
export function canonicalIp(host: string): string | null {
  const version = isIP(host);
  if (version === 4) return host;
  if (version !== 6) return null;
  const pct = host.indexOf('%');
  return canonicalIpv6(pct >= 0 ? host.slice(0, pct) : host);
}

/** `host` has already been validated by isIP as IPv6 (without zone id). */
function canonicalIpv6(host: string): string | null {
  let text = host.toLowerCase();
  const tailGroups: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const octets = tail.split('.').map((o) => Number(o));
    if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255)) return null;
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    tailGroups.push((a << 8) | b, (c << 8) | d);
    // Keep a trailing "::" intact ("::1.2.3.4" → "::"); otherwise drop the ":" before the IPv4 part.
    text = text.endsWith(`::${tail}`) ? text.slice(0, lastColon + 1) : text.slice(0, lastColon);
  }

  const parseGroups = (part: string): number[] | null => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };

  let groups: number[];
  const gap = text.indexOf('::');
  if (gap >= 0) {
    const head = parseGroups(text.slice(0, gap));
    const rest = parseGroups(text.slice(gap + 2));
    if (!head || !rest) return null;
    const fill = 8 - head.length - rest.length - tailGroups.length;
    if (fill < 1) return null;
    groups = [...head, ...new Array<number>(fill).fill(0), ...rest, ...tailGroups];
  } else {
    const all = parseGroups(text);
    if (!all) return null;
    groups = [...all, ...tailGroups];
  }
  if (groups.length !== 8) return null;
  return formatGroups(groups);
}

/** Canonical text of an IPv6 address given as its eight 16-bit groups. */
export function formatGroups(groups: readonly number[]): string {
  // IPv4-mapped (::ffff:a.b.c.d, in either notation) is the IPv4 client on a dual-stack socket.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const hi = groups[6] ?? 0;
    const lo = groups[7] ?? 0;
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return formatIpv6(groups);
}

/** RFC 5952: lower-case hex, no leading zeros, the longest (first on a tie) run of ≥ 2 zero groups as "::". */
function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}
