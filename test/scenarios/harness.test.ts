/**
 * The scenario harness tested on its own: the format reader (strict, errors naming file and field),
 * traffic expansion (deterministic, ordered), templating, decision classification and the checker
 * (fed fabricated decision lists: it must report what does not hold, and nothing else).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { SimResult } from '../../src/envoy-sim/index.js';
import { emptyStats } from '../../src/envoy-sim/types.js';
import { checkExpectations, formatFailures } from '../helpers/scenario/check.js';
import { classify } from '../../src/replay/wire-outcome.js';
import { expandTraffic } from '../helpers/scenario/expand.js';
import { parseCount } from '../helpers/scenario/expected-format.js';
import { loadScenario } from '../helpers/scenario/load.js';
import { render, templateProblem } from '../helpers/scenario/template.js';
import { readTraffic } from '../helpers/scenario/traffic-format.js';
import type { ObservedDecision } from '../helpers/scenario/types.js';
import { ScenarioFormatError } from '../helpers/scenario/types.js';

const tmp = mkdtempSync(join(tmpdir(), 'vigil-scenario-harness-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let seq = 0;

const POLICY = `format: 1
detectors:
  - { name: request-rate, type: rate-baseline, action: throttle }
`;
const TRAFFIC = `start: "2026-11-02T10:00:00Z"
clients:
  a: { ip: 192.0.2.1, headers: { x-api-key: "key-a" } }
  b: { ip: "2001:db8::1", port: 5555, headers: [[x-api-key, "key-{n%2}"]] }
streams:
  - client: a
    from: 0s
    every: 10s
    count: 3
    request: { method: POST, path: "/login/{n}", body: '{"user":"u{n%2}","try":{i}}' }
    response: { status: 401, body_bytes: 5 }
  - client: b
    from: 10s
    rate: 6
    count: 3
    request: { path: "/items/{n/2}" }
`;
const EXPECTED = `- client: a
  never_flagged: true
`;

/** Writes a scenario directory; `files` override the valid defaults above. */
function scenarioDir(files: Partial<Record<'policy.yaml' | 'traffic.yaml' | 'expected.yaml', string>> = {}): string {
  const dir = join(tmp, `case-${seq++}`);
  mkdirSync(dir);
  const all = { 'policy.yaml': POLICY, 'traffic.yaml': TRAFFIC, 'expected.yaml': EXPECTED, ...files };
  for (const [name, text] of Object.entries(all)) writeFileSync(join(dir, name), text);
  return dir;
}

