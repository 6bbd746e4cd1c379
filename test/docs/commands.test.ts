/**
 * What the README and docs/ tell an operator to type works: every `--policy PATH` naming a file of this
 * repository loads, and the test command's prerequisites are the programs the tests need.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/paths.js';
import { loadPolicyFile } from '../../src/policy/load.js';
import { policyFileFor } from '../../src/policy/locate.js';

const DOCS = ['README.md', ...readdirSync(join(projectRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join('docs', f))];
const text = (file: string): string => readFileSync(join(projectRoot, file), 'utf8');

test('every --policy PATH in the README and docs/ that names a path of this repository loads as given', () => {
  const seen: string[] = [];
  for (const doc of DOCS) {
    for (const m of text(doc).matchAll(/--policy[ =]([^\s`'")]+)/g)) {
      const path = m[1]!;
      // Only this repository's own paths (policy/…, test/…): FILE, my-policy.yaml and the like are placeholders.
      if (!existsSync(join(projectRoot, path.split('/')[0]!)) || !path.includes('/')) continue;
      seen.push(`${doc}: ${path}`);
      assert.doesNotThrow(() => loadPolicyFile(policyFileFor(join(projectRoot, path))), `${doc}: --policy ${path}`);
    }
  }
  assert.ok(seen.some((s) => s.startsWith('README.md')) && seen.some((s) => s.startsWith('docs/replay.md')), seen.join('\n'));
});

test('the README says what `npm test` needs on PATH: redis-server, prometheus and promtool', () => {
  const readme = text('README.md');
  const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('Then play Envoy'));
  for (const tool of ['redis-server', 'prometheus', 'promtool']) assert.ok(quickStart.includes(tool), `the quick start's npm test line names ${tool}`);
  // They are the programs the tests look for (and fail without).
  assert.match(text('test/helpers/redis-server.ts'), /onPath\('redis-server'\)/);
  assert.match(text('test/deploy/monitoring.test.ts'), /requireTool\('promtool'\)/);
  assert.match(text('test/deploy/monitoring.test.ts'), /requireTool\('prometheus'\)/);
});

test('docs/deploy.md names the image\'s entrypoint and default command as the Dockerfile sets them', () => {
  const dockerfile = text('Dockerfile');
  const instruction = (name: string): string[] => {
    const m = new RegExp(`^${name} (\\[.*\\])$`, 'm').exec(dockerfile);
    assert.ok(m, `the Dockerfile has an exec-form ${name}`);
    return JSON.parse(m[1]!) as string[];
  };
  const deploy = text('docs/deploy.md').replace(/\s+/g, ' ');
  assert.ok(deploy.includes(`Its entrypoint is \`${instruction('ENTRYPOINT').join(' ')}\``), 'deploy.md names the ENTRYPOINT');
  assert.ok(deploy.includes(`its default command \`${instruction('CMD').join(' ')}\``), 'deploy.md names the CMD');
  assert.doesNotMatch(deploy, /entrypoint `vigil serve`/);
});
