/**
 * A strict reader for one YAML mapping: every read names its field, every problem carries the full
 * path (`policy.yaml: detectors[0] (request-rate).threshold_z: must be a number > 0`), and `done()`
 * rejects keys nobody read (house style, habit 4).
 */
export class Fields {
  private readonly seen = new Set<string>();
  readonly obj: Record<string, unknown>;

  constructor(
    raw: unknown,
    readonly where: string,
    readonly problems: string[],
  ) {
    if (raw === null || raw === undefined) {
      this.obj = {};
    } else if (typeof raw !== 'object' || Array.isArray(raw)) {
      problems.push(`${where}: must be a mapping`);
      this.obj = {};
    } else {
      this.obj = raw as Record<string, unknown>;
    }
  }

  /** Whether the key holds a value; counts as reading it (an explicit null is then accepted as absent). */
  has(key: string): boolean {
    this.seen.add(key);
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  raw(key: string): unknown {
    this.seen.add(key);
    return this.obj[key];
  }

  private fail(key: string, msg: string): void {
    this.problems.push(`${this.where}.${key}: ${msg}`);
  }

  string(key: string, dflt?: string, pattern?: RegExp): string {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (dflt === undefined) this.fail(key, 'is required');
      return dflt ?? '';
    }
    if (typeof v !== 'string' || v === '') {
      this.fail(key, 'must be a non-empty string');
      return dflt ?? '';
    }
    if (pattern && !pattern.test(v)) {
      this.fail(key, `"${v}" must match ${pattern}`);
      return dflt ?? '';
    }
    return v;
  }

  number(key: string, dflt: number | undefined, min: number, max: number, integer = false): number {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (dflt === undefined) this.fail(key, 'is required');
      return dflt ?? min;
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      this.fail(key, `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}`);
      return dflt ?? min;
    }
    return v;
  }

  bool(key: string, dflt: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') {
      this.fail(key, 'must be true or false');
      return dflt;
    }
    return v;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], dflt?: T): T {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (dflt === undefined) this.fail(key, `is required (one of ${allowed.join(', ')})`);
      return dflt ?? allowed[0]!;
    }
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      this.fail(key, `must be one of ${allowed.join(', ')}`);
      return dflt ?? allowed[0]!;
    }
    return v as T;
  }

  /** A duration such as 250ms, 30s, 5m, 1h, 1d. */
  duration(key: string, dflt: number | undefined, minMs: number, maxMs: number): number {
    const v = this.raw(key);
    if (v === undefined || v === null) {
      if (dflt === undefined) this.fail(key, 'is required');
      return dflt ?? minMs;
    }
    const ms = typeof v === 'string' ? parseDuration(v) : null;
    if (ms === null) {
      this.fail(key, 'invalid duration (use e.g. 500ms, 30s, 5m, 1h, 1d)');
      return dflt ?? minMs;
    }
    if (ms < minMs || ms > maxMs) {
      this.fail(key, `must be from ${formatDuration(minMs)} to ${formatDuration(maxMs)}`);
      return dflt ?? minMs;
    }
    return ms;
  }

  list(key: string): unknown[] {
    const v = this.raw(key);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.fail(key, 'must be a list');
      return [];
    }
    return v;
  }

  /** Rejects every key that was not read. Call last. */
  done(): void {
    for (const key of Object.keys(this.obj)) {
      if (this.seen.has(key)) continue;
      const near = nearest(key, this.seen);
      this.problems.push(`${this.where}.${key}: unknown field${near ? ` (did you mean "${near}"?)` : ''}`);
    }
  }
}

/**
 * The known key closest to a mistyped one: the fewest single-character insertions, deletions,
 * substitutions or swaps of two neighbours (the optimal-string-alignment variant of the
 * Damerau–Levenshtein distance), at most 2 and less than half the key; none when two are as close.
 */
export function nearest(key: string, known: Iterable<string>): string | null {
  const limit = Math.min(2, Math.ceil(key.length / 2) - 1);
  let best: string | null = null;
  let bestD = limit + 1;
  let tie = false;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestD) {
      best = k;
      bestD = d;
      tie = false;
    } else if (d === bestD) tie = true;
  }
  return best !== null && !tie ? best : null;
}

export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * UNITS[m[2]!]!;
  return Number.isFinite(ms) ? Math.round(ms) : null;
}

export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
