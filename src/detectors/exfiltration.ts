import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import type { CountOp, Op, OpResult, RateOp } from '../state/store.js';
import { appliesTo } from './applies.js';
import { baselineOp, ewmaAlpha } from './baseline.js';
import type { BaselineConfig } from './baseline.js';
import { pick, signal, subjectFor } from './signal.js';
import { subjectOf } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, Plan, PlanPart, PlanRule, Signal } from './types.js';

/**
 * Exfiltration: response bytes per bucket for each subject and endpoint group, against the subject's
 * own EWMA baseline of bytes (the rate op's maths with `by` = the response's size), with a byte floor
 * that export endpoints multiply by `export_allowance`; and, where Envoy streams a sampled body (export
 * endpoints with `sample_body`), a budget of high-entropy bytes (compressed or encrypted archives) per
 * window. Responses without content-length (chunked) are counted from the sampled body when there is
 * one, else not at all. Response phases only update state: a penalty applies to the next request.
 * Maths and the Envoy settings sampling needs: docs/detectors.md.
 */
export interface ExfiltrationConfig extends DetectorBase, BaselineConfig {
  type: 'exfiltration';
  minBytes: number;
  exportAllowance: number;
  entropyThreshold: number;
  entropyWindowMs: number;
  maxHighEntropyBytes: number;
}

const MB = 1_000_000;

export class ExfiltrationDetector implements Detector {
  readonly alpha: number;

  constructor(readonly config: ExfiltrationConfig) {
    this.alpha = ewmaAlpha(config.bucketMs, config.halfLifeMs);
  }

  plan(x: Exchange, phase: Phase): Plan | null {
    const c = this.config;
    if ((phase !== 'response' && phase !== 'response-body') || !x.response || !appliesTo(c, x)) return null;
    if (x.facts.endpoint.method === 'HEAD') return null;
    const subject = subjectOf(c.subject, x);
    if (subject === null) return null;
    const ops: Op[] = [];
    const rules: PlanRule[] = [];
    // A known size is counted at the response headers; a chunked one only at the end of a sampled body.
    const size = x.response.contentLength;
    let bytes: number | null = null;
    if (phase === 'response') bytes = size;
    else if (size === null && x.sample) bytes = x.sample.totalBytes;
    if (bytes !== null && bytes > 0) {
      rules.push({ op: ops.length, above: c.thresholdZ / x.endpoint.sensitivity });
      ops.push(this.bytesOp(x, bytes));
    }
    if (phase === 'response-body' && x.sample && x.sample.totalBytes > 0 && x.sample.entropy >= c.entropyThreshold) {
      rules.push({ op: ops.length, above: c.maxHighEntropyBytes / x.endpoint.sensitivity });
      const op: CountOp = { kind: 'count', name: `${c.name}:hi-entropy`, windowMs: c.entropyWindowMs, by: x.sample.totalBytes };
      ops.push(op);
    }
    return ops.length > 0 ? { subject, ops, rules } : null;
  }

  private bytesOp(x: Exchange, bytes: number): RateOp {
    return baselineOp(this.config, this.alpha, `${this.config.name}:bytes:${x.endpoint.group}`, bytes, this.minBytes(x));
  }

  /** The byte floor below which a bucket never scores: min_bytes, × export_allowance on export endpoints. */
  minBytes(x: Exchange): number {
    const c = this.config;
    const allowance = x.endpoint.rule?.export ? c.exportAllowance : 1;
    return Math.ceil((c.minBytes * allowance) / x.endpoint.sensitivity);
  }

  evaluate(results: OpResult[][], x: Exchange, _phase: Phase, ran: { parts: readonly PlanPart[]; nowMs: number }): Signal | null {
    const c = this.config;
    const s = x.endpoint.sensitivity;
    const out: Signal[] = [];
    for (const r of results[0] ?? []) {
      if (r.kind === 'rate') {
        const threshold = c.thresholdZ / s;
        const z = signal(c, { signal: 'bytes-z', value: r.current, baseline: r.mean, threshold, score: r.z, windowMs: c.bucketMs, fired: r.score > threshold });
        const op = ran.parts[0]?.ops[0];
        if (op?.kind === 'rate') z.floor = op.minCount;
        out.push(z);
      } else if (r.kind === 'count') {
        const threshold = c.maxHighEntropyBytes / s;
        out.push(signal(c, { signal: 'high-entropy-bytes', value: r.count, baseline: 0, threshold, score: r.score, windowMs: c.entropyWindowMs, fired: r.score > threshold }));
      }
    }
    return pick(out);
  }
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/;
const UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** A byte size: a number of bytes, or a string such as 512KB, 10MB, 1.5GiB (KB = 1000 B, KiB = 1024 B). */
export function byteSize(f: Fields, key: string, dflt: number, min: number, max: number): number {
  const v = f.raw(key);
  if (v === undefined || v === null) return dflt;
  const m = typeof v === 'string' ? SIZE.exec(v.trim()) : null;
  const bytes = typeof v === 'number' ? v : m ? Math.round(Number(m[1]) * UNITS[m[2]!]!) : NaN;
  if (!Number.isFinite(bytes) || bytes < min || bytes > max) {
    f.problems.push(`${f.where}.${key}: must be a size from ${formatBytes(min)} to ${formatBytes(max)} (bytes, or e.g. 512KB, 10MB, 1GiB)`);
    return dflt;
  }
  return bytes;
}

function formatBytes(n: number): string {
  for (const unit of ['TB', 'GB', 'MB', 'KB'] as const) {
    if (n >= UNITS[unit]! && n % UNITS[unit]! === 0) return `${n / UNITS[unit]!}${unit}`;
  }
  return `${n}B`;
}

export const exfiltrationFactory: DetectorFactory<ExfiltrationConfig> = {
  type: 'exfiltration',
  summary: 'response bytes per window vs the subject’s own EWMA baseline (export endpoints get an allowance), and high-entropy bytes of sampled bodies',
  parse(f: Fields, base: DetectorBase): ExfiltrationConfig {
    const bucketMs = f.duration('bucket', 10 * 60_000, 60_000, 86_400_000);
    const thresholdZ = f.number('threshold_z', 4, 0.5, 100);
    return {
      ...base,
      type: 'exfiltration',
      subject: subjectFor(f, base, ['identity', 'client-ip', 'ip-prefix'], 'identity'),
      bucketMs,
      halfLifeMs: f.duration('half_life', 6 * 3_600_000, bucketMs, 30 * 86_400_000),
      thresholdZ,
      minBytes: byteSize(f, 'min_bytes', 10 * MB, 1, 1e12),
      exportAllowance: f.number('export_allowance', 10, 1, 10_000),
      varianceFloor: f.number('variance_floor', 1e10, 0, 1e24),
      priorMean: f.number('prior_mean', 1e6, 0, 1e12),
      priorVariance: f.number('prior_variance', 1e12, 0, 1e24),
      priorWeight: f.number('prior_weight', 6, 0, 1e6),
      clampZ: f.number('clamp_z', thresholdZ, 0.5, 100),
      stateTtlMs: f.duration('state_ttl', 2 * 86_400_000, bucketMs * 2, 90 * 86_400_000),
      entropyThreshold: f.number('entropy_threshold', 7.5, 0, 8),
      entropyWindowMs: f.duration('entropy_window', 3_600_000, 60_000, 7 * 86_400_000),
      maxHighEntropyBytes: byteSize(f, 'max_high_entropy_bytes', 50 * MB, 1, 1e12),
    };
  },
  create: (config) => new ExfiltrationDetector(config),
};
