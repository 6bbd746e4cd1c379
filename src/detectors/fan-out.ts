import type { Fields } from '../policy/fields.js';
import { ipPrefix } from '../request/cidr.js';
import type { Exchange, Phase } from '../request/exchange.js';
import type { OpResult } from '../state/store.js';
import { appliesTo } from './applies.js';
import { distinctSignal, pick, subjectFor } from './signal.js';
import type { Detector, DetectorBase, DetectorFactory, Plan, Signal } from './types.js';

/**
 * Identity fan-out: one credential (API key, token, session) used from too many client IPs, or from
 * too many IP prefixes (/24, /48), in one window: a shared or stolen token, or a bot rotating through
 * proxies. Two HyperLogLogs per identity and window; a rule fires on the call that raised a count above
 * its maximum. IP identities are skipped (an IP has one IP). Maths: docs/detectors.md.
 */
export interface FanOutConfig extends DetectorBase {
  type: 'identity-fan-out';
  windowMs: number;
  maxIps: number;
  maxPrefixes: number;
}

export class FanOutDetector implements Detector {
  /** State names, fixed per detector (built once, not per request). */
  private readonly ipsName: string;
  private readonly prefixesName: string;

  constructor(readonly config: FanOutConfig) {
    this.ipsName = `${config.name}:ips`;
    this.prefixesName = `${config.name}:prefixes`;
  }

  plan(x: Exchange, phase: Phase): Plan | null {
    const c = this.config;
    if (phase !== 'request' || !appliesTo(c, x) || x.facts.identity.kind === 'ip') return null;
    const ip = x.facts.clientIp;
    return {
      subject: x.facts.identity.id,
      ops: [
        { kind: 'distinct', name: this.ipsName, member: ip, windowMs: c.windowMs },
        { kind: 'distinct', name: this.prefixesName, member: ipPrefix(ip), windowMs: c.windowMs },
      ],
      rules: [
        { op: 0, above: c.maxIps / x.endpoint.sensitivity },
        { op: 1, above: c.maxPrefixes / x.endpoint.sensitivity },
      ],
    };
  }

  /** Null when neither set grew (the store did not read the estimates: nothing new was measured). */
  evaluate(results: OpResult[][], x: Exchange): Signal | null {
    const [ips, prefixes] = results[0] ?? [];
    const c = this.config;
    const s = x.endpoint.sensitivity;
    return pick([
      distinctSignal(c, 'distinct-ips', ips, c.maxIps / s, c.windowMs),
      distinctSignal(c, 'distinct-prefixes', prefixes, c.maxPrefixes / s, c.windowMs),
    ]);
  }
}

export const fanOutFactory: DetectorFactory<FanOutConfig> = {
  type: 'identity-fan-out',
  summary: 'distinct client IPs and IP prefixes (/24, /48) per identity and window: shared or stolen tokens, rotating proxies',
  parse(f: Fields, base: DetectorBase): FanOutConfig {
    return {
      ...base,
      type: 'identity-fan-out',
      subject: subjectFor(f, base, ['identity'], 'identity'),
      windowMs: f.duration('window', 86_400_000, 60_000, 30 * 86_400_000),
      maxIps: f.number('max_ips', 10, 1, 1_000_000, true),
      maxPrefixes: f.number('max_prefixes', 4, 1, 1_000_000, true),
    };
  },
  create: (config) => new FanOutDetector(config),
};
