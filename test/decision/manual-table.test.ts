/**
 * The manual rules' in-process table (src/decision/manual-table.ts) and target parsing
 * (manual-target.ts): CIDR matching for IPv4 and IPv6, the most specific rule winning, expiry, and
 * agreement with a plain scan over every rule (cidrContains) on many random addresses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTarget } from '../../src/decision/manual-target.js';
import { ManualTable } from '../../src/decision/manual-table.js';
import { cidrContains, parseCidr } from '../../src/request/cidr.js';
import type { ManualAction, ManualRule } from '../../src/state/manual-rules.js';

const NOW = 1_800_000_000_000;
const ID = `api-key:${'ab'.repeat(16)}`;

function rule(text: string, action: ManualAction = 'block', untilMs = NOW + 60_000): ManualRule {
  const t = parseTarget(text);
  assert.ok(t, `target ${text}`);
  return { ...t, action, untilMs, sinceMs: NOW, reason: '', by: 'test' };
}

const hit = (table: ManualTable, ip: string, id = 'ip:none', nowMs = NOW) => table.match(id, ip, nowMs)?.target ?? null;

test('targets: addresses, ranges (canonical, host bits masked) and identity pseudonyms; nothing else', () => {
  assert.deepEqual(parseTarget('203.0.113.7'), { target: '203.0.113.7', kind: 'ip' });
  assert.deepEqual(parseTarget('203.0.113.7/32'), { target: '203.0.113.7', kind: 'ip' });
  assert.deepEqual(parseTarget('10.1.2.3/8'), { target: '10.0.0.0/8', kind: 'cidr' });
  assert.deepEqual(parseTarget('2001:0DB8:0:0::1'), { target: '2001:db8::1', kind: 'ip' });
  assert.deepEqual(parseTarget('2001:db8:ffff::/32'), { target: '2001:db8::/32', kind: 'cidr' });
  assert.deepEqual(parseTarget('::/0'), { target: '::/0', kind: 'cidr' });
  assert.deepEqual(parseTarget(ID), { target: ID, kind: 'identity' });
  for (const bad of ['', 'localhost', '10.0.0.0/33', '2001:db8::/129', '1.2.3', 'api-key:secret-raw-key', `jwt:${'a'.repeat(31)}`, '*', 'cip:1.2.3.4', 'x'.repeat(200)]) {
    assert.equal(parseTarget(bad), null, bad);
  }
});

test('IPv4: an address, ranges of several lengths, the longest prefix winning', () => {
  const table = new ManualTable([rule('10.0.0.0/8'), rule('10.1.0.0/16', 'allow'), rule('10.1.2.3'), rule('0.0.0.0/0', 'allow')]);
  assert.equal(hit(table, '10.1.2.3'), '10.1.2.3');
  assert.equal(hit(table, '10.1.2.4'), '10.1.0.0/16');
  assert.equal(table.match('x', '10.1.9.9', NOW)?.action, 'allow');
  assert.equal(hit(table, '10.200.0.1'), '10.0.0.0/8');
  assert.equal(hit(table, '11.0.0.1'), '0.0.0.0/0');
  // IPv4 rules never match IPv6 addresses, nor an address vigil could not read.
  assert.equal(hit(table, '2001:db8::1'), null);
  assert.equal(hit(table, 'unknown'), null);
});

test('IPv6: ranges across word boundaries (/32, /48, /64, /112, /128)', () => {
  const table = new ManualTable([rule('2001:db8::/32'), rule('2001:db8:1::/48', 'allow'), rule('2001:db8:1:2::/64'), rule('2001:db8:1:2::a:0/112', 'allow'), rule('2001:db8:1:2::a:5')]);
  assert.equal(hit(table, '2001:db8:1:2::a:5'), '2001:db8:1:2::a:5');
  assert.equal(hit(table, '2001:db8:1:2::a:6'), '2001:db8:1:2::a:0/112');
  assert.equal(hit(table, '2001:db8:1:2::b:6'), '2001:db8:1:2::/64');
  assert.equal(hit(table, '2001:db8:1:3::1'), '2001:db8:1::/48');
  assert.equal(hit(table, '2001:db8:9::1'), '2001:db8::/32');
  assert.equal(hit(table, '2001:db9::1'), null);
  assert.equal(hit(table, '10.0.0.1'), null);
});

test('an identity rule beats any IP rule; an empty table matches nothing', () => {
  const table = new ManualTable([rule('203.0.113.0/24'), rule(ID, 'allow')]);
  assert.equal(table.match(ID, '203.0.113.9', NOW)?.action, 'allow');
  assert.equal(table.match('api-key:other', '203.0.113.9', NOW)?.action, 'block');
  assert.equal(ManualTable.EMPTY.match(ID, '203.0.113.9', NOW), null);
});

test('a rule matches until its untilMs, then a shorter prefix underneath it takes over', () => {
  const table = new ManualTable([rule('198.51.100.7', 'allow', NOW + 1000), rule('198.51.100.0/24', 'block', NOW + 5000)]);
  assert.equal(table.match('x', '198.51.100.7', NOW + 999)?.action, 'allow');
  assert.equal(table.match('x', '198.51.100.7', NOW + 1000)?.action, 'block');
  assert.equal(table.match('x', '198.51.100.7', NOW + 5000), null);
});

test('the table agrees with a scan over every rule (longest matching prefix) on random addresses', () => {
  // A seeded generator (xorshift32): the same addresses every run.
  let seed = 0x2545f491;
  const next = () => ((seed ^= seed << 13), (seed ^= seed >>> 17), (seed ^= seed << 5), seed >>> 0);
  const v4 = () => [next() >>> 24, 10, next() & 3, next() & 255].join('.');
  const v6 = () => `2001:db8:${(next() & 3).toString(16)}:${(next() & 1).toString(16)}::${(next() & 0xff).toString(16)}`;
  const rules: ManualRule[] = [];
  for (let i = 0; i < 60; i++) {
    const four = i % 2 === 0;
    const bits = four ? [8, 16, 20, 24, 30, 32][next() % 6]! : [32, 48, 56, 64, 120, 128][next() % 6]!;
    const t = parseTarget(`${four ? v4() : v6()}/${bits}`)!;
    if (rules.some((r) => r.target === t.target)) continue;
    rules.push({ ...t, action: next() % 2 ? 'block' : 'allow', untilMs: NOW + 1, sinceMs: NOW, reason: '', by: 't' });
  }
  const table = new ManualTable(rules);
  const bitsOf = (r: ManualRule) => parseCidr(r.target)!.bits;
  for (let i = 0; i < 2000; i++) {
    const ip = i % 2 === 0 ? v4() : v6();
    const best = rules.filter((r) => cidrContains(parseCidr(r.target)!, ip)).sort((a, b) => bitsOf(b) - bitsOf(a))[0] ?? null;
    assert.equal(table.match('x', ip, NOW)?.target ?? null, best?.target ?? null, ip);
  }
});
