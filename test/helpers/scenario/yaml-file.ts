/**
 * Strict YAML for scenario files: duplicate keys and bad syntax are errors naming the file; header
 * sets may be written as a map or as a list of [name, value] pairs.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Fields } from '../../../src/policy/fields.js';
import { templateProblem } from './template.js';
import type { HeaderPairs } from './types.js';
import { ScenarioFormatError } from './types.js';

/** Parses `path` (reported as `label`); a missing file or invalid YAML throws ScenarioFormatError. */
export function readYamlFile(path: string, label: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ScenarioFormatError([`${label}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  try {
    return parseYaml(text, { strict: true, uniqueKeys: true, maxAliasCount: 100 });
  } catch (err) {
    throw new ScenarioFormatError([`${label}: invalid YAML: ${(err as Error).message.split('\n')[0]}`]);
  }
}

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** A header set: `{name: value}` or `[[name, value], …]`; names lower-case, values strings or numbers. */
export function readHeaders(f: Fields, key: string): HeaderPairs {
  const raw = f.raw(key);
  if (raw === undefined || raw === null) return [];
  const where = `${f.where}.${key}`;
  const entries: Array<[unknown, unknown, string]> = [];
  if (Array.isArray(raw)) {
    raw.forEach((pair, k) => {
      if (!Array.isArray(pair) || pair.length !== 2) f.problems.push(`${where}[${k}]: must be a [name, value] pair`);
      else entries.push([pair[0], pair[1], `${where}[${k}]`]);
    });
  } else if (typeof raw === 'object') {
    for (const [name, value] of Object.entries(raw)) entries.push([name, value, `${where}.${name}`]);
  } else {
    f.problems.push(`${where}: must be a map or a list of [name, value] pairs`);
  }
  const out: HeaderPairs = [];
  for (const [name, value, at] of entries) {
    if (typeof name !== 'string' || !HEADER_NAME.test(name)) {
      f.problems.push(`${at}: header name must be a lower-case token`);
      continue;
    }
    if (typeof value !== 'string' && typeof value !== 'number') {
      f.problems.push(`${at}: header value must be a string or a number`);
      continue;
    }
    const text = String(value);
    const bad = templateProblem(text);
    if (bad) f.problems.push(`${at}: ${bad}`);
    out.push([name, text]);
  }
  return out;
}

/** An optional templated string (path, body). */
export function readTemplate(f: Fields, key: string, required: boolean): string | null {
  const raw = f.raw(key);
  if (raw === undefined || raw === null) {
    if (required) f.problems.push(`${f.where}.${key}: is required`);
    return null;
  }
  if (typeof raw !== 'string') {
    f.problems.push(`${f.where}.${key}: must be a string`);
    return null;
  }
  const bad = templateProblem(raw);
  if (bad) f.problems.push(`${f.where}.${key}: ${bad}`);
  return raw;
}