function loadError(files: Parameters<typeof scenarioDir>[0]): string {
  try {
    loadScenario(scenarioDir(files));
  } catch (err) {
    assert.ok(err instanceof ScenarioFormatError, `a ScenarioFormatError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('the scenario loaded');
}

describe('traffic expansion', () => {
  it('merges streams by time, ties in stream order, and renders placeholders', () => {
    const s = loadScenario(scenarioDir());
    const xs = expandTraffic(s.traffic);
    const T0 = Date.parse('2026-11-02T10:00:00Z');
    assert.deepEqual(
      xs.map((x) => [x.client, x.atMs - T0, x.http.method, x.http.path]),
      [
        ['a', 0, 'POST', '/login/0'],
        ['a', 10_000, 'POST', '/login/1'],
        ['b', 10_000, 'GET', '/items/0'], // a tie: stream 0 before stream 1
        ['a', 20_000, 'POST', '/login/2'],
        ['b', 20_000, 'GET', '/items/0'],
        ['b', 30_000, 'GET', '/items/1'],
      ],
    );
    assert.equal(xs[3]!.http.body?.toString(), '{"user":"u0","try":3}', '{n%2} and the global {i}; JSON braces untouched');
    assert.deepEqual(xs[3]!.http.headers, [['x-api-key', 'key-a'], ['content-length', '21']]);
    assert.deepEqual(xs[4]!.http.headers, [['x-api-key', 'key-1']], 'client headers are templated too');
    assert.equal(xs[4]!.http.sourceAddress, '[2001:db8::1]:5555');
    assert.equal(xs[0]!.http.sourceAddress, '192.0.2.1:40000', 'default port: 40000 + the client position');
    assert.deepEqual(xs[0]!.http.upstream, { status: 401, headers: [['content-length', '5']], body: Buffer.from('xxxxx') });
    assert.deepEqual(xs[2]!.http.upstream, { status: 200, headers: [] });
  });

  it('is deterministic, ordered, with seeded jitter and daily repeats', () => {
    const dir = scenarioDir({
      'traffic.yaml': `start: "2026-11-02T10:00:00+01:00"
clients: { a: { ip: 192.0.2.1 }, b: { ip: 192.0.2.2 } }
streams:
  - { client: a, from: 90m, every: 1s, count: 200, jitter: 5s, request: { path: "/a/{n}" } }
  - { client: b, from: 0s, rate: 30, count: 100, jitter: 3s, repeat_daily: 3, request: { path: "/b/{n}" } }
`,
    });
    const t = readTraffic(join(dir, 'traffic.yaml'), 'traffic.yaml');
    const one = expandTraffic(t);
    const two = expandTraffic(readTraffic(join(dir, 'traffic.yaml'), 'traffic.yaml'));
    assert.deepEqual(one, two, 'same file, same exchanges');
    assert.equal(one.length, 200 + 300);
    for (let k = 1; k < one.length; k++) assert.ok(one[k - 1]!.atMs <= one[k]!.atMs, `ordered at ${k}`);
    assert.deepEqual(one.map((x) => x.i), one.map((_, k) => k));
    const T0 = Date.parse('2026-11-02T09:00:00Z');
    const a = one.filter((x) => x.client === 'a');
    a.forEach((x) => {
      const offset = x.atMs - T0 - 90 * 60_000 - x.n * 1000;
      assert.ok(offset >= 0 && offset < 5000, `jitter of a#${x.n} within [0, 5 s): ${offset}`);
    });
    assert.ok(new Set(a.map((x) => x.atMs - x.n * 1000)).size > 50, 'jitter varies');
    const b = one.filter((x) => x.client === 'b');
    const day3 = b.filter((x) => x.n >= 200);
    assert.equal(day3.length, 100, 'n runs on across repeated days');
    assert.ok(day3.every((x) => x.atMs - T0 >= 2 * 86_400_000 && x.atMs - T0 < 2 * 86_400_000 + 200_000 + 3000));
    assert.equal(day3[0]!.http.path, '/b/200');
    // Another seed, other times; the same seed, the same times.
    t.streams[0]!.seed = 99;
    assert.notDeepEqual(expandTraffic(t).map((x) => x.atMs), one.map((x) => x.atMs));
  });
});

describe('templates', () => {
  it('renders {n}, {i}, {n%K}, {n/K} and leaves other braces alone', () => {
    assert.equal(render('/u/{n}/{n%3}/{n/2}/{i}/{i%5}', { n: 7, i: 12 }), '/u/7/1/3/12/2');
    assert.equal(render('{"a":{"b":"{n}"}}', { n: 4, i: 0 }), '{"a":{"b":"4"}}');
    assert.equal(templateProblem('{"a":{"b":"{n}"}}'), null);
    assert.match(templateProblem('/users/{m}') ?? '', /unknown placeholder \{m\}/);
    assert.match(templateProblem('/users/{n%0}') ?? '', /unknown placeholder \{n%0\}/);
    assert.match(templateProblem('/users/{ n }') ?? '', /unknown placeholder/);
  });
});

