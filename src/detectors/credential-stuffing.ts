import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import { loginFailed } from '../request/login.js';
import type { CountOp, Op, OpResult } from '../state/store.js';
import { appliesTo } from './applies.js';
import { distinctSignal, pick, ratioRule, signal, subjectFor } from './signal.js';
import { subjectOf } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, Plan, PlanRule, Signal } from './types.js';

/**
 * Credential stuffing: one source (default the client IP) trying many usernames on login endpoints,
 * and failing nearly always. Two measures per subject:
 *
 *   distinct-usernames  HyperLogLog of usernames tried per fixed window > max_usernames / sensitivity;
 *   failure-ratio       failed / all attempts (sliding window) > failure_ratio / sensitivity, once at
 *                       least min_attempts / sensitivity attempts were seen. Left out when the
 *                       endpoint's failure signal is every_attempt (no failure information).
 *
 * The login phase counts the attempt and its username and re-checks the failure ratio from a
 * read-only count (so a source stays penalised while it is over); the response phase counts the
 * failure. Maths: docs/detectors.md.
 */
export interface CredentialStuffingConfig extends DetectorBase {
  type: 'credential-stuffing';
  windowMs: number;
  maxUsernames: number;
  failureRatio: number;
  minAttempts: number;
}

export class CredentialStuffingDetector implements Detector {
  constructor(readonly config: CredentialStuffingConfig) {}

  private hasFailureInfo(x: Exchange): boolean {
    return x.login !== null && x.login.failure.kind !== 'every-attempt';
  }

  private ratioRule(x: Exchange, op: number, per: number): PlanRule {
    const c = this.config;
    return { op, per, above: c.failureRatio / x.endpoint.sensitivity, perAtLeast: Math.ceil(c.minAttempts / x.endpoint.sensitivity) };
  }

  private count(name: string, by: number): CountOp {
    return { kind: 'count', name: `${this.config.name}:${name}`, windowMs: this.config.windowMs, by, sliding: true };
  }

  plan(x: Exchange, phase: Phase): Plan | null {
    const c = this.config;
    // No login phase, no attempt: the response of a request that never reached it is not counted.
    if (!x.login || !x.endpoint.rule?.login || !appliesTo(c, x)) return null;
    const subject = subjectOf(c.subject, x);
    if (subject === null) return null;
    if (phase === 'login') {
      const ops: Op[] = [
        { kind: 'distinct', name: `${c.name}:users`, member: x.login.username ?? '', windowMs: c.windowMs },
        this.count('attempts', 1),
      ];
      const rules: PlanRule[] = [{ op: 0, above: c.maxUsernames / x.endpoint.sensitivity }];
      if (this.hasFailureInfo(x)) {
        ops.push(this.count('fail', 0));
        rules.push(this.ratioRule(x, 2, 1));
      }
      return { subject, ops, rules };
    }
    if (phase === 'response' && x.response && this.hasFailureInfo(x)) {
      const failed = loginFailed(x.login.failure, x.response) ? 1 : 0;
      return { subject, ops: [this.count('fail', failed), this.count('attempts', 0)], rules: [this.ratioRule(x, 0, 1)] };
    }
    return null;
  }

  evaluate(results: OpResult[][], x: Exchange, phase: Phase): Signal | null {
    const r = results[0] ?? [];
    if (phase === 'response') return this.ratioSignal(x, r[0], r[1]);
    const users = r[0];
    if (!users || users.kind !== 'distinct') return null;
    const c = this.config;
    const distinct = distinctSignal(c, 'distinct-usernames', users, c.maxUsernames / x.endpoint.sensitivity, c.windowMs);
    const ratio = this.ratioSignal(x, r[2], r[1]);
    return pick([distinct, ratio]);
  }

  private ratioSignal(x: Exchange, fail: OpResult | undefined, attempts: OpResult | undefined): Signal | null {
    if (!fail || fail.kind !== 'count' || !attempts || attempts.kind !== 'count') return null;
    const rule = this.ratioRule(x, 0, 1);
    const { score, fired } = ratioRule(fail.score, attempts.score, rule.above, rule.perAtLeast!);
    return signal(this.config, { signal: 'failure-ratio', value: fail.count, baseline: attempts.count, threshold: rule.above, score, windowMs: this.config.windowMs, fired });
  }
}

export const credentialStuffingFactory: DetectorFactory<CredentialStuffingConfig> = {
  type: 'credential-stuffing',
  summary: 'login endpoints: distinct usernames tried per window and the ratio of failed attempts, per client IP (or prefix, identity)',
  parse(f: Fields, base: DetectorBase): CredentialStuffingConfig {
    return {
      ...base,
      type: 'credential-stuffing',
      subject: subjectFor(f, base, ['client-ip', 'ip-prefix', 'identity'], 'client-ip'),
      windowMs: f.duration('window', 10 * 60_000, 60_000, 86_400_000),
      maxUsernames: f.number('max_usernames', 20, 1, 1e6, true),
      failureRatio: f.number('failure_ratio', 0.8, 0.01, 1),
      minAttempts: f.number('min_attempts', 30, 1, 1e6, true),
    };
  },
  create: (config) => new CredentialStuffingDetector(config),
};
