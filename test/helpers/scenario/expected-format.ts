/**
 * expected.yaml → Expectation[]. A list of per-client assertions; strict like the other files
 * (format: test/scenarios/README.md).
 */
import type { Action } from '../../../src/decision/types.js';
import { ACTION_ORDER } from '../../../src/decision/types.js';
import { Fields } from '../../../src/policy/fields.js';
import type { CountSpec, Expectation, FlagSpec } from './types.js';
import { ScenarioFormatError } from './types.js';
import { readYamlFile } from './yaml-file.js';

const FLAG_ACTIONS = ACTION_ORDER.filter((a) => a !== 'allow');
const DETECTOR_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function readExpected(path: string, label: string, clients: ReadonlySet<string>): Expectation[] {
  const problems: string[] = [];
  const doc = readYamlFile(path, label);
  if (!Array.isArray(doc) || doc.length === 0) throw new ScenarioFormatError([`${label}: must be a non-empty list of assertions`]);
  const out = doc.map((raw, k) => readOne(new Fields(raw, `${label}[${k}]`, problems), clients));
  if (problems.length > 0) throw new ScenarioFormatError(problems);
  return out;
}

function readOne(f: Fields, clients: ReadonlySet<string>): Expectation {
  const client = f.string('client');
  if (client !== '' && !clients.has(client)) f.problems.push(`${f.where}.client: unknown client "${client}" (traffic.yaml clients: ${[...clients].join(', ')})`);
  const firstFlagged = f.has('first_flagged') ? readFlag(f, 'first_flagged') : null;
  let neverFlagged = false;
  if (f.has('never_flagged')) {
    if (f.raw('never_flagged') !== true) f.problems.push(`${f.where}.never_flagged: must be true (omit it otherwise)`);
    neverFlagged = true;
  }
  let shadowFlagged: FlagSpec | false | null = null;
  if (f.has('shadow_flagged')) shadowFlagged = f.raw('shadow_flagged') === false ? false : readFlag(f, 'shadow_flagged');
  const actions = f.has('actions') ? readActions(f) : null;
  const detectors: string[] = [];
  f.list('detectors').forEach((d, k) => {
    if (typeof d !== 'string' || !DETECTOR_NAME.test(d)) f.problems.push(`${f.where}.detectors[${k}]: must be a detector name`);
    else detectors.push(d);
  });
  if (!firstFlagged && !neverFlagged && shadowFlagged === null && !actions && detectors.length === 0) {
    f.problems.push(`${f.where}: asserts nothing (give first_flagged, never_flagged, shadow_flagged, actions or detectors)`);
  }
  if (firstFlagged && neverFlagged) f.problems.push(`${f.where}: first_flagged and never_flagged contradict each other`);
  if (neverFlagged && detectors.length > 0 && shadowFlagged === null) {
    f.problems.push(`${f.where}.detectors: a never-flagged client has no reasons to look for`);
  }
  if (shadowFlagged === false && detectors.length > 0) f.problems.push(`${f.where}.detectors: shadow_flagged: false leaves no reasons to look for`);
  f.done();
  return { where: f.where, client, firstFlagged, neverFlagged, shadowFlagged, actions, detectors };
}

function readFlag(parent: Fields, key: string): FlagSpec {
  const f = new Fields(parent.raw(key), `${parent.where}.${key}`, parent.problems);
  const action = f.has('action') ? f.oneOf('action', FLAG_ACTIONS) : null;
  const atLeast = f.has('at_least') ? f.number('at_least', undefined, 0, 1e9, true) : null;
  const atMost = f.has('at_most') ? f.number('at_most', undefined, 0, 1e9, true) : null;
  if (atLeast !== null && atMost !== null && atLeast > atMost) f.problems.push(`${f.where}: at_least ${atLeast} is above at_most ${atMost}`);
  f.done();
  return { action, atLeast, atMost };
}

function readActions(parent: Fields): Map<Action, CountSpec> {
  const f = new Fields(parent.raw('actions'), `${parent.where}.actions`, parent.problems);
  const out = new Map<Action, CountSpec>();
  for (const key of Object.keys(f.obj)) {
    const raw = f.raw(key);
    if (!(ACTION_ORDER as readonly string[]).includes(key)) {
      f.problems.push(`${f.where}.${key}: unknown action (known: ${ACTION_ORDER.join(', ')})`);
      continue;
    }
    const spec = parseCount(raw);
    if (!spec) f.problems.push(`${f.where}.${key}: must be a count: N, ">=N", "<=N", ">N", "<N" or "A..B"`);
    else out.set(key as Action, spec);
  }
  if (out.size === 0 && Object.keys(f.obj).length === 0) f.problems.push(`${f.where}: give at least one action count`);
  f.done();
  return out;
}

export function parseCount(raw: unknown): CountSpec | null {
  if (typeof raw === 'number') return Number.isInteger(raw) && raw >= 0 ? { text: String(raw), min: raw, max: raw } : null;
  if (typeof raw !== 'string') return null;
  const text = raw.trim();
  const range = /^(\d+)\s*\.\.\s*(\d+)$/.exec(text);
  if (range) {
    const [min, max] = [Number(range[1]), Number(range[2])];
    return min <= max ? { text, min, max } : null;
  }
  const cmp = /^(>=|<=|==|>|<)?\s*(\d+)$/.exec(text);
  if (!cmp) return null;
  const v = Number(cmp[2]);
  switch (cmp[1]) {
    case '>=':
      return { text, min: v, max: Infinity };
    case '>':
      return { text, min: v + 1, max: Infinity };
    case '<=':
      return { text, min: 0, max: v };
    case '<':
      return v === 0 ? null : { text, min: 0, max: v - 1 };
    default:
      return { text, min: v, max: v };
  }
}
