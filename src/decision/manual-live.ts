/**
 * This replica's view of the manual rules (state/manual-rules.ts): a ManualTable rebuilt whenever the
 * store's version token changes. refresh() runs off the request path (every MANUAL_REFRESH_MS, and at
 * once after a change made through this replica's admin API); the request path only calls match().
 * While the store cannot be read the last table stays in force (a rule still ends at its untilMs).
 *
 * Metrics: vigil_manual_rules{kind,action} (active rules in this replica's table, counted at scrape
 * time) and vigil_manual_hits_total{action} (requests a rule decided).
 */
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Clock } from '../clock.js';
import { MANUAL_ACTIONS, MANUAL_KINDS } from '../state/manual-rules.js';
import type { ManualAction, ManualRule, ManualRuleStore } from '../state/manual-rules.js';
import { ManualTable } from './manual-table.js';

/** How often a replica checks the store for changed rules. */
export const MANUAL_REFRESH_MS = 1000;

export class ManualRulesLive {
  private table = ManualTable.EMPTY;
  private seen: string | null = null;
  private running: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly hits: Counter<'action'>;

  constructor(
    readonly store: ManualRuleStore,
    private readonly clock: Clock,
    registry: Registry,
    /** Told when a refresh fails (the table stays as it was). */
    private readonly failed: (err: unknown) => void,
  ) {
    this.hits = hitsCounter(registry);
    rulesGauge(registry, () => this.table.rules, () => this.clock.nowMs());
  }

  /** The rule deciding this request, or null; counted as a hit when there is one. */
  match(identityId: string, clientIp: string, nowMs: number): ManualRule | null {
    const r = this.table.match(identityId, clientIp, nowMs);
    if (r) this.hits.inc({ action: r.action });
    return r;
  }

  /** The rules of the table in force (expired ones included until the next rebuild). */
  get rules(): readonly ManualRule[] {
    return this.table.rules;
  }

  /** Reads the version and, when it changed (or `force`), the rules; one refresh at a time. */
  refresh(force = false): Promise<void> {
    if (this.running && !force) return this.running;
    const next = (this.running ?? Promise.resolve()).catch(() => undefined).then(() => this.load(force));
    this.running = next;
    next.then(
      () => this.running === next && (this.running = null),
      () => this.running === next && (this.running = null),
    );
    return next;
  }

  start(): this {
    const tick = () => void this.refresh().catch((err: unknown) => this.failed(err));
    tick();
    this.timer = setInterval(tick, MANUAL_REFRESH_MS);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async load(force: boolean): Promise<void> {
    const version = await this.store.version();
    if (!force && version === this.seen) return;
    const rules = await this.store.list(this.clock.nowMs());
    this.table = new ManualTable(rules);
    this.seen = version;
  }
}

function hitsCounter(registry: Registry): Counter<'action'> {
  const name = 'vigil_manual_hits_total';
  return (
    (registry.getSingleMetric(name) as Counter<'action'> | undefined) ??
    new Counter({ name, help: 'Requests decided by a manual rule (vigil admin block/allow), by its action', labelNames: ['action'] as const, registers: [registry] })
  );
}

function rulesGauge(registry: Registry, rules: () => readonly ManualRule[], nowMs: () => number): void {
  const name = 'vigil_manual_rules';
  if (registry.getSingleMetric(name)) return;
  new Gauge({
    name,
    help: 'Active manual rules in this replica\'s table, by target kind (ip, cidr, identity) and action (block, allow)',
    labelNames: ['kind', 'action'] as const,
    registers: [registry],
    // With VIGIL_WORKERS every worker holds the same rules: the primary shows one worker's count, not the sum.
    aggregator: 'max',
    collect() {
      const now = nowMs();
      for (const kind of MANUAL_KINDS) {
        for (const action of MANUAL_ACTIONS) this.set({ kind, action }, count(rules(), kind, action, now));
      }
    },
  });
}

function count(rules: readonly ManualRule[], kind: string, action: ManualAction, nowMs: number): number {
  let n = 0;
  for (const r of rules) if (r.kind === kind && r.action === action && r.untilMs > nowMs) n++;
  return n;
}
