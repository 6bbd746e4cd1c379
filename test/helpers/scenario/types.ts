/**
 * Shapes of a scenario (test/scenarios/<case>/, format in test/scenarios/README.md): the traffic as
 * written, the exchanges it expands to, the decisions observed, and the expectations checked.
 */
import type { Action } from '../../../src/decision/types.js';
import type { HttpExchange } from '../../../src/envoy-sim/index.js';
import type { Policy } from '../../../src/policy/policy.js';
import type { WireOutcome } from '../../../src/replay/wire-outcome.js';

export type HeaderPairs = Array<[string, string]>;

/** A scenario failed to load: every problem names its file and field. */
export class ScenarioFormatError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ScenarioFormatError';
  }
}

export interface ClientSpec {
  name: string;
  ip: string;
  port: number;
  headers: HeaderPairs;
}

export interface StreamSpec {
  /** Position in `streams:`; ties in time keep this order. */
  index: number;
  client: string;
  fromMs: number;
  /** Spacing between consecutive requests (from `every`, or 60 000 / `rate`). */
  intervalMs: number;
  count: number;
  /** Each request is delayed by a seeded pseudo-random amount in [0, jitterMs). */
  jitterMs: number;
  seed: number;
  /** The stream is played this many days in a row (day d starts at fromMs + d × 24 h). */
  repeatDaily: number;
  request: { method: string; path: string; headers: HeaderPairs; body: string | null };
  response: { status: number; headers: HeaderPairs; body: string | null; bodyBytes: number | null };
}

export interface TrafficSpec {
  file: string;
  startMs: number;
  clients: Map<string, ClientSpec>;
  streams: StreamSpec[];
}

/** One expanded exchange, ready for envoy-sim. */
export interface ScenarioExchange {
  /** Global index in time order ({i}). */
  i: number;
  /** Index within its stream ({n}), counted over all repeated days. */
  n: number;
  stream: number;
  client: string;
  atMs: number;
  http: HttpExchange;
}

/** What vigil decided for one exchange, as seen from the outside. */
export interface ObservedDecision extends WireOutcome {
  /** Global exchange index. */
  i: number;
  /** Index among this client's own exchanges, in time order. */
  n: number;
  client: string;
  atMs: number;
}

/** `N` exactly, or `op N`, or the inclusive range `A..B`. */
export interface CountSpec {
  text: string;
  min: number;
  max: number;
}

export interface FlagSpec {
  action: Action | null;
  atLeast: number | null;
  atMost: number | null;
}

export interface Expectation {
  /** `expected.yaml[<k>]`, for messages. */
  where: string;
  client: string;
  firstFlagged: FlagSpec | null;
  neverFlagged: boolean;
  /** false = never shadow-flagged; a FlagSpec = the first shadow-flagged request. */
  shadowFlagged: FlagSpec | false | null;
  actions: Map<Action, CountSpec> | null;
  /** Must all appear among the reasons of this client's flagged (or, with shadowFlagged, shadow-flagged) requests. */
  detectors: string[];
}

export interface Scenario {
  name: string;
  dir: string;
  policy: Policy;
  traffic: TrafficSpec;
  expected: Expectation[];
}