describe('format errors name the file and the field', () => {
  const cases: Array<[string, Parameters<typeof scenarioDir>[0], RegExp]> = [
    ['unknown stream key', { 'traffic.yaml': TRAFFIC.replace('count: 3\n    request: { method', 'count: 3\n    jiter: 1s\n    request: { method') }, /case-\d+\/traffic\.yaml: streams\[0\]\.jiter: unknown field/],
    ['unknown top key', { 'traffic.yaml': TRAFFIC + 'pauses: []\n' }, /traffic\.yaml\.pauses: unknown field/],
    ['unknown request key', { 'traffic.yaml': TRAFFIC.replace('path: "/items/{n/2}"', 'path: "/items", verb: GET') }, /traffic\.yaml: streams\[1\]\.request\.verb: unknown field/],
    ['unknown client key', { 'traffic.yaml': TRAFFIC.replace('port: 5555', 'prot: 5555') }, /traffic\.yaml: clients\.b\.prot: unknown field/],
    ['bad duration', { 'traffic.yaml': TRAFFIC.replace('every: 10s', 'every: 10 sec') }, /traffic\.yaml: streams\[0\]\.every: invalid duration/],
    ['every and rate', { 'traffic.yaml': TRAFFIC.replace('every: 10s', 'every: 10s\n    rate: 5') }, /streams\[0\]: give exactly one of every/],
    ['unknown client', { 'traffic.yaml': TRAFFIC.replace('client: b', 'client: c') }, /streams\[1\]\.client: unknown client "c"/],
    ['placeholder typo', { 'traffic.yaml': TRAFFIC.replace('/login/{n}', '/login/{N}') }, /streams\[0\]\.request\.path: unknown placeholder \{N\}/],
    ['local time', { 'traffic.yaml': TRAFFIC.replace('10:00:00Z', '10:00:00') }, /traffic\.yaml\.start: must be an ISO time with a zone/],
    ['duplicate key', { 'traffic.yaml': TRAFFIC.replace('count: 3\n    request: { method', 'count: 3\n    count: 4\n    request: { method') }, /traffic\.yaml: invalid YAML: Map keys must be unique at line 10/],
    ['unknown expectation key', { 'expected.yaml': '- client: a\n  never_flaged: true\n' }, /expected\.yaml\[0\]\.never_flaged: unknown field/],
    ['unknown flag key', { 'expected.yaml': '- client: a\n  first_flagged: { at_most: 3, before: 4 }\n' }, /expected\.yaml\[0\]\.first_flagged\.before: unknown field/],
    ['unknown action', { 'expected.yaml': '- client: a\n  actions: { throtle: 3 }\n' }, /expected\.yaml\[0\]\.actions\.throtle: unknown action/],
    ['bad count', { 'expected.yaml': '- client: a\n  actions: { allow: "about 3" }\n' }, /expected\.yaml\[0\]\.actions\.allow: must be a count/],
    ['unknown expected client', { 'expected.yaml': '- client: z\n  never_flagged: true\n' }, /expected\.yaml\[0\]\.client: unknown client "z"/],
    ['detector not in policy', { 'expected.yaml': '- client: a\n  first_flagged: {}\n  detectors: [request-rat]\n' }, /expected\.yaml\[0\]\.detectors: "request-rat" is not a detector of policy\.yaml/],
    ['assertion-free item', { 'expected.yaml': '- client: a\n' }, /expected\.yaml\[0\]: asserts nothing/],
    ['bad policy', { 'policy.yaml': POLICY.replace('action: throttle', 'action: throttle, windw: 1m') }, /case-\d+\/policy\.yaml: detectors\[0\] \(request-rate\)\.windw: unknown field/],
  ];
  for (const [name, files, pattern] of cases) it(name, () => assert.match(loadError(files), pattern));

  it('a missing or stray file', () => {
    const dir = scenarioDir();
    rmSync(join(dir, 'expected.yaml'));
    writeFileSync(join(dir, 'traffic.json'), '{}');
    assert.throws(() => loadScenario(dir), (err: Error) => /expected\.yaml: missing/.test(err.message) && /traffic\.json: unknown file/.test(err.message));
  });

  it('every problem is reported, not just the first', () => {
    const message = loadError({ 'traffic.yaml': TRAFFIC.replace('every: 10s', 'every: soon').replace('port: 5555', 'port: 0') });
    assert.match(message, /streams\[0\]\.every: invalid duration/);
    assert.match(message, /clients\.b\.port: must be an integer from 1 to 65535/);
  });
});

