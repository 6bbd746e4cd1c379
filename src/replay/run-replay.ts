/**
 * A whole replay, the CLI and the evaluation share it: read every input, merge them into one timeline,
 * play it (in-process, or against a running vigil), summarise.
 */
import type { Policy } from '../policy/policy.js';
import { playInProcess } from './play-in-process.js';
import { playAgainstTarget } from './play-target.js';
import { checkReadable } from './input-check.js';
import { mergeExchanges, readInput } from './read-input.js';
import type { ReplayRecord } from './record.js';
import { summarize } from './summary.js';
import type { ReplaySummary } from './summary.js';
import type { ReplayInput } from './types.js';

export type ReplayMode =
  | { kind: 'in-process'; policy: Policy; shadow: boolean; keySecret?: string; signals?: boolean }
  | { kind: 'target'; target: string; speed: number; messageTimeoutMs: number };

export interface ReplayOptions {
  files: readonly string[];
  mode: ReplayMode;
  maxBodyBytes?: number;
  /**
   * When set, an input too little of which could be read (input-check.ts: a log with fewer than this
   * share of its lines read, a capture with no request) is refused before anything is played.
   */
  minReadPercent?: number;
  onRecord?: (r: ReplayRecord) => void;
  /** Called once the inputs are read, with how many exchanges will be played (a progress display). */
  onPlay?: (exchanges: number) => void;
}

export interface ReplayOutcome {
  inputs: ReplayInput[];
  records: ReplayRecord[];
  summary: ReplaySummary;
}

/** Throws ReplayInputError for an unreadable input (before anything is played). */
export async function runReplay(opts: ReplayOptions): Promise<ReplayOutcome> {
  const inputs = opts.files.map((f) => readInput(f, opts.maxBodyBytes !== undefined ? { maxBodyBytes: opts.maxBodyBytes } : {}));
  if (opts.minReadPercent !== undefined) for (const input of inputs) checkReadable(input, opts.minReadPercent);
  const exchanges = mergeExchanges(inputs);
  opts.onPlay?.(exchanges.length);
  const { mode } = opts;
  const onRecord = opts.onRecord ? { onRecord: opts.onRecord } : {};
  const played =
    mode.kind === 'in-process'
      ? await playInProcess(exchanges, {
          policy: mode.policy,
          shadow: mode.shadow,
          ...(mode.keySecret ? { keySecret: mode.keySecret } : {}),
          ...(mode.signals ? { signals: true } : {}),
          ...onRecord,
        })
      : await playAgainstTarget(exchanges, { target: mode.target, speed: mode.speed, messageTimeoutMs: mode.messageTimeoutMs, ...onRecord });
  const summary = summarize({
    inputs,
    records: played.records,
    elapsedMs: played.elapsedMs,
    policy: mode.kind === 'in-process' ? { source: mode.policy.source, checksum: mode.policy.checksum } : null,
    shadow: mode.kind === 'in-process' && mode.shadow,
    mode: mode.kind,
  });
  return { inputs, records: played.records, summary };
}
