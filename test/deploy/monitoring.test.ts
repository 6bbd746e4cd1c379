/**
 * The monitoring bundle (k8s/monitoring, docs/metrics.md) against the real thing:
 *
 * - the PrometheusRule carries exactly the groups of rules.yaml, and promtool accepts both;
 * - the dashboard is a Grafana model whose every query is scoped by the template variables, whose
 *   every panel has a description, and whose layout does not overlap; the kustomization generates it;
 * - a real Prometheus scrapes a real vigil (envoy-sim driving throttles, tags, a shadowed block, a
 *   challenge and its step-up, a lifted penalty and a rejected policy reload), loads rules.yaml and
 *   evaluates every rule without error; every dashboard and alert expression returns `success`, the
 *   main panels return the series the traffic made, and every vigil_* metric an expression names is
 *   one vigil exports;
 * - docs/metrics.md documents every metric vigil exports, and every alert's runbook anchor exists.
 *
 * Needs Debian's `prometheus` package (promtool and prometheus on PATH): missing, the test fails.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { ManualClock } from '../../src/clock.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import type { SimResult } from '../../src/envoy-sim/index.js';
import type { Vigil } from '../../src/main.js';
import { startVigil } from '../../src/main.js';
import { createLogger } from '../../src/obs/logger.js';
import { projectRoot } from '../../src/paths.js';
import { parseSettings } from '../../src/settings.js';
import { LogCapture } from '../helpers/vigil.js';
import { freePort } from '../helpers/free-port.js';
import { predictableRate, STEP_UP } from '../helpers/policy-files.js';

const DIR = join(projectRoot, 'k8s', 'monitoring');
const RULES_FILE = join(DIR, 'rules.yaml');
const DOCS = readFileSync(join(projectRoot, 'docs', 'metrics.md'), 'utf8');
const rulesDoc = parse(readFileSync(RULES_FILE, 'utf8')) as { groups: RuleGroup[] };
const promRule = parse(readFileSync(join(DIR, 'prometheus-rule.yaml'), 'utf8')) as Json;
const dashboardText = readFileSync(join(DIR, 'dashboard.json'), 'utf8');
const dashboard = JSON.parse(dashboardText) as Json;
const kustomization = parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as Json;

type Json = any;
interface Rule {
  alert: string;
  expr: string;
  for: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
interface RuleGroup {
  name: string;
  rules: Rule[];
}

const INSTALL = "install Debian's prometheus package (apt-get install prometheus): it provides promtool and prometheus, which this test needs and never skips";
const SCOPE = ['namespace=~"$namespace"', 'pod=~"$pod"'];

function onPath(cmd: string): boolean {
  return (process.env['PATH'] ?? '').split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function requireTool(cmd: string): void {
  assert.ok(onPath(cmd), `${cmd} not found on PATH: ${INSTALL}`);
}

function promtoolCheck(file: string): void {
  requireTool('promtool');
  const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `promtool check rules ${file} failed:\n${r.stdout}\n${r.stderr}`);
}

/** Every panel, rows' collapsed children included. */
function allPanels(): Json[] {
  const out: Json[] = [];
  for (const p of dashboard.panels as Json[]) {
    out.push(p);
    for (const child of (p.panels ?? []) as Json[]) out.push(child);
  }
  return out;
}

/** Every PromQL expression of the dashboard: panel targets and annotation queries, with where they are. */
function dashboardExprs(): Array<{ where: string; expr: string; instant: boolean }> {
  const out: Array<{ where: string; expr: string; instant: boolean }> = [];
  for (const p of allPanels()) {
    for (const t of (p.targets ?? []) as Json[]) out.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr, instant: t.instant === true });
  }
  for (const a of dashboard.annotations.list as Json[]) if (a.expr) out.push({ where: `annotation "${a.name}"`, expr: a.expr, instant: false });
  return out;
}

const alertRules = (): Rule[] => rulesDoc.groups.flatMap((g) => g.rules);

/** A Grafana expression as Prometheus sees it once Grafana has filled in the variables. */
function substitute(expr: string): string {
  const out = expr
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__interval', '1m')
    .replaceAll('$__range', '1m')
    .replace(/\$(job|namespace|pod|envoy_job)\b/g, '.*');
  assert.ok(!out.includes('$'), `an unknown variable is left in ${out}`);
  return out;
}

