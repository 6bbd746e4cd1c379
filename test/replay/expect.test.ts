import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { formatResults, parseExpectations, runChecks } from '../../src/replay/expect.js';
import type { ReplayRecord } from '../../src/replay/record.js';

const T0 = Date.UTC(2026, 0, 5, 9) * 1000;

function rec(i: number, clientIp: string, action: ReplayRecord['action'], path = '/api/items', detectors: string[] = []): ReplayRecord {
  return {
    i,
    tsUs: T0 + i * 1_000_000,
    origin: `t line ${i}`,
    clientIp,
    identity: { kind: 'ip', id: `ip:${clientIp}` },
    method: 'GET',
    path,
    template: path,
    endpoint: null,
    status: 200,
    action,
    enforced: action !== 'allow',
    detectors: action === 'allow' ? [] : detectors,
    shadowAction: null,
    shadowDetectors: [],
    reasons: [],
    unscored: null,
    failOpen: null,
    outcome: { status: 200, by: 'upstream' },
    error: action === 'error' ? 'no decision from vigil' : null,
  };
}

// A flooder throttled at its 3rd request, a shopper tagged once on /api/login, a quiet client.
const records: ReplayRecord[] = [
  rec(0, '192.0.2.50', 'allow'),
  rec(1, '192.0.2.50', 'allow'),
  rec(2, '192.0.2.10', 'allow'),
  rec(3, '192.0.2.50', 'throttle', '/api/items', ['request-rate']),
  rec(4, '192.0.2.10', 'tag', '/api/login', ['scraping']),
  rec(5, '192.0.2.11', 'allow'),
];

const doc = (checks: string) => `format: 1\nchecks:\n${checks}`;

test('reaches: within N of the client\'s own requests, by the named detector', () => {
  const checks = parseExpectations(
    doc(`  - name: flood throttled fast
    clients: [192.0.2.50]
    reaches: throttle
    within: 3
    by: [request-rate]
  - name: too strict
    clients: [192.0.2.50]
    reaches: throttle
    within: 2
  - name: wrong detector
    clients: [192.0.2.50]
    reaches: tag
    by: [scraping]
  - name: never gets there
    clients: [192.0.2.11]
    reaches: tag
`),
    'e.yaml',
  );
  const results = runChecks(checks, records);
  assert.deepEqual(
    results.map((r) => r.ok),
    [true, false, false, false],
  );
  assert.equal(results[0]!.detail, 'reached throttle: 192.0.2.50 at its request 3');
  assert.match(results[1]!.detail, /^192\.0\.2\.50 reached throttle only at its request 3, not within 2 \(GET \/api\/items from 192\.0\.2\.50 at 2026-01-05T09:00:03\.000Z/);
  assert.equal(results[2]!.detail, '192.0.2.50 never reached tag by scraping in its 3 requests (strongest: throttle)');
  assert.equal(results[3]!.detail, '192.0.2.11 never reached tag in its 1 requests (strongest: allow)');
});

test('never: on paths and on clients; identity pseudonyms select too', () => {
  const checks = parseExpectations(
    doc(`  - name: no challenge at login
    paths: [/api/login]
    never: challenge
  - name: nothing at login
    paths: ['/api/*']
    never: tag
  - name: shopper by pseudonym
    clients: ['ip:192.0.2.11']
    never: tag
`),
    'e.yaml',
  );
  const results = runChecks(checks, records);
  assert.deepEqual(
    results.map((r) => r.ok),
    [true, false, true],
  );
  assert.match(results[1]!.detail, /^2 of 6 exchanges got tag or stronger; first: throttle, GET \/api\/items from 192\.0\.2\.50/);
});

test('max_flagged and min_flagged count callers, not requests', () => {
  const results = runChecks(parseExpectations(doc('  - max_flagged: 1\n  - min_flagged: 2\n  - max_flagged: 2\n'), 'e.yaml'), records);
  assert.deepEqual(
    results.map((r) => [r.ok, r.detail]),
    [
      [false, '2 callers flagged, more than 1: ip:192.0.2.50, ip:192.0.2.10'],
      [true, '2 callers flagged'],
      [true, '2 callers flagged'],
    ],
  );
  assert.equal(results[0]!.name, 'checks[0]');
  assert.match(formatResults(results), /^FAIL checks\[0\]: 2 callers flagged.*\nok   checks\[1\].*\nexpectations: 1 of 3 failed\n$/s);
});

test('a broken expectations file lists every problem with its place', () => {
  const bad = doc(`  - name: two asserts
    clients: [192.0.2.1]
    reaches: throttle
    never: tag
  - reaches: ban
    clients: [x]
  - never: tag
    within: 3
    paths: [nope]
  - max_flagged: -1
    colour: red
`);
  assert.throws(
    () => parseExpectations(bad, 'e.yaml'),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.deepEqual(err.problems, [
        'e.yaml: checks[0] (two asserts): needs exactly one of reaches, never, max_flagged, min_flagged',
        'e.yaml: checks[1].reaches: must be one of tag, throttle, challenge, block',
        'e.yaml: checks[2].paths: "nope" must start with /',
        'e.yaml: checks[2]: within and by go with reaches',
        'e.yaml: checks[3].max_flagged: must be an integer from 0 to 1000000000000',
        'e.yaml: checks[3].colour: unknown field',
      ]);
      return true;
    },
  );
  assert.throws(() => parseExpectations('format: 1\nchecks: []\n', 'e.yaml'), /e\.yaml\.checks: must list at least one check/);
  assert.throws(() => parseExpectations(': : :\n\t- [', 'e.yaml'), /e\.yaml: not valid YAML/);
  assert.throws(() => parseExpectations('format: 2\nchecks: [{max_flagged: 1}]\n', 'e.yaml'), /e\.yaml\.format: must be an integer from 1 to 1/);
});

