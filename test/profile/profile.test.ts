/**
 * `vigil profile` on synthetic sites written as real access logs (sites.ts): each role found with its
 * evidence, thresholds from the per-caller distributions, the learned policy loading, and the cost
 * diff replaying the traffic through the real in-process pipeline with both policies.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { defaultPolicyPath, projectRoot } from '../../src/paths.js';
import { loadPolicyFile } from '../../src/policy/load.js';
import { runProfile } from '../../src/profile/run-profile.js';
import type { ProfileOptions } from '../../src/profile/run-profile.js';
import { assetSite, formLoginSite, jsonApiSite } from './sites.js';

const tmp = mkdtempSync(join(tmpdir(), 'vigil-profile-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const base = loadPolicyFile(defaultPolicyPath);

const profile = (files: string[], more: Partial<ProfileOptions> = {}) =>
  runProfile({ files, base, keepEndpoints: false, minReadPercent: 50, noCost: true, ...more });

test('a form login that answers 200 on failure and 303 on success: login, failure = status 200, and why', async () => {
  const r = await profile([formLoginSite(tmp)]);
  const logins = r.endpoints.filter((e) => e.role === 'login');
  assert.equal(logins.length, 1, JSON.stringify(r.endpoints));
  const login = logins[0]!;
  assert.deepEqual(login.methods, ['POST']);
  assert.deepEqual(login.paths, ['/account/signin']);
  assert.deepEqual(login.login!.failure, { status: [200] });
  // The evidence that decided it: 200s (the form again) against 303s (success).
  assert.match(login.login!.failureEvidence, /^30 attempts were answered 200 \(the form shown again: failure\) and 30 303 \(a redirect: success\)$/);
  assert.deepEqual(login.login!.username, { kind: 'form', field: 'username', seen: false });
  assert.ok(login.evidence.some((e) => /login path/.test(e)));
  // Nothing else is a login, and the written policy says it.
  const learned = r.learned.endpoints.find((e) => e.name === login.name)!;
  assert.deepEqual(learned.login, { username: { from: 'form', field: 'username' }, failure: { kind: 'status', statuses: [200] } });
  assert.match(r.policyText, /# login: 60 requests from 30 callers\n\s+#\s+the path \/account\/signin is a login path/);
});

test('a JSON API with object ids: object_read on the id template, a JSON login failing with 401', async () => {
  const r = await profile([jsonApiSite(tmp)]);
  const reads = r.endpoints.filter((e) => e.role === 'object_read');
  assert.equal(reads.length, 1, JSON.stringify(r.endpoints));
  assert.deepEqual(reads[0]!.paths, ['/api/v1/orders/{id}']);
  assert.match(reads[0]!.evidence[0]!, /^95 distinct ids in the last id segment; per caller median 9, max 14 \(10 callers\)$/);
  const rule = r.learned.endpoints.find((e) => e.name === reads[0]!.name)!;
  assert.deepEqual(rule.objectRead, { id: { from: 'param', name: 'id' } });
  const login = r.endpoints.find((e) => e.role === 'login')!;
  assert.deepEqual(login.paths, ['/api/v1/login']);
  assert.deepEqual(login.login!.failure, { status: [401] });
  assert.equal(login.login!.username.kind, 'json');
  assert.match(login.login!.failureEvidence, /^3 of 13 attempts were answered 401$/);
});

test('an asset-heavy page: one static rule, whole folders where every read is an asset, and an export', async () => {
  const r = await profile([assetSite(tmp)]);
  const statics = r.endpoints.filter((e) => e.role === 'static');
  assert.equal(statics.length, 1);
  assert.deepEqual([...statics[0]!.paths].sort(), ['/*.ico', '/assets/**', '/img/**']);
  assert.match(statics[0]!.evidence.join('\n'), /\/assets\/app\.js: extension \.js, 40 requests from 40 callers/);
  const rule = r.learned.endpoints.find((e) => e.static)!;
  assert.deepEqual(rule.methods, ['GET', 'HEAD']);
  const exp = r.endpoints.find((e) => e.role === 'export')!;
  assert.deepEqual(exp.paths, ['/catalogue/export.csv']);
  assert.match(exp.evidence[0]!, /median 5,000,000 bytes/);
  // The page itself is no asset, no login, no object read.
  assert.equal(r.endpoints.length, 2, JSON.stringify(r.endpoints.map((e) => e.paths)));
});

test('thresholds come from each caller\'s busiest window: p50, p99, max, per identity kind, with the margin', async () => {
  const r = await profile([jsonApiSite(tmp)]);
  // Per minute, client k makes k + 4 reads and one or two logins: 6 7 9 9 10 12 12 13 15 15.
  const rate = r.thresholds.find((t) => t.detector === 'request-rate')!;
  assert.deepEqual(rate.all, { callers: 10, p50: 10, p99: 15, max: 15 });
  assert.deepEqual(rate.byKind, { ip: { callers: 10, p50: 10, p99: 15, max: 15 } });
  assert.equal(rate.window, '1m');
  assert.equal(rate.recommended, 30);
  assert.match(rate.margin, /max\(2 × p99 = 30, 1.25 × max = 19\) = 30, tighter than the policy's 120/);
  // Distinct order ids per 10 minutes: 5 … 14.
  const enumeration = r.thresholds.find((t) => t.detector === 'object-enumeration')!;
  assert.deepEqual(enumeration.all, { callers: 10, p50: 9, p99: 14, max: 14 });
  assert.equal(enumeration.recommended, 28);
  // The learned values are in the policy, commented with the figures.
  const det = r.learned.detectors.find((d) => d.config.name === 'request-rate')!;
  assert.equal((det.config as unknown as { minCount: number }).minCount, 30);
  assert.match(r.policyText, /min_count: 30 # learned: requests per 1m per caller: p50 10, p99 15, max 15 \(10 callers\)/);
  // Three clients failed one login each: the floor decides.
  const brute = r.thresholds.find((t) => t.detector === 'brute-force-per-caller')!;
  assert.deepEqual(brute.all, { callers: 3, p50: 1, p99: 1, max: 1 });
  assert.equal(brute.recommended, 5);
  assert.match(brute.margin, /floor 5\) = 5/);
  // A threshold the traffic says nothing about is kept.
  const none = (await profile([assetSite(tmp)])).thresholds.find((t) => t.detector === 'brute-force-per-caller')!;
  assert.equal(none.recommended, none.current);
  assert.match(none.margin, /^no failed logins in the input: kept at 50$/);
});

test('a threshold is never looser than the base policy\'s, and callers above it are counted', async () => {
  const r = await profile([formLoginSite(tmp, true)]);
  const brute = r.thresholds.find((t) => t.detector === 'brute-force-per-caller')!;
  // 20 users failed once or twice, the attacker 60 times: 2 × p99 = 120, but the default is 50.
  assert.deepEqual(brute.all, { callers: 21, p50: 2, p99: 60, max: 60 });
  assert.equal(brute.recommended, 50);
  assert.equal(brute.above, 1);
});

test('the cost diff: the learned policy, which knows the login, stops the guesser the default policy lets through', async () => {
  const r = await profile([formLoginSite(tmp, true)], { noCost: false });
  const c = r.cost!;
  assert.equal(c.callers, 31);
  assert.deepEqual(c.base, { flagged: 0, acted: 0, errors: 0 });
  assert.deepEqual(c.learned, { flagged: 1, acted: 1, errors: 0 });
  assert.equal(c.diff.length, 1);
  const d = c.diff[0]!;
  assert.equal(d.change, 'new');
  assert.equal(d.clientIp, '203.0.113.66');
  assert.equal(d.base.action, 'allow');
  assert.equal(d.learned.action, 'throttle');
  assert.deepEqual(d.learned.detectors, ['brute-force-per-caller']);
  // Over the budget of 50 failures once 51 guesses have failed: the 52nd is the first refused.
  assert.equal(d.learned.firstFlagged, 52);
});

test('several inputs are learned from as one timeline', async () => {
  const r = await profile([formLoginSite(tmp), assetSite(tmp)]);
  assert.deepEqual(r.endpoints.map((e) => e.role).sort(), ['export', 'login', 'static']);
  assert.equal(r.inputs.length, 2);
});

test('a capture: the login is found by the password field of its JSON bodies, the username field read from them', async () => {
  const r = await profile([join(projectRoot, 'test', 'replay', 'fixtures', 'recorded', 'loopback-shop.pcap')]);
  const login = r.endpoints.find((e) => e.role === 'login')!;
  assert.deepEqual(login.paths, ['/api/login']);
  assert.equal(login.evidence[0], '131 of 131 POSTs carry a password field (JSON body)');
  assert.deepEqual(login.login!.username, { kind: 'json', field: 'username', seen: true });
  assert.deepEqual(login.login!.failure, { status: [401] });
  // Captures carry Cache-Control: the evidence says how much of an asset was cacheable.
  assert.match(r.endpoints.find((e) => e.role === 'static')!.evidence.join('\n'), /\/static\/app\.js: extension \.js, 100 % cacheable/);
  // Callers by identity kind, as the policy's identity order resolves them.
  const rate = r.thresholds.find((t) => t.detector === 'request-rate')!;
  assert.deepEqual(Object.keys(rate.byKind).sort(), ['ip', 'jwt', 'session']);
});
