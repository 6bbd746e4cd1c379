/**
 * EnvoySim: plays Envoy's ext_proc HTTP filter against a processor (docs/envoy-ext-proc.md §8).
 * One grpc-js client, i.e. one HTTP/2 connection like Envoy's cluster, shared by every exchange; one
 * `Process` stream per exchange.
 */
import * as grpc from '@grpc/grpc-js';
import { loadWire } from '../extproc/proto.js';
import { type ResolvedConfig, resolveConfig } from './config.js';
import { ExchangeRun } from './exchange.js';
import { MutationChecker } from './mutation-rules.js';
import { StreamRegistry } from './side-stream.js';
import { emptyStats, type HttpExchange, type SimFilterConfig, type SimResult, type StatName } from './types.js';

export interface EnvoySimOptions {
  /** grpc-js channel options for the side connection (e.g. 'grpc.default_authority'). */
  channelOptions?: grpc.ChannelOptions;
  /** Harness safeguard, not Envoy behaviour: an exchange still open after this long ends as 'reset'. Default 30 s. */
  watchdogMs?: number;
  /**
   * TLS to the processor, like Envoy's UpstreamTlsContext on the ext_proc cluster (PEM): the CA the
   * server's certificate must chain to, and a client certificate and key for mTLS. Unset = plaintext.
   */
  tls?: SimTls;
}

export interface SimTls {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** Name checked against the server's certificate (Envoy's `sni`) instead of the target's host. */
  servername?: string;
}

function channelCredentials(tls: SimTls | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null);
}

export class EnvoySim {
  /** Cumulative stats of every exchange (§2.10), including late ones such as deferred closes. */
  readonly stats: Record<StatName, number> = emptyStats();
  readonly config: ResolvedConfig;
  private readonly client: grpc.Client;
  private readonly checker: MutationChecker;
  private readonly registry = new StreamRegistry();
  private readonly watchdogMs: number;
  private closed = false;

  /** Throws ConfigError for an invalid config. */
  constructor(target: string, config: SimFilterConfig = {}, options: EnvoySimOptions = {}) {
    this.config = resolveConfig(config);
    this.checker = new MutationChecker(this.config.rules);
    this.watchdogMs = options.watchdogMs ?? 30_000;
    const { ProcessorClient } = loadWire();
    const channelOptions: grpc.ChannelOptions = {
      ...(options.tls?.servername !== undefined ? { 'grpc.ssl_target_name_override': options.tls.servername } : {}),
      ...options.channelOptions,
    };
    this.client = new ProcessorClient(target, channelCredentials(options.tls), channelOptions);
  }

  exchange(x: HttpExchange): Promise<SimResult> {
    if (this.closed) return Promise.reject(new Error('envoy-sim: exchange() after close()'));
    if (typeof x.method !== 'string' || x.method === '' || typeof x.path !== 'string' || x.path === '') {
      return Promise.reject(new TypeError('envoy-sim: an exchange needs a method and a path'));
    }
    const run = new ExchangeRun(
      {
        client: this.client,
        config: this.config,
        checker: this.checker,
        registry: this.registry,
        count: (stat) => this.stats[stat]++,
        watchdogMs: this.watchdogMs,
      },
      x,
    );
    return run.run();
  }

  /** Closes every side stream (deferred ones too) and the connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.registry.closeAll();
    this.client.close();
  }
}