test('an assertion about nothing fails: a client with no requests, a path no request took, a selection that is empty', () => {
  const checks = parseExpectations(
    doc(`  - name: typo in a client
    clients: [192.0.2.11, 192.0.2.99]
    never: tag
  - name: nobody there
    clients: [198.51.100.1]
    max_flagged: 0
  - name: a path nobody took
    paths: [/api/login, '/auth/**']
    never: challenge
  - name: nobody there, paths too
    clients: ['ip:198.51.100.1']
    paths: ['/nope/**']
    min_flagged: 0
  - name: a client that never took that path
    clients: [192.0.2.11]
    paths: [/api/login]
    never: block
  - name: reaches, with a client that is not there
    clients: [192.0.2.50, 203.0.113.9]
    reaches: throttle
`),
    'e.yaml',
  );
  const results = runChecks(checks, records);
  assert.deepEqual(
    results.map((r) => [r.ok, r.detail]),
    [
      [false, 'the filter matched nothing, so the check would hold for nothing: clients 192.0.2.99 made no requests'],
      [false, 'the filter matched nothing, so the check would hold for nothing: clients 198.51.100.1 made no requests'],
      [false, 'the filter matched nothing, so the check would hold for nothing: paths /auth/** matched no request'],
      [false, 'the filter matched nothing, so the check would hold for nothing: clients ip:198.51.100.1 made no requests; paths /nope/** matched no request'],
      [false, 'the filter matched nothing, so the check would hold for nothing: its clients and paths together matched no request'],
      [false, 'the filter matched nothing, so the check would hold for nothing: clients 203.0.113.9 made no requests'],
    ],
  );
  assert.deepEqual(runChecks(parseExpectations(doc('  - max_flagged: 3\n'), 'e.yaml'), []).map((r) => [r.ok, r.detail]), [
    [false, 'the filter matched nothing, so the check would hold for nothing: the replay has no exchanges'],
  ]);
});
