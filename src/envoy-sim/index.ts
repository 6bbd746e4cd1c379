/** envoy-sim: Envoy's ext_proc HTTP filter played as a grpc-js client (docs/envoy-ext-proc.md §8). */
export { EnvoySim, type EnvoySimOptions, type SimTls } from './envoy-sim.js';
export { resolveConfig, type ResolvedConfig } from './config.js';
export { failureOf } from './failure.js';
export {
  STAT_NAMES,
  type EnvoyVersion,
  type HeaderPairs,
  type HttpExchange,
  type MutationRulesConfig,
  type ProcessingMode,
  type SimFilterConfig,
  type SimOutcome,
  type SimResponse,
  type SimResult,
  type SimUpstreamRequest,
  type StatName,
  type UpstreamReply,
} from './types.js';
