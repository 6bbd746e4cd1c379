import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateDetectors } from '../../src/detectors/engine.js';
import { answerClass } from '../../src/detectors/form-repeat.js';
import { MemoryStore } from '../../src/state/memory-store.js';
import type { StateStore } from '../../src/state/store.js';
import type { Policy } from '../../src/policy/policy.js';
import { HeaderList } from '../../src/request/headers.js';
import { play as playBare, policyFrom, type ExchangeInit } from '../helpers/exchange.js';

/** play() with the answer's content-length set (the helper's responses have none). */
async function play(p: Policy, store: StateStore, init: ExchangeInit, nowMs: number, status: number, headers: Array<[string, string]>) {
  const r = await playBare(p, store, init, nowMs);
  if (r.decision.action !== 'allow' && r.decision.action !== 'tag') return { ...r, response: null };
  r.x.response = { status, contentLength: Number(headers[0]![1]), headers: new HeaderList([[':status', String(status)], ...headers]) };
  const response = await evaluateDetectors(p.detectors, r.x, ['response'], store, nowMs, { readIdentity: false, escalation: p.escalation });
  return { ...r, response };
}

/** A day boundary, so every 10-minute window starts here. */
const T0 = 19_675 * 86_400_000;

const policy = () =>
  policyFrom(`format: 1
endpoints:
  - name: login
    match: {methods: [POST], path: /login}
    login: {username: {header: x-user}, failure: {status: [401]}}
detectors:
  - {name: forms, type: form-repeat, window: 10m, max_attempts: 20, alike_ratio: 0.9, action: throttle, penalty: 5m}
`);
const size = (n: number): Array<[string, string]> => [['content-length', String(n)]];

test('answer classes: same status and size within a factor 2^(1/4) are alike', () => {
  assert.equal(answerClass(200, 4100), answerClass(200, 4300));
  assert.notEqual(answerClass(200, 4100), answerClass(200, 6000));
  assert.notEqual(answerClass(200, 4100), answerClass(401, 4100));
  assert.equal(answerClass(200, 0), '200:0');
  assert.equal(answerClass(204, null), '204:c');
  // ⌊4·log2(4101)⌋ = 48
  assert.equal(answerClass(200, 4100), '200:48');
});

test('the 20th alike answer sets the penalty; the next request is throttled', async () => {
  const p = policy();
  const store = new MemoryStore();
  for (let k = 0; k < 19; k++) {
    const r = await play(p, store, { method: 'POST', path: '/account/signin' }, T0 + k * 1000, 200, size(4100));
    assert.equal(r.decision.action, 'allow');
    assert.deepEqual(r.response!.signals.map((s) => [s.signal, s.fired]), [['alike-answers', false]], `answer ${k}`);
  }
  const r = await play(p, store, { method: 'POST', path: '/account/signin' }, T0 + 19_000, 200, size(4100));
  const s = r.response!.signals[0]!;
  assert.deepEqual([s.value, s.baseline, s.threshold, s.score, s.fired], [20, 20, 0.9, 1, true]);
  assert.deepEqual(r.response!.newPenalties.map((n) => n.detector), ['forms']);
  const next = await play(p, store, { method: 'POST', path: '/account/signin' }, T0 + 20_000, 200, size(4100));
  assert.equal(next.decision.action, 'throttle');
});

test('varied answers, other methods and declared logins never fire', async () => {
  const p = policy();
  const store = new MemoryStore();
  for (let k = 0; k < 60; k++) {
    // A search form: three answer sizes in turn, a third each.
    const r = await play(p, store, { method: 'POST', path: '/search', ip: '192.0.2.7' }, T0 + k * 1000, 200, size([900, 6000, 30000][k % 3]!));
    assert.equal(r.decision.action, 'allow');
    assert.ok(r.response!.signals.every((s) => !s.fired));
    // GETs of one page are not form posts.
    const g = await play(p, store, { path: '/account/signin', ip: '192.0.2.8' }, T0 + k * 1000, 200, size(4100));
    assert.equal(g.response!.signals.length, 0);
    // A declared login is the login detectors' business.
    const l = await play(p, store, { method: 'POST', path: '/login', ip: '192.0.2.9', username: 'bob' }, T0 + k * 1000, 401, size(50));
    assert.equal(l.response!.signals.length, 0);
  }
});