/** vigil metric names an expression mentions (label values and strings excluded). */
function metricNames(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  return [...new Set(code.match(/\bvigil_[a-z0-9_]+/g) ?? [])];
}

/** GitHub's heading anchors: lower-case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6}\s+(.+)$/gm)) {
    out.add(m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-'));
  }
  return out;
}

describe('monitoring bundle: files', () => {
  test("prometheus-rule.yaml's spec.groups are rules.yaml's groups, and promtool accepts both", () => {
    assert.equal(promRule.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(promRule.kind, 'PrometheusRule');
    assert.equal(promRule.metadata.name, 'vigil');
    assert.ok(Object.keys(promRule.metadata.labels ?? {}).length > 0, 'labels for an operator ruleSelector');
    assert.deepEqual(promRule.spec.groups, rulesDoc.groups);
    assert.deepEqual(rulesDoc.groups.map((g) => g.name), ['vigil']);

    promtoolCheck(RULES_FILE);
    const tmp = mkdtempSync(join(tmpdir(), 'vigil-rules-'));
    try {
      const file = join(tmp, 'prometheus-rule-groups.yaml');
      writeFileSync(file, stringify({ groups: promRule.spec.groups }));
      promtoolCheck(file);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('every alert has for, a severity, a summary, a description and a runbook anchor that docs/metrics.md has', () => {
    const docAnchors = anchors(DOCS);
    const names = new Set<string>();
    for (const r of alertRules()) {
      assert.ok(!names.has(r.alert), `${r.alert} twice`);
      names.add(r.alert);
      assert.match(r.for, /^\d+[smh]$/, `${r.alert}: for`);
      assert.ok(['info', 'warning', 'critical'].includes(r.labels.severity!), `${r.alert}: severity`);
      assert.ok(r.annotations.summary && r.annotations.description, `${r.alert}: summary and description`);
      const m = /^docs\/metrics\.md#([a-z0-9_-]+)$/.exec(r.annotations.runbook_url ?? '');
      assert.ok(m, `${r.alert}: runbook_url must point to a docs/metrics.md anchor`);
      assert.ok(docAnchors.has(m[1]!), `${r.alert}: docs/metrics.md has no heading for #${m[1]}`);
    }
    // The alerts the bundle promises (docs/metrics.md "Alerts").
    for (const a of ['VigilFailOpenRising', 'VigilStoreBreakerOpen', 'VigilStoreErrors', 'VigilDecisionLatencyHigh', 'VigilMitigationSpike', 'VigilPolicyReloadRejected', 'VigilNoTraffic']) {
      assert.ok(names.has(a), `missing alert ${a}`);
    }
  });

  test('dashboard: Grafana model, datasource and scope variables, every query scoped, every panel described, no overlap', () => {
    assert.ok(dashboard.schemaVersion >= 36, 'schemaVersion ≥ 36');
    assert.equal(dashboard.uid, 'vigil');
    // kubectl apply keeps the whole object in an annotation of at most 256 KiB.
    assert.ok(Buffer.byteLength(dashboardText) < 200 * 1024, 'the ConfigMap stays applyable');

    const vars = new Map<string, Json>((dashboard.templating.list as Json[]).map((v) => [v.name, v]));
    const ds = vars.get('datasource');
    assert.equal(ds?.type, 'datasource');
    assert.equal(ds?.query, 'prometheus');
    for (const name of ['job', 'namespace', 'pod']) {
      const v = vars.get(name);
      assert.equal(v?.type, 'query', name);
      assert.deepEqual(v.datasource, { type: 'prometheus', uid: '${datasource}' }, name);
      assert.match(v.definition, /^label_values\(/, name);
      assert.equal(v.query.query, v.definition, name);
      assert.equal(v.includeAll, true, name);
      assert.equal(v.allValue, '.*', name);
    }

    const ids = new Set<number>();
    const cells = new Map<string, string>();
    for (const p of allPanels()) {
      assert.ok(!ids.has(p.id), `panel id ${p.id} twice`);
      ids.add(p.id);
      const { x, y, w, h } = p.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24 && h > 0, `"${p.title}": gridPos within 24 columns`);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          const other = cells.get(`${i},${j}`);
          assert.equal(other, undefined, `"${p.title}" overlaps "${other}"`);
          cells.set(`${i},${j}`, p.title);
        }
      }
      if (p.type === 'row') continue;
      assert.ok(typeof p.description === 'string' && p.description.length > 40, `"${p.title}" needs a description`);
      assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `"${p.title}": datasource`);
      assert.ok((p.targets ?? []).length > 0, `"${p.title}": no query`);
      for (const t of p.targets as Json[]) assert.deepEqual(t.datasource, { type: 'prometheus', uid: '${datasource}' }, `"${p.title}" ${t.refId}: datasource`);
    }

    // Every selector of every query carries the scope: {job=~"$job",namespace=~"$namespace",pod=~"$pod"}
    // (Envoy's series, scraped by their own job, take $envoy_job instead of $job).
    for (const { where, expr } of dashboardExprs()) {
      const selectors = [...expr.matchAll(/\b(vigil_[a-z0-9_]+)\s*(\{[^}]*\})?|(\{__name__=~"envoy_[^}]*\})/g)];
      assert.ok(selectors.length > 0, `${where}: selects nothing of vigil's or Envoy's`);
      for (const s of selectors) {
        const braces = s[2] ?? s[3];
        assert.ok(braces, `${where}: ${s[1]} has no label matchers`);
        const job = s[3] ? 'job=~"$envoy_job"' : 'job=~"$job"';
        for (const m of [job, ...SCOPE]) assert.ok(braces.includes(m), `${where}: ${braces} lacks ${m}`);
      }
    }

    // The panels the bundle promises (docs/metrics.md "Dashboard").
    const text = allPanels()
      .flatMap((p) => (p.targets ?? []).map((t: Json) => t.expr as string))
      .join('\n');
    assert.match(text, /sum by \(action, detector\) \(rate\(vigil_decisions_total/);
    assert.match(text, /shadow="false"/);
    assert.match(text, /shadow="true"/);
    assert.match(text, /topk\(\d+, sum by \(detector, action/);
    for (const q of ['0.5', '0.99', '0.999']) assert.ok(text.includes(`histogram_quantile(${q}, sum by (le) (rate(vigil_decision_duration_seconds_bucket`), `p${q}`);
    for (const m of ['vigil_store_duration_seconds_bucket', 'vigil_store_errors_total', 'vigil_store_breaker_state', 'vigil_fail_open_total', 'vigil_policy_reloads_total', 'vigil_policy_info', 'vigil_stream_errors_total', 'vigil_step_ups_total', 'vigil_penalties_set_total', 'vigil_penalties_lifted_total', 'vigil_process_process_resident_memory_bytes', 'vigil_process_nodejs_heap_size_used_bytes']) {
      assert.ok(text.includes(m), `no panel graphs ${m}`);
    }
    const memory = allPanels().find((p) => (p.targets ?? []).some((t: Json) => t.expr.includes('resident_memory_bytes')));
    assert.match(memory.description, /embedded store/);
  });

  test('kustomization: the dashboard ConfigMap for Grafana’s sidecar and the PrometheusRule', () => {
    assert.equal(kustomization.kind, 'Kustomization');
    assert.deepEqual(kustomization.resources, ['prometheus-rule.yaml']);
    const gens = kustomization.configMapGenerator as Json[];
    assert.equal(gens.length, 1);
    assert.equal(gens[0].name, 'vigil-grafana-dashboard');
    assert.deepEqual(
      (gens[0].files as string[]).map((f) => f.split('=').at(-1)),
      ['dashboard.json'],
    );
    assert.equal(gens[0].options.labels.grafana_dashboard, '1');
    assert.equal(kustomization.generatorOptions.disableNameSuffixHash, true);
  });
});

// ---------------------------------------------------------------------------------------------
// A real Prometheus scraping a real vigil.

const T0 = Date.parse('2026-11-02T10:00:00Z'); // a minute boundary
const TOKEN = 'monitoring-test-admin-token-0123';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const LABELS = { job: 'vigil', namespace: 'monitoring-test', pod: 'vigil-0' };

/** A rate detector on one endpoint whose first bucket fires at the 21st request of a minute. */
const rate = (name: string, action: string, endpoint: string, extra = '') => predictableRate(name, action, { penalty: '5m', endpoint, extra });

