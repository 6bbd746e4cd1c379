import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { defaultPolicyPath, projectRoot } from '../../src/paths.js';
import { compilePolicy, loadPolicyFile } from '../../src/policy/load.js';
import { RateBaselineDetector } from '../../src/detectors/rate-baseline.js';

const badDir = join(projectRoot, 'test', 'policy', 'bad');

test('the shipped default policy is valid and documented values hold', () => {
  const p = loadPolicyFile(defaultPolicyPath);
  assert.equal(p.format, 1);
  assert.match(p.checksum, /^[0-9a-f]{16}$/);
  assert.deepEqual(p.identity.order, ['jwt', 'api-key', 'session', 'ip']);
  // One detector of every type, each with its documented action.
  assert.deepEqual(
    p.detectors.map((x) => `${x.config.name}:${x.config.type}:${x.config.subject}:${x.config.action}${x.config.shadow ? ':shadow' : ''}`),
    [
      'request-rate:rate-baseline:identity:throttle',
      'object-enumeration:enumeration:identity:throttle',
      'stuffing-per-ip:credential-stuffing:client-ip:throttle',
      'stuffing-per-prefix:credential-stuffing:ip-prefix:throttle:shadow',
      'brute-force-per-account:slow-brute-force:username:challenge',
      'brute-force-per-caller:slow-brute-force:identity:throttle',
      'token-fan-out:identity-fan-out:identity:tag',
      'scraping:scraping:identity:tag',
      'agent-rotation:agent-rotation:identity:tag',
      'exfiltration:exfiltration:identity:tag',
      'form-repeat:form-repeat:identity:throttle',
      'page-rate:page-rate:identity:throttle',
      'not-found-surge:not-found-surge:identity:throttle',
      'login-surge:endpoint-surge:endpoint:challenge:shadow',
    ],
  );
  assert.deepEqual(p.endpoints.map((e) => e.name), ['login', 'static', 'api-read']);
  assert.equal(p.detectors.find((x) => x.config.name === 'login-surge')!.config.endpoints?.join(), 'login');
  const d = p.detectors[0] as RateBaselineDetector;
  assert.ok(d instanceof RateBaselineDetector);
  assert.equal(d.config.thresholdZ, 3);
  assert.equal(d.config.bucketMs, 60_000);
  assert.equal(d.config.action, 'throttle');
  // half-life 30 buckets: (1-α)^30 = 1/2
  assert.ok(Math.abs(Math.pow(1 - d.alpha, 30) - 0.5) < 1e-12);
});

test('a minimal policy takes every default', () => {
  const p = compilePolicy('format: 1\ndetectors:\n  - {name: r, type: rate-baseline, action: challenge}\n', 'min.yaml');
  const d = p.detectors[0] as RateBaselineDetector;
  assert.equal(d.config.minCount, 120);
  assert.equal(d.config.penaltyMs, 300_000);
  assert.equal(d.config.subject, 'identity');
  assert.equal(p.responses.challenge.acrValues, '');
});

test('each bad policy fails with its exact message', () => {
  const expected = JSON.parse(readFileSync(join(badDir, 'expected.json'), 'utf8')) as Record<string, string>;
  const files = readdirSync(badDir).filter((f) => f.endsWith('.yaml'));
  assert.deepEqual(files.sort(), Object.keys(expected).sort(), 'every fixture has an expected message');
  for (const file of files) {
    try {
      loadPolicyFile(join(badDir, file));
      assert.fail(`${file} was accepted`);
    } catch (err) {
      assert.ok(err instanceof ConfigError, `${file}: ${String(err)}`);
      assert.equal(err.problems.length, 1, `${file}: ${err.problems.join(' | ')}`);
      const want = expected[file]!;
      if (want.endsWith(':')) assert.ok(err.problems[0]!.startsWith(want), `${file}: ${err.problems[0]}`);
      else assert.equal(err.problems[0], want);
    }
  }
});

test('a missing file is a clear ConfigError', () => {
  assert.throws(() => loadPolicyFile('/nonexistent/policy.yaml'), /cannot read policy \(ENOENT\)/);
});
