/**
 * The manual rules as a request sees them: an in-process table built from the store's rules
 * (state/manual-rules.ts) each time they change, matched on the request path without the store.
 *
 * A request matches by its identity (one Map look-up), else by its client IP: for each prefix length
 * some rule uses, longest first, the address masked to that length is looked up in that length's Map.
 * So a match costs O(distinct prefix lengths), never O(rules), and nothing when the table is empty.
 * The most specific rule wins: an identity rule over any IP rule, a longer prefix over a shorter
 * one (an address is a /32 or /128). A rule past its untilMs does not match.
 */
import { ipWords } from '../request/cidr.js';
import type { ManualRule } from '../state/manual-rules.js';

interface Level {
  bits: number;
  /** Masked network words joined by '.', → rule. */
  rules: Map<string, ManualRule>;
}

export class ManualTable {
  static readonly EMPTY = new ManualTable([]);

  readonly size: number;
  private readonly identities = new Map<string, ManualRule>();
  /** Per family, the prefix lengths in use, longest first. */
  private readonly v4: Level[] = [];
  private readonly v6: Level[] = [];

  constructor(readonly rules: readonly ManualRule[]) {
    this.size = rules.length;
    for (const r of rules) {
      if (r.kind === 'identity') {
        this.identities.set(r.target, r);
        continue;
      }
      const slash = r.target.indexOf('/');
      const ip = slash < 0 ? r.target : r.target.slice(0, slash);
      const words = ipWords(ip);
      if (words === null) continue;
      const width = words.length * 32;
      const bits = slash < 0 ? width : Number(r.target.slice(slash + 1));
      const levels = words.length === 1 ? this.v4 : this.v6;
      let level = levels.find((l) => l.bits === bits);
      if (!level) levels.push((level = { bits, rules: new Map() }));
      level.rules.set(keyOf(words, bits), r);
    }
    this.v4.sort((a, b) => b.bits - a.bits);
    this.v6.sort((a, b) => b.bits - a.bits);
  }

  /** The rule that applies to a request from `clientIp` as `identityId`, or null. */
  match(identityId: string, clientIp: string, nowMs: number): ManualRule | null {
    if (this.size === 0) return null;
    const byIdentity = this.identities.get(identityId);
    if (byIdentity && byIdentity.untilMs > nowMs) return byIdentity;
    const words = ipWords(clientIp);
    if (words === null) return null;
    for (const level of words.length === 1 ? this.v4 : this.v6) {
      const r = level.rules.get(keyOf(words, level.bits));
      if (r && r.untilMs > nowMs) return r;
    }
    return null;
  }
}

/** The address's words masked to `bits`, as a Map key. */
function keyOf(words: readonly number[], bits: number): string {
  let key = '';
  for (let i = 0; i < words.length; i++) {
    const b = bits - 32 * i;
    const mask = b >= 32 ? 0xffffffff : b <= 0 ? 0 : (0xffffffff << (32 - b)) >>> 0;
    key += (i > 0 ? '.' : '') + String((words[i]! & mask) >>> 0);
  }
  return key;
}