const POLICY = `format: 1
${STEP_UP}endpoints:
  - { name: items, match: { path: /api/items } }
  - { name: orders, match: { path: /api/orders } }
  - { name: reports, match: { path: /api/reports } }
  - { name: account, match: { path: /api/account } }
  - { name: assets, match: { path: "/static/**" }, static: true }
detectors:
${rate('flood', 'throttle', 'items')}${rate('flood-tag', 'tag', 'orders')}${rate('flood-watch', 'block', 'reports', '    shadow: true\n')}${rate('flood-mfa', 'challenge', 'account')}`;

const jwt = (claims: Record<string, unknown>): Array<[string, string]> => [['x-jwt-payload', Buffer.from(JSON.stringify(claims)).toString('base64url')]];


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * How long a wait for Prometheus may last before it fails: a bound for a hang, not a speed check. Scrapes
 * and rule evaluations come every second, so a loaded machine is slower to get there, never wrong.
 */
const PROM_WAIT_MS = 60_000;
/** The sim's message timeout and the wait for vigil's off-path work: far beyond a loaded machine's answer. */
const ANSWER_WAIT_MS = 60_000;

describe('monitoring bundle: a real Prometheus scraping vigil', () => {
  let tmp: string | undefined;
  let vigil: Vigil | undefined;
  let sim: EnvoySim | undefined;
  let prom: ChildProcess | undefined;
  let promExited: Promise<void> | undefined;
  let promLog = '';
  let promUrl = '';
  let metricsText = '';
  let trickle: Promise<void> | undefined;
  let stopTrickle = false;
  const clock = new ManualClock(T0);

  async function query(expr: string): Promise<Json> {
    const res = await fetch(`${promUrl}/api/v1/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: expr }).toString(),
    });
    return (await res.json()) as Json;
  }

  async function results(expr: string): Promise<Json[]> {
    const r = await query(expr);
    assert.equal(r.status, 'success', `${expr}\n${JSON.stringify(r)}`);
    return r.data.result as Json[];
  }

  /** Polls until `ready` holds (or fails with the last reason after `ms`). */
  async function until(what: string, ms: number, ready: () => Promise<string | true>): Promise<void> {
    const deadline = Date.now() + ms;
    let last = '';
    for (;;) {
      const r = await ready().catch((err: Error) => err.message);
      if (r === true) return;
      last = r;
      if (Date.now() > deadline) assert.fail(`${what}: not after ${ms} ms (${last})\nprometheus log:\n${promLog.slice(-3000)}`);
      await sleep(250);
    }
  }

  async function send(path: string, identity: Array<[string, string]>): Promise<SimResult> {
    const r = await sim!.exchange({
      method: 'GET',
      path,
      authority: 'shop.example',
      headers: [...identity, ['accept', 'application/json']],
      sourceAddress: '203.0.113.7:40000',
      upstream: { status: 200, headers: [['content-type', 'application/json']], body: Buffer.from('{}') },
    });
    await vigil!.settled(ANSWER_WAIT_MS);
    return r;
  }

  async function burst(path: string, identity: Array<[string, string]>, n: number): Promise<SimResult[]> {
    const out: SimResult[] = [];
    for (let i = 0; i < n; i++) {
      out.push(await send(path, identity));
      clock.advance(10);
    }
    return out;
  }

  const admin = (path: string, init: { method?: string; headers?: Record<string, string> } = {}) =>
    fetch(`http://127.0.0.1:${vigil!.adminPort}${path}`, { method: init.method ?? 'GET', headers: init.headers ?? {} });

  before(async () => {
    requireTool('prometheus');
    tmp = mkdtempSync(join(tmpdir(), 'vigil-monitoring-'));
    const policyFile = join(tmp, 'policy.yaml');
    writeFileSync(policyFile, POLICY);

    // Production wiring (no registry given): vigil's metrics plus prom-client's vigil_process_* ones.
    const settings = parseSettings({
      VIGIL_GRPC_ADDRESS: '127.0.0.1:0',
      VIGIL_ADMIN_ADDRESS: '127.0.0.1:0',
      VIGIL_KEY_SECRET: 'test-secret-0123456789abcdef',
      VIGIL_DRAIN_TIMEOUT_MS: '200',
      VIGIL_ADMIN_TOKEN: TOKEN,
      VIGIL_POLICY: policyFile,
      VIGIL_POLICY_POLL_MS: '0',
    });
    vigil = await startVigil({ settings, clock, logger: createLogger('warn', new LogCapture()) });
    sim = new EnvoySim(`127.0.0.1:${vigil.grpcPort}`, { request_attributes: ['source.address'], message_timeout_ms: ANSWER_WAIT_MS });

    const port = await freePort();
    promUrl = `http://127.0.0.1:${port}`;
    writeFileSync(
      join(tmp, 'prometheus.yml'),
      stringify({
        global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
        rule_files: [RULES_FILE],
        scrape_configs: [
          {
            job_name: LABELS.job,
            static_configs: [{ targets: [`127.0.0.1:${vigil.adminPort}`], labels: { namespace: LABELS.namespace, pod: LABELS.pod } }],
          },
        ],
      }),
    );
    prom = spawn(
      'prometheus',
      [`--config.file=${join(tmp, 'prometheus.yml')}`, `--storage.tsdb.path=${join(tmp, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const p = prom;
    p.stdout!.on('data', (c: Buffer) => (promLog += c.toString()));
    p.stderr!.on('data', (c: Buffer) => (promLog += c.toString()));
    promExited = new Promise((resolve) => p.once('exit', () => resolve()));
    p.once('error', (err) => (promLog += `spawn error: ${err.message}\n`));

    await until('prometheus ready', PROM_WAIT_MS, async () => {
      if (p.exitCode !== null) return `prometheus exited with ${p.exitCode}`;
      return (await fetch(`${promUrl}/-/ready`)).ok ? true : 'not ready';
    });
    // One scrape before the traffic: counters that start at 0 (rejected reloads) have a base to grow from.
    await until('vigil scraped (up == 1)', PROM_WAIT_MS, async () => ((await results(`up{job="${LABELS.job}"} == 1`)).length === 1 ? true : 'up is not 1'));

    // Traffic: a throttle, a tag, a shadowed block, a challenge and its step-up, an unscored request.
    const items = await burst('/api/items', [['x-api-key', 'k-items']], 21);
    assert.equal(items[20]!.client.status, 429, 'throttled');
    await burst('/api/orders', [['x-api-key', 'k-orders']], 21);
    const reports = await burst('/api/reports', [['x-api-key', 'k-reports']], 21);
    assert.equal(reports[20]!.client.status, 200, 'the block is shadowed');
    const alice = await burst('/api/account', jwt({ sub: 'alice', acr: 'urn:example:pwd', auth_time: Math.floor((T0 - 60_000) / 1000) }), 21);
    assert.equal(alice[20]!.client.status, 401, 'challenged');
    clock.advance(20_000);
    const mfa = await send('/api/account', jwt({ sub: 'alice', acr: 'urn:example:mfa', auth_time: Math.floor(clock.nowMs() / 1000) }));
    assert.equal(mfa.client.status, 200, 'the step-up clears the challenge');
    await send('/static/app.js', [['x-api-key', 'k-items']]);

    // The operator API: a refused call, a listing, a lift.
    assert.equal((await admin('/admin/penalties')).status, 401);
    const listed = (await (await admin('/admin/penalties', { headers: AUTH })).json()) as Json;
    const throttled = (listed.penalties as Json[]).find((p) => p.detector === 'flood');
    assert.ok(throttled, JSON.stringify(listed));
    assert.equal((await admin(`/admin/penalties/${encodeURIComponent(throttled.subject)}`, { method: 'DELETE', headers: AUTH })).status, 200);

    // A policy change that does not compile: rejected, the live policy stays.
    writeFileSync(policyFile, 'format: 1\ndetectors: [ { name: broken } ]\n');
    // New bytes settle first (docs/policy-reload.md), then the watcher compiles and rejects them by itself.
    assert.notEqual(vigil.reloadPolicy(), 'reloaded');
    await until('the broken policy rejected', 10_000, async () =>
      (await (await fetch(`http://127.0.0.1:${vigil!.adminPort}/debug/policy`)).json() as Json).reloads?.rejected === 1 ? true : 'not rejected yet',
    );

    // A trickle of allowed requests while Prometheus scrapes, so rates are positive and quantiles defined.
    const v = vigil;
    trickle = (async () => {
      while (!stopTrickle) {
        await send('/api/other', [['x-api-key', 'k-trickle']]).catch(() => undefined);
        clock.advance(1000);
        await sleep(50);
      }
    })();
    metricsText = await (await fetch(`http://127.0.0.1:${v.adminPort}/metrics`)).text();
  });

  after(async () => {
    stopTrickle = true;
    await trickle;
    if (prom && prom.exitCode === null) {
      prom.kill('SIGTERM');
      const killer = setTimeout(() => prom?.kill('SIGKILL'), 5000);
      await promExited;
      clearTimeout(killer);
    }
    sim?.close();
    await vigil?.shutdown();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('every vigil_* metric an expression names is one vigil exports', () => {
    const types = new Map<string, string>();
    for (const m of metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(m[1]!, m[2]!);
    assert.ok(types.has('vigil_decisions_total') && types.has('vigil_process_process_resident_memory_bytes'), 'default metrics are on');
    const exported = (name: string): boolean => {
      if (types.has(name)) return true;
      const base = /^(.*)_(bucket|sum|count)$/.exec(name);
      return base !== null && ['histogram', 'summary'].includes(types.get(base[1]!) ?? '');
    };
    const sources = [
      ...dashboardExprs(),
      ...(dashboard.templating.list as Json[]).filter((v) => v.definition).map((v) => ({ where: `variable ${v.name}`, expr: v.definition as string })),
      ...alertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
    ];
    const missing = sources.flatMap(({ where, expr }) => metricNames(expr).filter((n) => !exported(n)).map((n) => `${where}: ${n}`));
    assert.deepEqual(missing, [], 'names vigil does not export');
  });

  test('docs/metrics.md documents every metric vigil exports, and names none it does not', () => {
    const families = [...metricsText.matchAll(/^# TYPE (vigil_\S+) /gm)].map((m) => m[1]!);
    const own = families.filter((n) => !n.startsWith('vigil_process_'));
    assert.ok(own.length >= 20, own.join(' '));
    for (const n of own) assert.ok(DOCS.includes(`\`${n}\``), `docs/metrics.md does not document ${n}`);
    assert.ok(DOCS.includes('vigil_process_'), 'the default process metrics, as a group');
    const exportedNames = new Set(families);
    const docNames = new Set((DOCS.match(/\bvigil_[a-z0-9_]+/g) ?? []).filter((n) => !n.endsWith('_')));
    const unknown = [...docNames].filter((n) => !exportedNames.has(n) && !exportedNames.has(n.replace(/_(bucket|sum|count)$/, '')));
    assert.deepEqual(unknown, [], 'docs/metrics.md names metrics vigil does not export');
  });

  test('Prometheus loads rules.yaml and evaluates every rule without error', async () => {
    await until('every rule evaluated', PROM_WAIT_MS, async () => {
      const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as Json;
      const rules = (r.data.groups as Json[]).flatMap((g) => g.rules as Json[]);
      if (rules.length !== alertRules().length) return `${rules.length} rules loaded`;
      const pending = rules.filter((x) => x.health === 'unknown');
      return pending.length === 0 ? true : `${pending.length} not evaluated yet`;
    });
    const r = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as Json;
    for (const rule of (r.data.groups as Json[]).flatMap((g) => g.rules as Json[])) {
      assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError}`);
    }
  });

  test('every dashboard query and template variable works; the main panels show the traffic', async () => {
    // The variables: Grafana's label_values(selector, label) is the series API.
    for (const [name, want] of Object.entries(LABELS)) {
      const v = (dashboard.templating.list as Json[]).find((x) => x.name === name);
      const m = /^label_values\((.+), (\w+)\)$/.exec(v.definition)!;
      const res = (await (await fetch(`${promUrl}/api/v1/label/${m[2]}/values?${new URLSearchParams({ 'match[]': substitute(m[1]!) })}`)).json()) as Json;
      assert.equal(res.status, 'success', v.definition);
      assert.ok((res.data as string[]).includes(want), `${v.definition}: ${JSON.stringify(res.data)} lacks ${want}`);
    }

    const panel = (title: string) => {
      const p = allPanels().find((x) => x.title.startsWith(title));
      assert.ok(p, `no panel "${title}"`);
      return p;
    };
    const series = async (title: string, refId = 'A') => results(substitute(panel(title).targets.find((t: Json) => t.refId === refId).expr));

    for (const { where, expr } of dashboardExprs()) {
      const r = await query(substitute(expr));
      assert.equal(r.status, 'success', `${where}: ${substitute(expr)}\n${JSON.stringify(r)}`);
    }

    // A rate has a value once two scrapes saw its counter, and each counter was first scraped whenever the
    // scrape interval fell (the lift comes after the decisions, the step-up after the throttles): so every
    // series asserted here is waited for, not only the first, and the wait ends when all of them are there.
    const labelsOf = (rs: Json[], ...keys: string[]) => rs.map((s) => keys.map((k) => s.metric[k]).join('/')).sort();
    await until('the main panels show the traffic', PROM_WAIT_MS, async () => {
      const got = new Set((await series('Decisions per second')).map((s) => `${s.metric.action}/${s.metric.detector}`));
      const want = ['allow/none', 'throttle/flood', 'tag/flood-tag', 'block/flood-watch', 'challenge/flood-mfa'];
      const lacking = want.filter((w) => !got.has(w));
      assert.deepEqual(lacking, [], 'decision rates by action');
      assert.deepEqual(labelsOf(await series('Enforced decisions'), 'action', 'detector'), ['challenge/flood-mfa', 'tag/flood-tag', 'throttle/flood']);
      assert.deepEqual(labelsOf(await series('Shadow decisions'), 'action', 'detector'), ['block/flood-watch']);
      const top = await series('Top reasons');
      assert.ok(labelsOf(top, 'detector', 'action', 'shadow').includes('flood-watch/block/true'), JSON.stringify(top));
      for (const refId of ['A', 'B', 'C']) {
        const q = await series('Decision latency', refId);
        assert.equal(q.length, 1, `decision latency ${refId}`);
        assert.ok(Number(q[0].value[1]) > 0, `decision latency ${refId}: ${q[0].value[1]}`);
      }
      assert.deepEqual(labelsOf(await series('Step-ups'), 'via', 'result'), ['claims/cleared']);
      assert.deepEqual(labelsOf(await series('Penalties set and lifted', 'B'), 'detector', 'action'), ['flood/throttle']);
      assert.ok((await series('Penalties set and lifted', 'A')).length >= 2, 'penalties set');
      assert.deepEqual(labelsOf(await series('Unscored requests'), 'reason'), ['static']);
      assert.deepEqual(labelsOf(await series('Store breaker state'), 'pod'), [LABELS.pod]);
      const checksum = await series('Live policy checksum');
      assert.deepEqual(checksum.map((s) => [s.metric.checksum, s.value[1]]), [[vigil!.policy().checksum, '1']]);
      for (const refId of ['A', 'B', 'C']) assert.equal((await series('Memory', refId)).length, 1, `memory ${refId}`);
      assert.equal((await series('Fail-open share'))[0]?.value[1], '0', 'fail-open share');
      return true;
    });
  });

  test('every alert expression works; the rejected reload fires, no-traffic and the breaker do not', async () => {
    const byName = new Map(alertRules().map((r) => [r.alert, r]));
    for (const r of alertRules()) await results(r.expr);
    await until('VigilPolicyReloadRejected expression', PROM_WAIT_MS, async () =>
      (await results(byName.get('VigilPolicyReloadRejected')!.expr)).length === 1 ? true : 'empty',
    );
    await until('messages flowing', PROM_WAIT_MS, async () => ((await results(byName.get('VigilNoTraffic')!.expr)).length === 0 ? true : 'VigilNoTraffic matches'));
    assert.deepEqual(await results(byName.get('VigilStoreBreakerOpen')!.expr), []);
    assert.deepEqual(await results(byName.get('VigilFailOpenRising')!.expr), []);
    assert.deepEqual(await results(byName.get('VigilPolicyDiverged')!.expr), []);
  });
});
