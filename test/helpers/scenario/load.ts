/**
 * A scenario directory → Scenario: policy.yaml compiled by vigil's own loader, traffic.yaml and
 * expected.yaml read strictly, then checked against each other (clients that send nothing, detectors
 * the policy does not have). Every problem names the file and field; all are reported at once.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ConfigError } from '../../../src/errors.js';
import { projectRoot } from '../../../src/paths.js';
import { loadPolicyFile } from '../../../src/policy/load.js';
import type { Policy } from '../../../src/policy/policy.js';
import { readExpected } from './expected-format.js';
import { readTraffic } from './traffic-format.js';
import type { Expectation, Scenario, TrafficSpec } from './types.js';
import { ScenarioFormatError } from './types.js';

/** Scenarios live in the source tree: tsc copies no YAML into dist/. */
export const SCENARIOS_DIR = join(projectRoot, 'test', 'scenarios');
export const SCENARIO_FILES = ['policy.yaml', 'traffic.yaml', 'expected.yaml'] as const;

/** Every directory under `root`, sorted; `only` (comma-separated names, e.g. from ONLY=) narrows them. */
export function discoverScenarios(root = SCENARIOS_DIR, only?: string): string[] {
  const dirs = readdirSync(root)
    .filter((name) => statSync(join(root, name)).isDirectory())
    .sort();
  if (!only) return dirs.map((d) => join(root, d));
  const wanted = only.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = wanted.filter((w) => !dirs.includes(w));
  if (unknown.length > 0) throw new Error(`ONLY=${only}: no scenario named ${unknown.join(', ')} under ${root} (have: ${dirs.join(', ')})`);
  return wanted.map((d) => join(root, d));
}

export function loadScenario(dir: string): Scenario {
  const name = relative(SCENARIOS_DIR, dir).startsWith('..') ? dir : relative(SCENARIOS_DIR, dir);
  const label = (file: string) => `${name}/${file}`;
  const problems: string[] = [];
  const collect = <T>(read: () => T): T | null => {
    try {
      return read();
    } catch (err) {
      if (err instanceof ScenarioFormatError || err instanceof ConfigError) {
        problems.push(...(err instanceof ScenarioFormatError ? err.problems : err.problems.map((p) => `${name}/${p}`)));
        return null;
      }
      throw err;
    }
  };
  const entries = existsSync(dir) ? readdirSync(dir) : [];
  for (const file of SCENARIO_FILES) if (!entries.includes(file)) problems.push(`${label(file)}: missing`);
  for (const file of entries) {
    if (!(SCENARIO_FILES as readonly string[]).includes(file) && file !== 'README.md') problems.push(`${label(file)}: unknown file (a scenario holds ${SCENARIO_FILES.join(', ')} and optionally README.md)`);
  }
  if (problems.length > 0) throw new ScenarioFormatError(problems);

  const policy = collect(() => loadPolicyFile(join(dir, 'policy.yaml')));
  const traffic = collect(() => readTraffic(join(dir, 'traffic.yaml'), label('traffic.yaml')));
  const expected = traffic ? collect(() => readExpected(join(dir, 'expected.yaml'), label('expected.yaml'), new Set(traffic.clients.keys()))) : null;
  if (policy && traffic && expected) problems.push(...crossCheck(policy, traffic, expected));
  if (problems.length > 0 || !policy || !traffic || !expected) throw new ScenarioFormatError(problems);
  return { name, dir, policy, traffic, expected };
}

function crossCheck(policy: Policy, traffic: TrafficSpec, expected: Expectation[]): string[] {
  const problems: string[] = [];
  const sending = new Set(traffic.streams.map((s) => s.client));
  const detectors = new Set(policy.detectors.map((d) => d.config.name));
  for (const e of expected) {
    if (!sending.has(e.client)) problems.push(`${e.where}.client: "${e.client}" sends no requests in ${traffic.file}, so nothing can be asserted about it`);
    for (const d of e.detectors) {
      if (!detectors.has(d)) problems.push(`${e.where}.detectors: "${d}" is not a detector of policy.yaml (has: ${[...detectors].join(', ')})`);
    }
  }
  return problems;
}
