/**
 * Every key a detector type accepts is documented: each field its factory reads from a policy
 * (src/detectors/<type>.ts `parse`) appears in that type's section of docs/detectors.md. A key the
 * reader accepts but no page mentions is a footgun (issue 13: `per_endpoint`, `seasonal`, `rule` and
 * `ratio_k` were).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { detectorRegistry } from '../../src/detectors/registry.js';
import type { DetectorBase } from '../../src/detectors/types.js';
import { projectRoot } from '../../src/paths.js';
import { Fields } from '../../src/policy/fields.js';

/** The keys every detector has, read by the policy loader and documented in docs/policy.md. */
const COMMON = new Set(['name', 'type', 'subject', 'action', 'penalty', 'shadow', 'enforce_percent', 'endpoints']);

/** A Fields that remembers every key read. */
class Recorder extends Fields {
  readonly keys = new Set<string>();
  override has(key: string): boolean {
    this.keys.add(key);
    return super.has(key);
  }
  override raw(key: string): unknown {
    this.keys.add(key);
    return super.raw(key);
  }
}

const base: DetectorBase = { name: 'd', type: '', subject: 'identity', action: 'throttle', penaltyMs: 60_000, shadow: false, enforcePercent: 100, endpoints: null };

/** The section of docs/detectors.md headed `## \`<type>\``, up to the next `## `. */
function section(doc: string, type: string): string {
  const start = doc.indexOf(`## \`${type}\``);
  if (start === -1) return '';
  const next = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, next === -1 ? undefined : next);
}

test('every field a detector type reads is documented in its section of docs/detectors.md', () => {
  const doc = readFileSync(join(projectRoot, 'docs', 'detectors.md'), 'utf8');
  const missing: string[] = [];
  for (const [type, factory] of detectorRegistry) {
    const text = section(doc, type);
    assert.ok(text !== '', `docs/detectors.md has no section for ${type}`);
    const f = new Recorder({}, `d`, []);
    factory.parse(f, { ...base, type });
    assert.ok(f.keys.size > 0, `${type}: its parse read no field`);
    for (const key of f.keys) if (!COMMON.has(key) && !text.includes(`\`${key}\``)) missing.push(`${type}.${key}`);
  }
  assert.deepEqual(missing, [], `fields accepted but not documented: ${missing.join(', ')}`);
});
