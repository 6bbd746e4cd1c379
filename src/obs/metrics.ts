import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Tally } from './tally.js';
import { TallyHistogram } from './tally-histogram.js';

/**
 * vigil's metrics on an injected registry (house style, habit 9). Labels are low-cardinality only:
 * action, detector (policy-bounded), shadow, reason, kind — never an IP, key, identity or path.
 */
export function createMetrics(registry: Registry, opts: { exemplars?: boolean } = {}) {
  const r = [registry];
  /** Open streams and HTTP/2 connections, read by the gauges at scrape time (the server keeps them current). */
  const live = { streams: 0, connections: 0 };
  return {
    registry,
    live,
    /** Per request: a Tally (plain Map increments, flushed to prom-client on scrape). */
    decisions: new Tally(
      'vigil_decisions_total',
      'Decisions by action, deciding detector ("none" for allow) and whether they were shadowed',
      ['action', 'detector', 'shadow'] as const,
      registry,
      opts.exemplars === true,
    ),
    /** Per request: a TallyHistogram (plain array increments, flushed to prom-client on scrape). */
    decisionSeconds: new TallyHistogram(
      'vigil_decision_duration_seconds',
      'Time from request headers received to the reply written, store round trip included',
      [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registry,
    ),
    storeSeconds: new Histogram({
      name: 'vigil_store_duration_seconds',
      help: 'State store call latency (successful calls)',
      labelNames: ['call'] as const,
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers: r,
    }),
    loopStallSeconds: new Histogram({
      name: 'vigil_event_loop_stall_seconds',
      help: 'Stretches of 200 ms or more in which vigil ran nothing (no CPU: a CPU limit, a paused host); _count is the number of stalls',
      buckets: [0.2, 0.5, 1, 2, 5, 10, 30],
      registers: r,
    }),
    storeErrors: new Counter({
      name: 'vigil_store_errors_total',
      help: 'State store calls that failed, by reason (timeout, error, breaker-open)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    breakerState: new Gauge({
      name: 'vigil_store_breaker_state',
      help: 'Store circuit breaker: 0 closed, 1 half-open, 2 open',
      registers: r,
    }),
    storeUp: new Gauge({
      name: 'vigil_store_up',
      help: '1 when the last store health check succeeded',
      registers: r,
    }),
    syncs: new Counter({
      name: 'vigil_store_sync_total',
      help: 'Sync round trips between the in-process tier and the shared store, by result (ok, not-ready, timeout, error)',
      labelNames: ['result'] as const,
      registers: r,
    }),
    syncSubjects: new Counter({
      name: 'vigil_store_sync_subjects_total',
      help: 'Subjects whose changes were sent to the shared store',
      registers: r,
    }),
    syncDropped: new Counter({
      name: 'vigil_store_sync_dropped_total',
      help: 'Subjects whose changes never reached the shared store (a sync sent without an answer, or eviction while the store was away)',
      registers: r,
    }),
    syncLag: new Gauge({
      name: 'vigil_store_sync_lag_seconds',
      help: 'Time on vigil\'s clock since the last successful sync with the shared store',
      registers: r,
    }),
    dirtySubjects: new Gauge({
      name: 'vigil_store_dirty_subjects',
      help: 'Subjects in the in-process tier with changes not yet merged into the shared store',
      registers: r,
    }),
    tierSubjects: new Gauge({
      name: 'vigil_store_tier_subjects',
      help: 'Subjects held in the in-process tier',
      registers: r,
    }),
    failOpen: new Counter({
      name: 'vigil_fail_open_total',
      help: 'Requests allowed without a full decision, by reason (store-timeout, store-error, breaker-open, internal)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    streams: new Tally('vigil_streams_total', 'ext_proc streams opened', [] as const, registry),
    streamsActive: new Gauge({
      name: 'vigil_streams_active',
      help: 'ext_proc streams currently open',
      registers: r,
      collect() {
        this.set(live.streams);
      },
    }),
    streamErrors: new Counter({
      name: 'vigil_stream_errors_total',
      help: 'ext_proc streams closed with a gRPC error or broken by the peer, by kind',
      labelNames: ['kind'] as const,
      registers: r,
    }),
    messages: new Tally('vigil_messages_total', 'ext_proc messages received, by kind', ['kind'] as const, registry),
    signals: new Counter({
      name: 'vigil_detector_signals_total',
      help: 'Detector signals that fired, by detector, exchange phase (request, login, response, response-body) and shadow',
      labelNames: ['detector', 'phase', 'shadow'] as const,
      registers: r,
    }),
    penaltiesSet: new Counter({
      name: 'vigil_penalties_set_total',
      help: 'Penalties set in the store, by detector and action (tag: a mark, throttle, challenge, block)',
      labelNames: ['detector', 'action'] as const,
      registers: r,
    }),
    stepUps: new Counter({
      name: 'vigil_step_ups_total',
      help: 'Step-up confirmations, by how (claims: verified jwt_authn claims; upstream: the confirmation response header) and result (cleared a challenge, or no-challenge)',
      labelNames: ['via', 'result'] as const,
      registers: r,
    }),
    unscored: new Counter({
      name: 'vigil_unscored_total',
      help: 'Requests allowed without scoring, by reason: static (static endpoint), allowlist (allowlisted CIDR or identity), manual (a manual allow rule)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    inputProblems: new Counter({
      name: 'vigil_input_problems_total',
      help: 'Oversized, truncated or malformed input that vigil tolerated, by kind',
      labelNames: ['kind'] as const,
      registers: r,
    }),
    policyInfo: new Gauge({
      name: 'vigil_policy_info',
      help: 'The live policy (value 1), by checksum',
      labelNames: ['checksum'] as const,
      registers: r,
    }),
    policyReloads: new Counter({
      name: 'vigil_policy_reloads_total',
      help: 'Policy changes seen after start-up, by result: ok (swapped in) or rejected (invalid; the last good policy stays)',
      labelNames: ['result'] as const,
      registers: r,
    }),
    policyLoadedAt: new Gauge({
      name: 'vigil_policy_last_reload_timestamp_seconds',
      help: 'When the live policy was loaded (start-up or last successful reload), Unix time in seconds',
      registers: r,
    }),
    tlsHandshakeFailures: new Counter({
      name: 'vigil_tls_handshake_failures_total',
      help: 'TLS handshakes refused on the ext_proc port (mTLS), by reason: no-client-certificate, client-certificate-rejected, not-tls (a plaintext client), other',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    connections: new Counter({
      name: 'vigil_connections_total',
      help: 'HTTP/2 connections accepted on the ext_proc port (Envoy opens one per worker and reconnects after a drop)',
      registers: r,
    }),
    connectionsActive: new Gauge({
      name: 'vigil_connections_active',
      help: 'HTTP/2 connections open on the ext_proc port',
      registers: r,
      collect() {
        this.set(live.connections);
      },
    }),
    connectionDrops: new Counter({
      name: 'vigil_connection_drops_total',
      help: 'HTTP/2 connections that ended abnormally, by reason: unresponsive (stopped answering pings, e.g. after the GOAWAY Node sends past its stream-reset limit; vigil closes it), session-error, peer-goaway (Envoy sent GOAWAY with an error code)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
  };
}

/** Marks the live policy: vigil_policy_info keeps only its checksum (the old label is dropped), loaded at `atMs`. */
export function showLivePolicy(metrics: Metrics, checksum: string, atMs: number): void {
  metrics.policyInfo.reset();
  metrics.policyInfo.set({ checksum }, 1);
  metrics.policyLoadedAt.set(atMs / 1000);
}

export type Metrics = ReturnType<typeof createMetrics>;
