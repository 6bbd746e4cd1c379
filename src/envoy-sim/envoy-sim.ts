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
    this.client = new ProcessorClient(target, grpc.credentials.createInsecure(), options.channelOptions ?? {});
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
