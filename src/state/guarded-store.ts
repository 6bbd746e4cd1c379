import CircuitBreaker from 'opossum';
import { StoreUnavailableError } from '../errors.js';
import type { Logger } from '../obs/logger.js';
import type { Metrics } from '../obs/metrics.js';
import { withDeadline } from './deadline.js';
import type { SubjectDelta, SyncResult } from './delta.js';
import type { Batch, BatchResult, LiftedPenalty, ListedPenalty, PopulationStats, SharedStore, StateStore, SubjectState } from './store.js';

export interface GuardOptions {
  /** Per-call deadline, far below Envoy's message_timeout. */
  timeoutMs: number;
  errorThresholdPercent: number;
  resetTimeoutMs: number;
  /** Calls in the rolling window before the breaker may open. */
  volumeThreshold?: number;
}

/** Deadline of operator calls (admin API), which scan and are never on the request path. */
export const OPERATOR_TIMEOUT_MS = 5000;

export type BreakerState = 'closed' | 'half-open' | 'open';

/**
 * Wraps a StateStore in an opossum breaker with a per-call deadline. Every failure comes out as a
 * StoreUnavailableError (timeout | error | breaker-open), counted; the stream handler turns it into a
 * fail-open allow. One log line per breaker transition. The embedded memory store answers in-process
 * and cannot time out or disconnect, so its calls skip the breaker (and the latency histogram).
 */
export class GuardedStore implements SharedStore {
  readonly kind: StateStore['kind'];
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  private lastPingOk = true;

  constructor(
    readonly inner: SharedStore,
    options: GuardOptions,
    private readonly metrics: Metrics,
    logger: Logger,
  ) {
    this.kind = inner.kind;
    // The deadline is withDeadline's, not opossum's own timer: a reply that arrived while vigil's event
    // loop was stalled must not count against the store (deadline.ts).
    const deadline = options.timeoutMs;
    this.breaker = new CircuitBreaker((call: () => Promise<unknown>) => withDeadline(call(), deadline, () => timedOut(deadline)), {
      timeout: false,
      errorThresholdPercentage: options.errorThresholdPercent,
      resetTimeout: options.resetTimeoutMs,
      volumeThreshold: options.volumeThreshold ?? 5,
      rollingCountTimeout: 10_000,
      rollingCountBuckets: 10,
      // opossum's latency percentiles sort every call's latency of the window once a second (and on
      // every failure): 7–23 ms event-loop stalls under load. vigil measures latency with prom-client.
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
    });
    metrics.breakerState.set(0);
    this.breaker.on('open', () => {
      metrics.breakerState.set(2);
      logger.warn({ store: this.kind, resetMs: options.resetTimeoutMs }, 'store breaker opened: calls to the store paused');
    });
    this.breaker.on('halfOpen', () => {
      metrics.breakerState.set(1);
      logger.info({ store: this.kind }, 'store breaker half-open: trying the store again');
    });
    this.breaker.on('close', () => {
      metrics.breakerState.set(0);
      logger.info({ store: this.kind }, 'store breaker closed: store healthy');
    });
  }

  get breakerState(): BreakerState {
    return this.breaker.opened ? 'open' : this.breaker.halfOpen ? 'half-open' : 'closed';
  }

  /** Healthy when the breaker is closed and the last health check answered. */
  get healthy(): boolean {
    return this.breakerState === 'closed' && this.lastPingOk;
  }

  private async guard<T>(call: string, fn: () => Promise<T>): Promise<T> {
    if (this.kind === 'memory') return fn();
    const started = process.hrtime.bigint();
    try {
      const out = (await this.breaker.fire(fn)) as T;
      this.metrics.storeSeconds.observe({ call }, Number(process.hrtime.bigint() - started) / 1e9);
      return out;
    } catch (err) {
      const code = (err as { code?: string }).code;
      const reason = code === 'ETIMEDOUT' ? 'timeout' : code === 'EOPENBREAKER' ? 'breaker-open' : 'error';
      this.metrics.storeErrors.inc({ reason });
      throw new StoreUnavailableError(reason, `state store ${call}: ${(err as Error).message}`);
    }
  }

  /**
   * Operator calls (admin API): outside the breaker and with their own deadline, so a slow SCAN over a
   * large keyspace neither answers the operator 503 at the request path's deadline nor trips the
   * breaker that live traffic depends on. Failures are still StoreUnavailableError.
   */
  private async operator<T>(call: string, fn: () => Promise<T>): Promise<T> {
    if (this.kind === 'memory') return fn();
    try {
      return await withDeadline(fn(), OPERATOR_TIMEOUT_MS, () => timedOut(OPERATOR_TIMEOUT_MS));
    } catch (err) {
      const reason = (err as { code?: string }).code === 'ETIMEDOUT' ? 'timeout' : 'error';
      throw new StoreUnavailableError(reason, `state store ${call}: ${(err as Error).message}`);
    }
  }

  run(batches: Batch[], nowMs: number): Promise<BatchResult[]> {
    return this.guard('run', () => this.inner.run(batches, nowMs));
  }

  /**
   * The tier's sync: not through the breaker or its deadline (the tier has its own deadline and
   * backoff, and a sync abandoned at a short deadline may still have been applied), but timed.
   */
  async sync(deltas: SubjectDelta[], nowMs: number, cursor: string): Promise<SyncResult> {
    const started = process.hrtime.bigint();
    const out = await this.inner.sync(deltas, nowMs, cursor);
    if (this.kind !== 'memory') this.metrics.storeSeconds.observe({ call: 'sync' }, Number(process.hrtime.bigint() - started) / 1e9);
    return out;
  }

  mergePopulation(name: string, samples: number[], alpha: number, ttlMs: number, nowMs: number): Promise<PopulationStats> {
    return this.guard('population', () => this.inner.mergePopulation(name, samples, alpha, ttlMs, nowMs));
  }

  liftPenalty(subject: string, nowMs: number): Promise<LiftedPenalty | null> {
    return this.operator('lift', () => this.inner.liftPenalty(subject, nowMs));
  }

  confirmStepUp(subject: string, creditMs: number, nowMs: number): Promise<boolean> {
    return this.guard('confirm', () => this.inner.confirmStepUp(subject, creditMs, nowMs));
  }

  listPenalties(nowMs: number, limit: number): Promise<ListedPenalty[]> {
    return this.operator('list', () => this.inner.listPenalties(nowMs, limit));
  }

  inspect(subject: string, nowMs: number): Promise<SubjectState> {
    return this.operator('inspect', () => this.inner.inspect(subject, nowMs));
  }

  /** Health check: goes through the breaker, so a recovered store closes it even without traffic. */
  async ping(): Promise<void> {
    try {
      await this.guard('ping', () => this.inner.ping());
      this.lastPingOk = true;
      this.metrics.storeUp.set(1);
    } catch (err) {
      this.lastPingOk = false;
      this.metrics.storeUp.set(0);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.breaker.shutdown();
    await this.inner.close();
  }
}

/** A deadline's rejection, with the code opossum gives its own timeouts. */
function timedOut(ms: number): Error {
  return Object.assign(new Error(`timed out after ${ms} ms`), { code: 'ETIMEDOUT' });
}