describe('counts', () => {
  it('parses N, comparisons and ranges', () => {
    assert.deepEqual(parseCount(5), { text: '5', min: 5, max: 5 });
    assert.deepEqual(parseCount('>=5'), { text: '>=5', min: 5, max: Infinity });
    assert.deepEqual(parseCount('>5'), { text: '>5', min: 6, max: Infinity });
    assert.deepEqual(parseCount('< 5'), { text: '< 5', min: 0, max: 4 });
    assert.deepEqual(parseCount('3..7'), { text: '3..7', min: 3, max: 7 });
    for (const bad of ['7..3', '<0', 'x', -1, 1.5, null]) assert.equal(parseCount(bad), null, String(bad));
  });
});

function decisions(client: string, actions: Array<ObservedDecision['action'] | [ObservedDecision['action'], string[], ObservedDecision['shadowAction']?]>): ObservedDecision[] {
  return actions.map((a, n) => {
    const [action, detectors, shadowAction] = Array.isArray(a) ? a : [a, a === 'allow' ? [] : ['request-rate'], null];
    return { i: n, n, client, atMs: n * 1000, action, status: 200, details: undefined, detectors, shadowAction: shadowAction ?? null, shadowDetectors: shadowAction ? ['shadowed'] : [] };
  });
}

describe('the checker', () => {
  const flood = decisions('flood', ['allow', 'allow', 'allow', 'throttle', 'throttle', 'allow']);
  const calm = decisions('calm', ['allow', 'allow', ['allow', [], 'block'], 'allow']);
  const all = [...flood, ...calm];
  const E = { firstFlagged: null, neverFlagged: false, shadowFlagged: null, actions: null, detectors: [] };

  it('passes expectations that hold', () => {
    const ok = checkExpectations(
      [
        { ...E, where: 'e[0]', client: 'flood', firstFlagged: { action: 'throttle', atLeast: 3, atMost: 3 }, detectors: ['request-rate'] },
        { ...E, where: 'e[1]', client: 'flood', actions: new Map([['allow', parseCount(4)!], ['throttle', parseCount('>=2')!]]) },
        { ...E, where: 'e[2]', client: 'calm', neverFlagged: true, shadowFlagged: { action: 'block', atLeast: 2, atMost: null }, detectors: ['shadowed'] },
      ],
      all,
    );
    assert.deepEqual(ok, []);
  });

  it('reports each expectation that does not hold, with expected and got', () => {
    const failures = checkExpectations(
      [
        { ...E, where: 'e[0]', client: 'flood', firstFlagged: { action: 'throttle', atLeast: null, atMost: 2 } },
        { ...E, where: 'e[1]', client: 'flood', firstFlagged: { action: 'block', atLeast: null, atMost: null } },
        { ...E, where: 'e[2]', client: 'flood', neverFlagged: true },
        { ...E, where: 'e[3]', client: 'flood', actions: new Map([['throttle', parseCount('>=3')!]]) },
        { ...E, where: 'e[4]', client: 'calm', shadowFlagged: false },
        { ...E, where: 'e[5]', client: 'calm', firstFlagged: { action: null, atLeast: null, atMost: null } },
        { ...E, where: 'e[6]', client: 'flood', detectors: ['credential-stuffing'] },
        { ...E, where: 'e[7]', client: 'calm', shadowFlagged: { action: 'block', atLeast: 3, atMost: null } },
      ],
      all,
    );
    assert.deepEqual(
      failures.map((f) => [f.where, f.assertion, f.expected, f.got]),
      [
        ['e[0]', 'first_flagged', 'throttle at #2 or earlier', 'first flagged: #3 throttle [request-rate]'],
        ['e[1]', 'first_flagged', 'block', 'first flagged: #3 throttle [request-rate]'],
        ['e[2]', 'never_flagged', 'no request flagged (of 6)', '2 flagged, first #3 throttle [request-rate]'],
        ['e[3]', 'actions', 'throttle >=3', 'allow 4, throttle 2'],
        ['e[4]', 'shadow_flagged', 'no request shadow-flagged (of 4)', '1 shadow-flagged, first #2 block [shadowed]'],
        ['e[5]', 'first_flagged', 'any non-allow action', 'never flagged in 4 requests'],
        ['e[6]', 'detectors', 'credential-stuffing among the reasons of flagged requests', 'request-rate'],
        ['e[7]', 'shadow_flagged', 'block at #3 or later', 'first shadow-flagged: #2 block [shadowed]'],
      ],
    );
    const report = formatFailures('demo', failures, all, 0);
    assert.match(report, /^demo: 8 expectation\(s\) failed/);
    assert.match(report, /e\[0\] {2}client flood: first_flagged\n {4}expected: throttle at #2 or earlier\n {4}got: {6}first flagged: #3 throttle \[request-rate\]/);
    assert.match(report, /flood's 6 requests/);
    assert.match(report, /#0\.\.#2 +allow ×3 +\+00:00:00\.000\.\.\+00:00:02\.000/);
    assert.match(report, /#3\.\.#4 +throttle \[request-rate\] ×2/);
    assert.match(report, /#2 +allow shadow block \[shadowed\] ×1/);
    assert.equal(report.match(/flood's 6 requests/g)?.length, 1, 'a client\'s decisions are shown once');
  });
});

describe('classification of a SimResult', () => {
  const result = (over: Partial<SimResult>): SimResult => ({
    outcome: 'passed',
    client: { status: 200, headers: [], body: Buffer.alloc(0) },
    upstreamRequest: { headers: [[':path', '/x']], body: Buffer.alloc(0) },
    details: 'via_upstream',
    stats: emptyStats(),
    ...over,
  });
  const line = (o: Record<string, unknown>) => ({ msg: 'decision', ...o });

  it('allow, tag and shadow from the upstream request headers', () => {
    assert.deepEqual(classify(result({}), []), { action: 'allow', status: 200, details: 'via_upstream', detectors: [], shadowAction: null, shadowDetectors: [] });
    const tagged = result({ upstreamRequest: { headers: [['x-vigil-action', 'tag'], ['x-vigil-detectors', 'a,b'], ['x-vigil-shadow-action', 'block'], ['x-vigil-shadow-detectors', 'c']], body: Buffer.alloc(0) } });
    assert.deepEqual(classify(tagged, []), { action: 'tag', status: 200, details: 'via_upstream', detectors: ['a', 'b'], shadowAction: 'block', shadowDetectors: ['c'] });
  });

  it('throttle, challenge and block from the local reply details, reasons from the log line', () => {
    for (const [details, status, action] of [['vigil_throttle', 429, 'throttle'], ['vigil_challenge', 401, 'challenge'], ['vigil_block', 403, 'block']] as const) {
      const r = result({ outcome: 'immediate-response', details, upstreamRequest: null, client: { status, headers: [], body: Buffer.alloc(0) } });
      const got = classify(r, [line({ action, enforced: true, shadow: false, reasons: [{ detector: 'request-rate', shadow: false }, { detector: 'request-rate', shadow: false }] })]);
      assert.deepEqual(got, { action, status, details, detectors: ['request-rate'], shadowAction: null, shadowDetectors: [] });
    }
  });

  it('a shadowed decision stronger than the enforced one comes from the log line when not on the wire', () => {
    const r = result({ outcome: 'immediate-response', details: 'vigil_throttle', upstreamRequest: null, client: { status: 429, headers: [], body: Buffer.alloc(0) } });
    const got = classify(r, [line({ action: 'block', enforced: false, shadow: true, reasons: [{ detector: 'rate', shadow: false }, { detector: 'enum', shadow: true }] })]);
    assert.deepEqual(got, { action: 'throttle', status: 429, details: 'vigil_throttle', detectors: ['rate'], shadowAction: 'block', shadowDetectors: ['enum'] });
  });

  it('anything else is an error', () => {
    const r = result({ outcome: 'local-reply', details: 'ext_proc_error_gRPC_error_13', upstreamRequest: null, client: { status: 500, headers: [], body: Buffer.alloc(0) } });
    assert.equal(classify(r, []).action, 'error');
  });

  it('an exchange Envoy let through because vigil failed (fail-open) is an error, not an allow', () => {
    for (const failure of [{ streams_failed: 1 }, { message_timeouts: 1 }]) {
      const r = result({ stats: { ...emptyStats(), ...failure, failure_mode_allowed: 1 } });
      assert.notEqual(r.upstreamRequest, null, 'the request reached the upstream');
      assert.equal(classify(r, []).action, 'error', JSON.stringify(failure));
    }
  });
});
