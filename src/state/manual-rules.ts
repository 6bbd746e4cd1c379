/**
 * Manual rules: an operator's block or allow of an IP, a CIDR range or an identity, until a given
 * time, with a reason and who set it (docs/admin.md). Kept in the shared store so every replica
 * agrees; replicas read them off the request path (decision/manual-live.ts) and match requests
 * against an in-process table (decision/manual-table.ts).
 *
 * One rule per target: setting a rule on a target replaces the one it had (a block replaces an allow).
 * A rule whose untilMs ≤ nowMs counts as none. Both implementations (MemoryManualRules here, for the
 * embedded store; RedisManualRules in redis-manual-rules.ts) give the same answers for the same calls
 * and clock (test/state/contract-manual.ts).
 */
export type ManualAction = 'block' | 'allow';
export type ManualKind = 'ip' | 'cidr' | 'identity';
export const MANUAL_ACTIONS: readonly ManualAction[] = ['block', 'allow'];
export const MANUAL_KINDS: readonly ManualKind[] = ['ip', 'cidr', 'identity'];

/** At most this many active rules; setting one more (on a new target) is refused. */
export const MAX_MANUAL_RULES = 10_000;

export interface ManualRule {
  /**
   * Canonical: an address (`203.0.113.7`, `2001:db8::1`), a range (`10.0.0.0/8`, `2001:db8::/32`) or an
   * identity pseudonym (`api-key:<32 hex>`, as vigil logs it; never a raw credential).
   */
  target: string;
  kind: ManualKind;
  action: ManualAction;
  /** Absolute expiry (ms since epoch, on the injected clock). */
  untilMs: number;
  sinceMs: number;
  /** Free text from the operator (printable, at most MAX_REASON_CHARS). */
  reason: string;
  /** Who set it (the CLI sends user@host unless told otherwise). */
  by: string;
}

export class ManualRulesFullError extends Error {
  constructor(max: number) {
    super(`too many manual rules: at most ${max} can be active (remove some, or let them expire)`);
  }
}

export interface ManualRuleStore {
  /**
   * Sets `rule` on its target (replacing what the target had). Returns the rule it replaced when that
   * one was still active at nowMs, else null. Throws ManualRulesFullError when MAX_MANUAL_RULES other
   * targets already hold active rules. The stored data expires with the longest rule.
   */
  put(rule: ManualRule, nowMs: number): Promise<ManualRule | null>;
  /** Removes the target's rule; returns it when it was active at nowMs, else null. */
  remove(target: string, nowMs: number): Promise<ManualRule | null>;
  /** Active rules (untilMs > nowMs), sorted by target (code-unit order). */
  list(nowMs: number): Promise<ManualRule[]>;
  /** A token that changes whenever a rule is set or removed (not when one merely expires). */
  version(): Promise<string>;
}

/** The embedded store's rules: in process. */
export class MemoryManualRules implements ManualRuleStore {
  private readonly rules = new Map<string, ManualRule>();
  private changes = 0;

  constructor(private readonly maxRules = MAX_MANUAL_RULES) {}

  async put(rule: ManualRule, nowMs: number): Promise<ManualRule | null> {
    this.prune(nowMs);
    const old = this.rules.get(rule.target) ?? null;
    if (!old && this.rules.size >= this.maxRules) throw new ManualRulesFullError(this.maxRules);
    this.rules.set(rule.target, { ...rule });
    this.changes++;
    return old;
  }

  async remove(target: string, nowMs: number): Promise<ManualRule | null> {
    this.prune(nowMs);
    const old = this.rules.get(target) ?? null;
    if (!old) return null;
    this.rules.delete(target);
    this.changes++;
    return old;
  }

  async list(nowMs: number): Promise<ManualRule[]> {
    this.prune(nowMs);
    return [...this.rules.values()].map((r) => ({ ...r })).sort(byTarget);
  }

  async version(): Promise<string> {
    return String(this.changes);
  }

  private prune(nowMs: number): void {
    for (const [k, r] of this.rules) if (r.untilMs <= nowMs) this.rules.delete(k);
  }
}

export function byTarget(a: ManualRule, b: ManualRule): number {
  return a.target < b.target ? -1 : a.target > b.target ? 1 : 0;
}

/** A stored rule read back: null when it is not a well-formed rule (it is then ignored). */
export function ruleFrom(value: unknown): ManualRule | null {
  if (typeof value !== 'object' || value === null) return null;
  const r = value as Record<string, unknown>;
  if (typeof r.target !== 'string' || typeof r.reason !== 'string' || typeof r.by !== 'string') return null;
  if (!(MANUAL_KINDS as readonly unknown[]).includes(r.kind) || !(MANUAL_ACTIONS as readonly unknown[]).includes(r.action)) return null;
  if (typeof r.untilMs !== 'number' || !Number.isFinite(r.untilMs) || typeof r.sinceMs !== 'number' || !Number.isFinite(r.sinceMs)) return null;
  return { target: r.target, kind: r.kind as ManualKind, action: r.action as ManualAction, untilMs: r.untilMs, sinceMs: r.sinceMs, reason: r.reason, by: r.by };
}

/**
 * The in-process rules kept beside a store that is not Redis (the embedded store; a MemoryStore that
 * tests share between vigils): one instance per store object, so vigils sharing a store share its rules.
 */
const attached = new WeakMap<object, MemoryManualRules>();

export function memoryManualRulesOf(store: object): MemoryManualRules {
  let rules = attached.get(store);
  if (!rules) attached.set(store, (rules = new MemoryManualRules()));
  return rules;
}
