/**
 * What an operator's manual rule is about (state/manual-rules.ts), from the text they give: an IPv4 or
 * IPv6 address, a CIDR range, or an identity pseudonym as vigil logs it (`api-key:<32 hex>`, see
 * `vigil pseudonym`). Raw credentials are never accepted: they would be stored and logged.
 */
import { cidrText, parseCidr } from '../request/cidr.js';
import type { ManualKind } from '../state/manual-rules.js';

/** The identity pseudonyms vigil builds (request/keyed-hash.ts), as the policy allowlist takes them. */
const IDENTITY = /^(jwt|api-key|session|ip):[0-9a-f]{32}$/;

export const TARGET_HELP = 'an IP address (203.0.113.7, 2001:db8::1), a CIDR range (10.0.0.0/8, 2001:db8::/32) or an identity pseudonym such as api-key:<32 hex> (vigil pseudonym prints it)';

/** The canonical target and its kind, or null when the text is none of the three. */
export function parseTarget(text: string): { target: string; kind: ManualKind } | null {
  if (typeof text !== 'string' || text.length === 0 || text.length > 128) return null;
  const t = text.trim();
  if (IDENTITY.test(t)) return { target: t, kind: 'identity' };
  const cidr = parseCidr(t);
  if (!cidr) return null;
  const full = cidr.bits === (cidr.version === 4 ? 32 : 128);
  const canonical = cidrText(cidr);
  return full ? { target: canonical.slice(0, canonical.lastIndexOf('/')), kind: 'ip' } : { target: canonical, kind: 'cidr' };
}
