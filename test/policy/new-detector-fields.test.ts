import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePolicy } from '../../src/policy/load.js';
import { FormRepeatDetector } from '../../src/detectors/form-repeat.js';
import { NotFoundSurgeDetector } from '../../src/detectors/not-found-surge.js';
import { PageRateDetector } from '../../src/detectors/page-rate.js';

test('form-repeat, page-rate and not-found-surge take their documented defaults', () => {
  const p = compilePolicy(
    'format: 1\ndetectors:\n  - {name: f, type: form-repeat, action: throttle}\n  - {name: p, type: page-rate, action: throttle}\n  - {name: n, type: not-found-surge, action: throttle}\n',
    'min.yaml',
  );
  const [f, pr, n] = p.detectors;
  assert.ok(f instanceof FormRepeatDetector);
  assert.deepEqual([f.config.windowMs, f.config.maxAttempts, f.config.alikeRatio, f.config.methods], [600_000, 300, 0.9, ['POST']]);
  assert.ok(pr instanceof PageRateDetector);
  assert.deepEqual([pr.config.windowMs, pr.config.maxRequests], [600_000, 750]);
  assert.ok(n instanceof NotFoundSurgeDetector);
  assert.deepEqual(
    [n.config.windowMs, n.config.minPaths, n.config.populationZ, n.config.historyMs, n.config.minFailures, n.config.notFoundStatuses],
    [3_600_000, 50, 4, 86_400_000, 2, [404, 410]],
  );
});

test('form-repeat, page-rate and not-found-surge read every field', () => {
  const p = compilePolicy(
    `format: 1
detectors:
  - {name: f, type: form-repeat, subject: client-ip, methods: [POST, PUT], window: 5m, max_attempts: 120, alike_ratio: 0.8, action: challenge}
  - {name: p, type: page-rate, subject: ip-prefix, window: 30m, max_requests: 2000, action: tag}
  - {name: n, type: not-found-surge, subject: client-ip, window: 2h, min_paths: 80, population_z: 3, history: 7d, min_failures: 3, not_found_statuses: [404], action: block}
`,
    'all.yaml',
  );
  const [f, pr, n] = p.detectors as [FormRepeatDetector, PageRateDetector, NotFoundSurgeDetector];
  assert.deepEqual([f.config.subject, f.config.methods, f.config.windowMs, f.config.maxAttempts, f.config.alikeRatio], ['client-ip', ['POST', 'PUT'], 300_000, 120, 0.8]);
  assert.deepEqual([pr.config.subject, pr.config.windowMs, pr.config.maxRequests], ['ip-prefix', 1_800_000, 2000]);
  assert.deepEqual(
    [n.config.subject, n.config.windowMs, n.config.minPaths, n.config.populationZ, n.config.historyMs, n.config.minFailures, n.config.notFoundStatuses],
    ['client-ip', 7_200_000, 80, 3, 604_800_000, 3, [404]],
  );
});
