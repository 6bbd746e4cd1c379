import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import { loginFailed } from '../request/login.js';
import type { Op, OpResult } from '../state/store.js';
import { appliesTo } from './applies.js';
import { distinctSignal, pick, signal, subjectFor } from './signal.js';
import { subjectOf } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, Plan, PlanRule, Signal } from './types.js';

/**
 * Slow brute force: failed logins counted over a long sliding window (default 24 h), so a campaign
 * that stays under every per-minute or per-hour limit (5 failures an hour, day after day) still adds
 * up, while a user who mistypes a few times a day never comes close. Run one per identity (or client
 * IP, prefix) and one per username: the per-username one catches a single account attacked from
 * rotating IPs. Measures:
 *
 *   failures-24h      failed attempts in the sliding window > max_failures / sensitivity. The response
 *                     phase counts a failure (every attempt with every_attempt); the login phase reads
 *                     the count, so the subject stays penalised while it is over the budget;
 *   distinct-targets  (subjects other than username) usernames tried per target_window >
 *                     max_targets / sensitivity.
 *
 * Maths: docs/detectors.md.
 */
export interface SlowBruteForceConfig extends DetectorBase {
  type: 'slow-brute-force';
  windowMs: number;
  maxFailures: number;
  targetWindowMs: number;
  maxTargets: number;
}

export class SlowBruteForceDetector implements Detector {
  constructor(readonly config: SlowBruteForceConfig) {}

  private failures(by: number): Op {
    return { kind: 'count', name: `${this.config.name}:fail`, windowMs: this.config.windowMs, by, sliding: true };
  }

  private failRule(x: Exchange, op: number): PlanRule {
    return { op, above: this.config.maxFailures / x.endpoint.sensitivity };
  }

  plan(x: Exchange, phase: Phase): Plan | null {
    const c = this.config;
    if (!x.login || !x.endpoint.rule?.login || !appliesTo(c, x)) return null;
    const subject = subjectOf(c.subject, x);
    if (subject === null) return null;
    if (phase === 'login') {
      const ops: Op[] = [this.failures(0)];
      const rules: PlanRule[] = [this.failRule(x, 0)];
      if (c.subject !== 'username') {
        ops.push({ kind: 'distinct', name: `${c.name}:targets`, member: x.login.username ?? '', windowMs: c.targetWindowMs });
        rules.push({ op: 1, above: c.maxTargets / x.endpoint.sensitivity });
      }
      return { subject, ops, rules };
    }
    // A success plans nothing: only failures count (with every_attempt, every attempt is one).
    if (phase === 'response' && x.response && loginFailed(x.login.failure, x.response)) {
      return { subject, ops: [this.failures(1)], rules: [this.failRule(x, 0)] };
    }
    return null;
  }

  evaluate(results: OpResult[][], x: Exchange, phase: Phase): Signal | null {
    const r = results[0] ?? [];
    const fails = this.failSignal(x, r[0]);
    if (phase !== 'login') return fails;
    const targets = r[1];
    if (!targets || targets.kind !== 'distinct') return fails;
    const c = this.config;
    const distinct = distinctSignal(c, 'distinct-targets', targets, c.maxTargets / x.endpoint.sensitivity, c.targetWindowMs);
    return pick([distinct, fails]);
  }

  private failSignal(x: Exchange, fails: OpResult | undefined): Signal | null {
    if (!fails || fails.kind !== 'count') return null;
    const above = this.failRule(x, 0).above;
    return signal(this.config, { signal: 'failures-24h', value: fails.count, baseline: 0, threshold: above, score: fails.score, windowMs: this.config.windowMs, fired: fails.score > above });
  }
}

export const slowBruteForceFactory: DetectorFactory<SlowBruteForceConfig> = {
  type: 'slow-brute-force',
  summary: 'login endpoints: failed attempts over a sliding 24 h (per identity, IP, prefix or username) and distinct usernames tried per day',
  parse(f: Fields, base: DetectorBase): SlowBruteForceConfig {
    return {
      ...base,
      type: 'slow-brute-force',
      subject: subjectFor(f, base, ['identity', 'client-ip', 'ip-prefix', 'username'], 'identity'),
      windowMs: f.duration('window', 86_400_000, 3_600_000, 30 * 86_400_000),
      maxFailures: f.number('max_failures', 50, 1, 1e6, true),
      targetWindowMs: f.duration('target_window', 86_400_000, 60_000, 30 * 86_400_000),
      maxTargets: f.number('max_targets', 10, 1, 1e6, true),
    };
  },
  create: (config) => new SlowBruteForceDetector(config),
};
