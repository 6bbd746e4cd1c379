import type { Fields } from '../policy/fields.js';
import type { Exchange, Phase } from '../request/exchange.js';
import type { OpResult } from '../state/store.js';
import { appliesTo } from './applies.js';
import { distinctSignal, subjectFor } from './signal.js';
import { subjectOf } from './subject.js';
import type { Detector, DetectorBase, DetectorFactory, Plan, Signal } from './types.js';

/**
 * One caller, many browsers: the distinct browser user agents a subject presents per window. A person
 * runs one browser (two or three across devices), a household or a small office a few; a bot that
 * rotates user agents so its requests look like many visitors presents dozens. Only user agents that
 * claim to be a browser count (every major browser's starts with `Mozilla/`, old Opera's with
 * `Opera/`): the apps of one desktop (an updater, a player, a downloader) each send their own, and
 * that is not a rotation. Maths: docs/detectors.md.
 */
const BROWSER = /^(?:Mozilla|Opera)\//;
export interface AgentRotationConfig extends DetectorBase {
  type: 'agent-rotation';
  windowMs: number;
  maxAgents: number;
}

export class AgentRotationDetector implements Detector {
  /** The state's name, fixed per detector (built once, not per request). */
  private readonly agentsName: string;

  constructor(readonly config: AgentRotationConfig) {
    this.agentsName = `${config.name}:agents`;
  }

  plan(x: Exchange, phase: Phase): Plan | null {
    const c = this.config;
    if (phase !== 'request' || !appliesTo(c, x) || !BROWSER.test(x.facts.userAgent)) return null;
    const subject = subjectOf(c.subject, x);
    if (subject === null) return null;
    return {
      subject,
      ops: [{ kind: 'distinct', name: this.agentsName, member: x.facts.userAgent, windowMs: c.windowMs }],
      rules: [{ op: 0, above: c.maxAgents / x.endpoint.sensitivity }],
    };
  }

  /** Null when the set did not grow (the store did not read the estimate). */
  evaluate(results: OpResult[][], x: Exchange): Signal | null {
    const c = this.config;
    return distinctSignal(c, 'distinct-agents', results[0]?.[0], c.maxAgents / x.endpoint.sensitivity, c.windowMs);
  }
}

export const agentRotationFactory: DetectorFactory<AgentRotationConfig> = {
  type: 'agent-rotation',
  summary: 'distinct browser user agents per subject and window: one caller posing as many visitors',
  parse(f: Fields, base: DetectorBase): AgentRotationConfig {
    return {
      ...base,
      type: 'agent-rotation',
      subject: subjectFor(f, base, ['identity', 'client-ip', 'ip-prefix'], 'identity'),
      windowMs: f.duration('window', 10 * 60_000, 10_000, 86_400_000),
      maxAgents: f.number('max_agents', 12, 1, 1_000_000, true),
    };
  },
  create: (config) => new AgentRotationDetector(config),
};
