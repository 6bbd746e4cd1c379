/**
 * The Docker deployment — Dockerfile, .dockerignore, docker-compose.yml and compose/ — checked against
 * the repository without a Docker engine: images pinned, every mounted or copied path present, ports on
 * loopback, service names and ports agreeing across compose, Envoy's config, Prometheus' config and
 * Grafana's provisioning, `promtool check config`, and the image's runtime file list rebuilt in a
 * temporary directory and run as the container would run it (node as PID 1's command line, the
 * Dockerfile's ENV, its HEALTHCHECK command, SIGTERM → exit 0).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, dirname, join, posix, relative } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { projectRoot } from '../../src/paths.js';
import { loadPolicyFile } from '../../src/policy/load.js';
import { policyFileFor } from '../../src/policy/locate.js';
import { SETTINGS_DOC, parseAddress, parseSettings } from '../../src/settings.js';
import { validateEnvoy } from '../helpers/envoy-validate.js';
import { getRequest, rawClient } from '../helpers/raw-client.js';
import { startRedis } from '../helpers/redis-server.js';
import { freePort } from '../helpers/free-port.js';

// ---------------------------------------------------------------------------------------------------
// Reading the files
// ---------------------------------------------------------------------------------------------------

const repo = (...p: string[]) => join(projectRoot, ...p);
const readRepo = (p: string) => readFileSync(repo(p), 'utf8');

interface Instruction {
  cmd: string;
  args: string;
  line: number;
}
interface Stage {
  image: string;
  name: string | null;
  instructions: Instruction[];
}

/** Dockerfile → stages of instructions (continuations joined, comments dropped). */
function parseDockerfile(text: string): Stage[] {
  const logical: Array<{ text: string; line: number }> = [];
  let cur: string | null = null;
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const t = raw.trim();
    if (t.startsWith('#') || (t === '' && cur === null)) return;
    if (t === '') return; // an empty line inside a continuation
    if (cur === null) {
      cur = '';
      start = i + 1;
    }
    if (t.endsWith('\\')) {
      cur += t.slice(0, -1) + ' ';
      return;
    }
    logical.push({ text: cur + t, line: start });
    cur = null;
  });
  assert.equal(cur, null, 'Dockerfile ends inside a line continuation');
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(l.text);
    assert.ok(m, `Dockerfile line ${l.line}: cannot parse "${l.text}"`);
    const cmd = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (cmd === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(f, `Dockerfile line ${l.line}: cannot parse FROM ${args}`);
      stages.push({ image: f[1]!, name: f[2] ?? null, instructions: [] });
      continue;
    }
    if (stages.length === 0) {
      assert.equal(cmd, 'ARG', `Dockerfile line ${l.line}: ${cmd} before the first FROM`);
      continue;
    }
    stages.at(-1)!.instructions.push({ cmd, args, line: l.line });
  }
  return stages;
}

/** The JSON-array (exec) form of CMD/ENTRYPOINT/HEALTHCHECK CMD, or null for the shell form. */
function execForm(args: string): string[] | null {
  if (!args.startsWith('[')) return null;
  try {
    const v = JSON.parse(args) as unknown;
    return Array.isArray(v) && v.every((s) => typeof s === 'string') ? (v as string[]) : null;
  } catch {
    return null;
  }
}

interface Copy {
  from: string | null;
  sources: string[];
  /** Absolute. */
  dest: string;
  /** The destination is a directory that files are copied into (it ends with / or there are several sources). */
  destIsDir: boolean;
  line: number;
}

/** COPY instructions of a stage, with destinations made absolute against the WORKDIR in force. */
function copies(stage: Stage): Copy[] {
  const out: Copy[] = [];
  let workdir = '/';
  for (const ins of stage.instructions) {
    if (ins.cmd === 'WORKDIR') workdir = posix.resolve(workdir, ins.args);
    if (ins.cmd === 'ADD') assert.fail(`Dockerfile line ${ins.line}: use COPY, not ADD`);
    if (ins.cmd !== 'COPY') continue;
    const tokens = execForm(ins.args) ?? ins.args.split(/\s+/);
    const flags = tokens.filter((t) => t.startsWith('--'));
    const paths = tokens.filter((t) => !t.startsWith('--'));
    assert.ok(paths.length >= 2, `Dockerfile line ${ins.line}: COPY needs a source and a destination`);
    const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length) ?? null;
    const dest = paths.at(-1)!;
    out.push({ from, sources: paths.slice(0, -1), dest: posix.resolve(workdir, dest), destIsDir: dest.endsWith('/') || paths.length > 2, line: ins.line });
  }
  return out;
}

function workdirOf(stage: Stage): string {
  let workdir = '/';
  for (const ins of stage.instructions) if (ins.cmd === 'WORKDIR') workdir = posix.resolve(workdir, ins.args);
  return workdir;
}

/** ENV of a stage (KEY=VALUE form). */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of stage.instructions.filter((i) => i.cmd === 'ENV')) {
    for (const tok of ins.args.split(/\s+/)) {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=([^"'\s]*)$/.exec(tok);
      assert.ok(m, `Dockerfile line ${ins.line}: ENV "${tok}" is not KEY=VALUE (unquoted)`);
      env[m[1]!] = m[2]!;
    }
  }
  return env;
}

function only<T>(items: T[], what: string): T {
  assert.equal(items.length, 1, `expected exactly one ${what}, found ${items.length}`);
  return items[0]!;
}

/** .dockerignore → "is this context path excluded?", following moby's rules: last match wins, a
 * pattern also matches everything under a directory it matches. */
function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pat = posix.normalize((negate ? l.slice(1) : l).trim()).replace(/^\/+/, '').replace(/\/+$/, '');
      const body = pat
        .split('/')
        .map((seg) => (seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')))
        .join('/');
      return { negate, re: new RegExp(`^${body}$`) };
    });
  return (path) => {
    const parts = posix.normalize(path).split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) excluded = !r.negate;
    return excluded;
  };
}

function filesUnder(dir: string): string[] {
  if (!statSync(dir).isDirectory()) return [dir];
  return readdirSync(dir).flatMap((e) => filesUnder(join(dir, e)));
}

type Service = Record<string, any>;
const compose = parse(readRepo('docker-compose.yml')) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;
const dockerfile = parseDockerfile(readRepo('Dockerfile'));
const finalStage = dockerfile.at(-1)!;

function serviceEnv(s: Service): Record<string, string> {
  const e = s.environment ?? {};
  if (Array.isArray(e)) {
    return Object.fromEntries(
      e.map((kv: string) => {
        const i = kv.indexOf('=');
        return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
      }),
    );
  }
  return Object.fromEntries(Object.entries(e as Record<string, unknown>).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
  bind: boolean;
}

function mounts(s: Service): Mount[] {
  return (s.volumes ?? []).map((v: string | Record<string, any>): Mount => {
    if (typeof v === 'string') {
      const [source = '', target = '', mode = ''] = v.split(':');
      return { source, target, readOnly: mode.split(',').includes('ro'), bind: source.startsWith('.') || source.startsWith('/') };
    }
    return { source: String(v.source ?? ''), target: String(v.target), readOnly: v.read_only === true, bind: v.type === 'bind' };
  });
}

/** The host file or directory behind a container path, through the service's bind mounts. */
function hostPathOf(s: Service, containerPath: string): string | null {
  for (const m of mounts(s).filter((x) => x.bind)) {
    if (containerPath === m.target || containerPath.startsWith(m.target + '/')) return join(projectRoot, m.source, containerPath.slice(m.target.length));
  }
  return null;
}

/** Container-side port a published entry maps, and the host IP it binds. */
function published(s: Service): Array<{ hostIp: string | null; target: number; raw: string }> {
  return (s.ports ?? []).map((p: string | number | Record<string, any>) => {
    if (typeof p === 'object') return { hostIp: p.host_ip ?? null, target: Number(p.target), raw: JSON.stringify(p) };
    const parts = String(p).split(':');
    return { hostIp: parts.length === 3 ? parts[0]! : null, target: Number(parts.at(-1)!.split('/')[0]), raw: String(p) };
  });
}

function imageRef(ref: string): { name: string; tag: string | null } {
  const noDigest = ref.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? { name: noDigest.slice(0, colon), tag: noDigest.slice(colon + 1) } : { name: noDigest, tag: null };
}

function assertPinned(ref: string, where: string): void {
  const { tag } = imageRef(ref);
  assert.ok(tag, `${where}: image ${ref} has no tag (pin a version)`);
  assert.ok(!/latest/i.test(tag) && /\d/.test(tag), `${where}: image ${ref} is not pinned to a version tag`);
}

/** vigil's effective environment in compose: the image's ENV overridden by the service's. */
const vigilEnv = { ...envOf(finalStage), ...serviceEnv(services.vigil ?? {}) };
const portOf = (address: string | undefined, what: string): number => {
  const a = parseAddress(address ?? '');
  assert.ok(a, `${what}: "${address}" is not HOST:PORT`);
  return a.port;
};

// ---------------------------------------------------------------------------------------------------
// docker-compose.yml
// ---------------------------------------------------------------------------------------------------

test('compose: the expected services, every image pinned to a version tag', () => {
  for (const name of ['envoy', 'vigil', 'redis', 'upstream', 'prometheus', 'grafana']) assert.ok(services[name], `service ${name} is missing`);
  for (const [name, s] of Object.entries(services)) {
    if (s.build !== undefined) {
      if (s.image) assert.ok(!/:latest$/.test(String(s.image)), `${name}: a built image must not be tagged latest`);
      continue;
    }
    assert.ok(typeof s.image === 'string', `${name}: no image`);
    assertPinned(s.image, `service ${name}`);
  }
  assert.equal(imageRef(services.envoy!.image).name, 'envoyproxy/envoy', 'the official Envoy image');
  assert.equal(services.vigil!.build, '.', 'vigil is built from this repository');
  assert.match(String(services.redis!.image), /^redis:7\./, 'Redis 7');
});

test('compose: every bind-mounted host path exists in the repository and is mounted read-only; named volumes are declared', () => {
  let binds = 0;
  for (const [name, s] of Object.entries(services)) {
    for (const m of mounts(s)) {
      if (!m.bind) {
        assert.ok(compose.volumes && m.source in compose.volumes, `${name}: volume ${m.source} is not declared`);
        continue;
      }
      binds++;
      assert.ok(m.source.startsWith('./'), `${name}: bind mount ${m.source} must be a path inside the repository (./…)`);
      assert.ok(existsSync(repo(m.source)), `${name}: bind-mounted ${m.source} does not exist in the repository`);
      assert.ok(m.readOnly, `${name}: bind mount ${m.source} → ${m.target} should be read-only (:ro)`);
      assert.ok(m.target.startsWith('/'), `${name}: mount target ${m.target} is not absolute`);
    }
  }
  assert.ok(binds >= 6, `expected the config bind mounts, found ${binds}`);
});

test('compose: published ports bind 127.0.0.1 only; ext_proc and Redis are not published', () => {
  for (const [name, s] of Object.entries(services)) {
    for (const p of published(s)) assert.equal(p.hostIp, '127.0.0.1', `${name}: port ${p.raw} must bind 127.0.0.1`);
  }
  const grpcPort = portOf(vigilEnv.VIGIL_GRPC_ADDRESS, 'vigil VIGIL_GRPC_ADDRESS');
  assert.ok(!published(services.vigil!).some((p) => p.target === grpcPort), 'vigil: the ext_proc port must not be published (only Envoy talks to it)');
  assert.equal(published(services.redis!).length, 0, 'redis: not published');
  assert.ok(published(services.envoy!).some((p) => p.target === 8080), 'envoy: the front listener 8080 is published');
});

test("compose: vigil's environment is made of documented settings that parse, with REDIS_URL on the redis service", () => {
  const own = serviceEnv(services.vigil!);
  const documented = new Set(SETTINGS_DOC.map((s) => s.name));
  for (const name of Object.keys(own)) assert.ok(documented.has(name), `vigil: ${name} is not a setting in src/settings.ts SETTINGS_DOC`);
  for (const name of Object.keys(envOf(finalStage))) {
    if (name !== 'NODE_ENV') assert.ok(documented.has(name), `Dockerfile ENV ${name} is not a setting in SETTINGS_DOC`);
  }
  const settings = parseSettings(vigilEnv); // throws ConfigError listing every problem
  assert.ok(settings.redisUrl, 'REDIS_URL is set');
  const url = new URL(settings.redisUrl);
  assert.equal(url.protocol, 'redis:');
  assert.ok(services[url.hostname], `REDIS_URL host ${url.hostname} is not a compose service`);
  assert.equal(url.hostname, 'redis');
  const redisCmd: string[] = services.redis!.command;
  const portFlag = redisCmd.indexOf('--port');
  assert.equal(Number(url.port || 6379), portFlag >= 0 ? Number(redisCmd[portFlag + 1]) : 6379, 'REDIS_URL port = the port redis-server listens on');
  assert.ok(services.vigil!.depends_on?.redis, 'vigil depends on redis');
  // The secrets are demo values, and say so.
  assert.match(own.VIGIL_KEY_SECRET ?? '', /demo/i);
  assert.match(own.VIGIL_ADMIN_TOKEN ?? '', /demo/i);
  assert.ok(settings.adminToken, 'the operator API is on for the demo');
  // Both listeners on all interfaces inside the container (Envoy and Prometheus are other containers).
  assert.equal(settings.grpcAddress.host, '0.0.0.0');
  assert.equal(settings.adminAddress.host, '0.0.0.0');
  // The policy it names exists (through its bind mount) and compiles.
  const policyPath = hostPathOf(services.vigil!, settings.policyPath);
  assert.ok(policyPath, `VIGIL_POLICY ${settings.policyPath} is not under one of vigil's bind mounts`);
  const policy = loadPolicyFile(policyFileFor(policyPath));
  assert.ok(policy.detectors.length > 0);
});

test('compose: redis runs as a bounded cache without persistence', () => {
  const cmd: string[] = services.redis!.command;
  assert.ok(Array.isArray(cmd), 'redis command in exec form');
  const flag = (f: string) => {
    const i = cmd.indexOf(f);
    assert.ok(i >= 0, `redis: ${f} missing`);
    return cmd[i + 1];
  };
  assert.equal(flag('--maxmemory'), '256mb');
  assert.equal(flag('--maxmemory-policy'), 'volatile-ttl');
  assert.equal(flag('--save'), '');
  assert.equal(flag('--appendonly'), 'no');
});

test('compose: every service has a healthcheck and depends_on waits for healthy services', () => {
  const finalHealthcheck = finalStage.instructions.some((i) => i.cmd === 'HEALTHCHECK' && !/^NONE$/i.test(i.args));
  const healthy = (name: string) => (services[name]!.build !== undefined && !services[name]!.healthcheck ? finalHealthcheck : Array.isArray(services[name]!.healthcheck?.test));
  for (const name of Object.keys(services)) assert.ok(healthy(name), `${name}: no healthcheck`);
  for (const [name, s] of Object.entries(services)) {
    const deps = s.depends_on ?? {};
    assert.ok(!Array.isArray(deps), `${name}: depends_on must use conditions`);
    for (const [dep, cond] of Object.entries(deps as Record<string, { condition?: string }>)) {
      assert.ok(services[dep], `${name} depends on unknown service ${dep}`);
      assert.equal(cond.condition, 'service_healthy', `${name} → ${dep}: condition service_healthy`);
    }
  }
  assert.ok(services.envoy!.depends_on?.vigil, 'envoy starts after vigil is healthy');
  assert.ok(services.envoy!.depends_on?.upstream, 'envoy starts after the upstream is healthy');
  // vigil drains for VIGIL_DRAIN_TIMEOUT_MS on SIGTERM: the stop grace period must be longer.
  const grace = /^(\d+)s$/.exec(String(services.vigil!.stop_grace_period ?? '10s'));
  assert.ok(grace, 'vigil stop_grace_period in seconds');
  assert.ok(Number(grace[1]) * 1000 > parseSettings(vigilEnv).drainTimeoutMs, 'stop_grace_period exceeds the drain timeout');
});

// ---------------------------------------------------------------------------------------------------
// Envoy
// ---------------------------------------------------------------------------------------------------

interface SocketAddress {
  address: string;
  port_value: number;
}

/** Every socket_address under a node of Envoy's config. */
function socketAddresses(node: unknown): SocketAddress[] {
  if (Array.isArray(node)) return node.flatMap(socketAddresses);
  if (node === null || typeof node !== 'object') return [];
  const o = node as Record<string, unknown>;
  const own = o.socket_address && typeof o.socket_address === 'object' ? [o.socket_address as SocketAddress] : [];
  return [...own, ...Object.entries(o).filter(([k]) => k !== 'socket_address').flatMap(([, v]) => socketAddresses(v))];
}

test('compose: envoy mounts envoy/envoy.yaml where it reads its config, and that config names the compose services and ports', () => {
  const envoy = services.envoy!;
  const m = only(mounts(envoy).filter((x) => x.source === './envoy/envoy.yaml'), 'mount of ./envoy/envoy.yaml');
  const cmd: string[] = envoy.command ?? ['envoy', '-c', '/etc/envoy/envoy.yaml'];
  const c = cmd.indexOf('-c') >= 0 ? cmd.indexOf('-c') : cmd.indexOf('--config-path');
  assert.ok(c >= 0, 'envoy command names its config with -c');
  assert.equal(cmd[c + 1], m.target, 'envoy reads the mounted file');

  const cfg = parse(readRepo('envoy/envoy.yaml')) as Record<string, any>;
  assert.deepEqual(validateEnvoy('envoy.config.bootstrap.v3.Bootstrap', cfg), [], 'envoy/envoy.yaml is a valid Bootstrap (Envoy protos)');
  const grpcPort = portOf(vigilEnv.VIGIL_GRPC_ADDRESS, 'vigil VIGIL_GRPC_ADDRESS');
  const upstreamPort = Number(serviceEnv(services.upstream!).HTTP_PORT);
  const expectedPort: Record<string, number> = { vigil: grpcPort, upstream: upstreamPort };
  const clusterAddresses = socketAddresses(cfg.static_resources?.clusters ?? []);
  assert.ok(clusterAddresses.length > 0, 'envoy.yaml has static clusters with socket addresses');
  for (const a of clusterAddresses) {
    if (/^[\d.]+$|:/.test(a.address)) continue; // an IP literal, not a service name
    assert.ok(services[a.address], `envoy.yaml cluster address ${a.address} is not a compose service`);
    if (expectedPort[a.address] !== undefined) assert.equal(Number(a.port_value), expectedPort[a.address], `envoy.yaml: ${a.address}'s port`);
  }
  assert.ok(clusterAddresses.some((a) => a.address === 'vigil' && Number(a.port_value) === grpcPort), `a cluster points at vigil:${grpcPort}`);
  assert.ok(clusterAddresses.some((a) => a.address === 'upstream' && Number(a.port_value) === upstreamPort), `a cluster points at upstream:${upstreamPort}`);

  const listenerPorts = socketAddresses(cfg.static_resources?.listeners ?? []).map((a) => Number(a.port_value));
  const admin = cfg.admin?.address?.socket_address as SocketAddress | undefined;
  for (const p of published(envoy)) {
    assert.ok(listenerPorts.includes(p.target) || p.target === Number(admin?.port_value), `envoy publishes ${p.target}, which is neither a listener nor the admin port`);
  }
  assert.ok(listenerPorts.includes(8080), 'envoy.yaml listens on 8080');
  assert.ok(admin, 'envoy.yaml has an admin address (Prometheus scrapes it, the healthcheck asks /ready)');
  assert.equal(Number(admin.port_value), 9901);
  assert.ok(!/^127\.|^::1$|^localhost$/.test(admin.address), 'Envoy admin must listen beyond loopback for Prometheus (envoy:9901) to scrape it');
  assert.ok(!published(envoy).some((p) => p.target === Number(admin.port_value)), 'the Envoy admin (unauthenticated, can change state) is not published');
  assert.ok(JSON.stringify(envoy.healthcheck.test).includes(`/${admin.port_value}`), "envoy's healthcheck asks the admin port");
});

// ---------------------------------------------------------------------------------------------------
// Prometheus
// ---------------------------------------------------------------------------------------------------

function onPath(cmd: string): string | null {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), '/usr/bin', '/usr/local/bin']) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return join(dir, cmd);
    } catch {
      // not here
    }
  }
  return null;
}

test('compose: Prometheus scrapes vigil and Envoy by service name and port, and loads the mounted rules', () => {
  const prom = services.prometheus!;
  const configArg = (prom.command as string[]).find((a) => a.startsWith('--config.file='));
  assert.ok(configArg, 'prometheus command names --config.file');
  const configTarget = configArg.slice('--config.file='.length);
  const configMount = only(mounts(prom).filter((m) => m.target === configTarget), `mount of ${configTarget}`);
  assert.equal(configMount.source, './compose/prometheus.yml');

  const cfg = parse(readRepo('compose/prometheus.yml')) as Record<string, any>;
  const jobs = cfg.scrape_configs as Array<Record<string, any>>;
  const targetsOf = (job: string) => {
    const j = only(jobs.filter((x) => x.job_name === job), `scrape job ${job}`);
    return { job: j, targets: (j.static_configs as Array<{ targets: string[] }>).flatMap((s) => s.targets) };
  };
  for (const j of jobs) {
    for (const t of (j.static_configs ?? []).flatMap((s: { targets: string[] }) => s.targets)) {
      const [host] = String(t).split(':');
      assert.ok(services[host!], `scrape target ${t} (job ${j.job_name}) is not a compose service`);
    }
  }
  const adminPort = portOf(vigilEnv.VIGIL_ADMIN_ADDRESS, 'vigil VIGIL_ADMIN_ADDRESS');
  const vigilJob = targetsOf('vigil');
  assert.deepEqual(vigilJob.targets, [`vigil:${adminPort}`]);
  assert.equal(vigilJob.job.metrics_path ?? '/metrics', '/metrics');
  const envoyJob = targetsOf('envoy');
  assert.deepEqual(envoyJob.targets, ['envoy:9901']);
  assert.equal(envoyJob.job.metrics_path, '/stats/prometheus');

  // rule_files are relative to the config file: on the host they must name the repository's rules,
  // and in the container the same relative path must land on the mounted copy of that file.
  const ruleFiles = cfg.rule_files as string[];
  assert.ok(ruleFiles?.length > 0, 'rule_files is set');
  for (const rf of ruleFiles) {
    const host = relative(projectRoot, join(dirname(repo('compose/prometheus.yml')), rf));
    assert.equal(host, 'k8s/monitoring/rules.yaml', `rule file ${rf} resolves to ${host} in the repository`);
    assert.ok(existsSync(repo(host)), `${host} exists`);
    const inContainer = posix.resolve(posix.dirname(configTarget), rf);
    const m = mounts(prom).find((x) => x.target === inContainer);
    assert.ok(m, `rule file ${rf} resolves to ${inContainer} in the container, which is not mounted`);
    assert.equal(m.source, `./${host}`, `${inContainer} is mounted from the repository's ${host}`);
  }
});

test('promtool check config compose/prometheus.yml passes (rules included)', () => {
  const promtool = onPath('promtool');
  assert.ok(promtool, 'promtool is not installed (Debian package `prometheus`): this check cannot be skipped, install it');
  const r = spawnSync(promtool, ['check', 'config', 'compose/prometheus.yml'], { cwd: projectRoot, encoding: 'utf8', timeout: 30_000 });
  const output = `${r.stdout}${r.stderr}`;
  assert.equal(r.status, 0, `promtool check config failed:\n${output}`);
  assert.match(output, /SUCCESS/);
  assert.match(output, /rules\.yaml/, 'promtool checked the rule file as well');
});

// ---------------------------------------------------------------------------------------------------
// Grafana
// ---------------------------------------------------------------------------------------------------

/** Every `datasource` value in a dashboard, as uid or name strings. */
function datasourceRefs(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(datasourceRefs);
  if (node === null || typeof node !== 'object') return [];
  const o = node as Record<string, unknown>;
  const own: string[] = [];
  if ('datasource' in o) {
    const d = o.datasource;
    if (typeof d === 'string') own.push(d);
    else if (d && typeof d === 'object' && typeof (d as { uid?: unknown }).uid === 'string') own.push((d as { uid: string }).uid);
  }
  return [...own, ...Object.entries(o).flatMap(([k, v]) => (k === 'datasource' ? [] : datasourceRefs(v)))];
}

test('compose: Grafana provisions the compose Prometheus and the mounted k8s/monitoring/dashboard.json', () => {
  const g = services.grafana!;
  const prov = only(mounts(g).filter((m) => m.target === '/etc/grafana/provisioning'), 'mount of /etc/grafana/provisioning');
  assert.equal(prov.source, './compose/grafana/provisioning');
  const dash = only(mounts(g).filter((m) => m.source === './k8s/monitoring/dashboard.json'), 'mount of the dashboard');

  const ds = parse(readRepo('compose/grafana/provisioning/datasources/prometheus.yaml')) as { datasources: Array<Record<string, any>> };
  const promDs = only(ds.datasources.filter((d) => d.type === 'prometheus'), 'prometheus datasource');
  const url = new URL(promDs.url);
  assert.ok(services[url.hostname], `datasource host ${url.hostname} is not a compose service`);
  assert.equal(url.hostname, 'prometheus');
  const listen = (services.prometheus!.command as string[]).find((a) => a.startsWith('--web.listen-address='));
  assert.equal(Number(url.port), listen ? Number(listen.split(':').at(-1)) : 9090, 'datasource port = the port Prometheus listens on');

  const providers = (parse(readRepo('compose/grafana/provisioning/dashboards/vigil.yaml')) as { providers: Array<Record<string, any>> }).providers;
  const provider = only(providers, 'dashboard provider');
  assert.equal(provider.type, 'file');
  const path = String(provider.options?.path);
  assert.ok(path === dash.target || path === posix.dirname(dash.target), `provider path ${path} does not hold the mounted dashboard ${dash.target}`);
  const home = serviceEnv(g).GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH;
  if (home) assert.equal(home, dash.target, 'the home dashboard is the mounted one');

  // The dashboard must work with file provisioning: no import-time inputs, and every datasource it
  // names is the provisioned one or a datasource variable.
  const board = JSON.parse(readRepo('k8s/monitoring/dashboard.json')) as Record<string, any>;
  assert.ok(!board.__inputs || board.__inputs.length === 0, 'dashboard.json has __inputs (${DS_…}), which file provisioning does not fill in');
  const vars = new Set(((board.templating?.list ?? []) as Array<Record<string, any>>).filter((v) => v.type === 'datasource').map((v) => String(v.name)));
  for (const ref of datasourceRefs(board)) {
    const v = /^\$\{?([A-Za-z0-9_]+)(?::\w+)?\}?$/.exec(ref);
    if (v) assert.ok(vars.has(v[1]!), `dashboard.json uses datasource variable ${ref}, which it does not define`);
    else assert.ok([promDs.uid, promDs.name, '-- Grafana --', 'grafana', '-- Mixed --', '-- Dashboard --'].includes(ref), `dashboard.json names datasource ${ref}, which is not provisioned (uid ${promDs.uid})`);
  }
  assert.equal(serviceEnv(g).GF_AUTH_ANONYMOUS_ENABLED, 'true', 'anonymous access for the demo');
  assert.equal(serviceEnv(g).GF_AUTH_ANONYMOUS_ORG_ROLE, 'Viewer', 'anonymous users only view');
});

// ---------------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore
// ---------------------------------------------------------------------------------------------------

test('Dockerfile: multi-stage on pinned Node 20 images; the build stage runs npm ci and the build', () => {
  assert.ok(dockerfile.length >= 2, 'at least two stages (FROM)');
  const engines = /(\d+)/.exec((JSON.parse(readRepo('package.json')) as { engines: { node: string } }).engines.node)![1];
  for (const s of dockerfile) {
    assertPinned(s.image, `FROM ${s.image}`);
    const { name, tag } = imageRef(s.image);
    assert.equal(name, 'node');
    assert.ok(tag!.startsWith(`${engines}.`) || tag!.startsWith(`${engines}-`), `node image ${s.image} is Node ${engines}`);
    assert.match(tag!, /bookworm-slim$/);
  }
  const build = dockerfile[0]!;
  const runs = build.instructions.filter((i) => i.cmd === 'RUN').map((i) => i.args);
  assert.ok(runs.some((r) => /\bnpm ci\b/.test(r)), 'build stage: npm ci');
  assert.ok(runs.some((r) => /\bnpm run build\b/.test(r)), 'build stage: npm run build');
});

test('Dockerfile: the final stage runs node as a non-root numeric user, exec form, with a HEALTHCHECK and production dependencies only', () => {
  const ins = (cmd: string) => finalStage.instructions.filter((i) => i.cmd === cmd);
  const user = only(ins('USER'), 'USER in the final stage').args;
  const u = /^(\d+)(?::(\d+))?$/.exec(user);
  assert.ok(u, `USER ${user} must be numeric (uid[:gid]) so runAsNonRoot can check it`);
  assert.notEqual(Number(u[1]), 0, 'USER must not be root');
  assert.equal(Number(u[1]), 10001);
  // USER comes after every RUN that needs root, and before ENTRYPOINT/CMD.
  const idx = (i: Instruction) => finalStage.instructions.indexOf(i);
  const userIdx = idx(ins('USER')[0]!);
  assert.ok(ins('RUN').every((r) => idx(r) < userIdx), 'no RUN after USER (the image runs as that user)');

  const entry = execForm(only(ins('ENTRYPOINT'), 'ENTRYPOINT').args);
  const cmd = execForm(only(ins('CMD'), 'CMD').args);
  assert.ok(entry, 'ENTRYPOINT in exec form (JSON array), so signals reach the process');
  assert.ok(cmd, 'CMD in exec form (JSON array)');
  assert.equal(entry[0], 'node', 'node is PID 1 (SIGTERM is handled by vigil serve itself)');
  assert.deepEqual(cmd, ['serve']);

  const hc = only(ins('HEALTHCHECK'), 'HEALTHCHECK').args;
  const hcCmd = /\bCMD\s+(\[[\s\S]*\])\s*$/.exec(hc);
  assert.ok(hcCmd && execForm(hcCmd[1]!), 'HEALTHCHECK CMD in exec form');
  assert.equal(execForm(hcCmd[1]!)![0], 'node', 'the healthcheck uses node (no curl in the slim image)');
  assert.match(hcCmd[1]!, /\/healthz/);

  for (const r of ins('RUN')) {
    assert.ok(!/\bnpm\s+(install|i|add)\b/.test(r.args), `final stage line ${r.line}: npm install would pull dev dependencies; use npm ci --omit=dev`);
    if (/\bnpm ci\b/.test(r.args)) assert.match(r.args, /--omit=dev/, `final stage line ${r.line}: npm ci without --omit=dev`);
    assert.ok(!/\bnpm run build\b|\btsc\b/.test(r.args), 'no build tooling in the final stage');
  }
  assert.ok(ins('RUN').some((r) => /\bnpm ci\b.*--omit=dev/.test(r.args)), 'final stage installs production dependencies');
  assert.ok(!copies(finalStage).some((c) => c.sources.some((s) => /node_modules/.test(s))), 'node_modules is not copied from the build stage (it holds dev dependencies)');

  const expose = ins('EXPOSE').flatMap((i) => i.args.split(/\s+/)).map((p) => Number(p.split('/')[0]));
  const env = envOf(finalStage);
  assert.ok(expose.includes(portOf(env.VIGIL_GRPC_ADDRESS, 'ENV VIGIL_GRPC_ADDRESS')), 'EXPOSE the ext_proc port');
  assert.ok(expose.includes(portOf(env.VIGIL_ADMIN_ADDRESS, 'ENV VIGIL_ADMIN_ADDRESS')), 'EXPOSE the admin port');
  assert.deepEqual([env.VIGIL_GRPC_ADDRESS, env.VIGIL_ADMIN_ADDRESS], ['0.0.0.0:50051', '0.0.0.0:9464']);
});

test('Dockerfile: every path it COPYs exists (in the context, not excluded by .dockerignore, or made by the build stage)', () => {
  const excluded = dockerignore(readRepo('.dockerignore'));
  // Whatever the host built or installed must stay out of the context.
  for (const p of ['node_modules/yaml/package.json', 'dist/src/main.js', '.git/HEAD', 'test/settings.test.ts']) assert.ok(excluded(p), `.dockerignore should exclude ${p}`);
  const stageByName = new Map(dockerfile.filter((s) => s.name).map((s) => [s.name!, s]));
  const tsOutDir = (JSON.parse(readRepo('tsconfig.json')) as { compilerOptions: { outDir: string } }).compilerOptions.outDir.replace(/^\.\//, '');
  let checked = 0;
  for (const stage of dockerfile) {
    for (const c of copies(stage)) {
      for (const src of c.sources) {
        checked++;
        if (c.from === null) {
          assert.ok(existsSync(repo(src)), `Dockerfile line ${c.line}: COPY source ${src} does not exist in the repository`);
          for (const f of filesUnder(repo(src))) {
            const rel = relative(projectRoot, f);
            assert.ok(!excluded(rel), `Dockerfile line ${c.line}: ${rel} is excluded by .dockerignore`);
          }
          continue;
        }
        const from = stageByName.get(c.from);
        assert.ok(from && dockerfile.indexOf(from) < dockerfile.indexOf(stage), `Dockerfile line ${c.line}: --from=${c.from} is not an earlier stage`);
        // Inside the build stage: under something COPYed into it, or the compiler's output (which
        // mirrors the copied sources: dist/src comes from src).
        const rel = posix.relative(workdirOf(from), src);
        assert.ok(!rel.startsWith('..'), `Dockerfile line ${c.line}: ${src} is outside the build stage's WORKDIR`);
        const built = from.instructions.some((i) => i.cmd === 'RUN' && /\bnpm run build\b/.test(i.args));
        // Where each source COPYed into the build stage landed (a directory's contents go into the
        // destination itself; a file goes into a destination directory under its own name).
        const copiedIn = copies(from).flatMap((x) =>
          x.sources.map((s) => {
            const isDir = x.from === null && existsSync(repo(s)) && statSync(repo(s)).isDirectory();
            return posix.relative(workdirOf(from), x.destIsDir && !isDir ? posix.join(x.dest, basename(s)) : x.dest);
          }),
        );
        const fromOutput = built && (rel === tsOutDir || rel.startsWith(`${tsOutDir}/`));
        if (fromOutput) {
          const mirrored = rel.split('/').slice(1).join('/');
          assert.ok(mirrored === '' || copiedIn.some((p) => mirrored === p || mirrored.startsWith(`${p}/`)), `Dockerfile line ${c.line}: ${src} would be compiled from ${mirrored}, which the build stage does not copy`);
          assert.ok(existsSync(repo(rel)), `Dockerfile line ${c.line}: ${rel} does not exist after npm run build`);
        } else {
          assert.ok(copiedIn.some((p) => rel === p || rel.startsWith(`${p}/`)), `Dockerfile line ${c.line}: ${src} is neither copied into nor built in stage ${c.from}`);
        }
      }
    }
  }
  assert.ok(checked >= 8, `expected the Dockerfile's COPY sources, checked ${checked}`);
});

// ---------------------------------------------------------------------------------------------------
// The image's runtime file list, run as the container runs it
// ---------------------------------------------------------------------------------------------------


/** The runtime stage's files in `dir` (its WORKDIR): its COPYs, and `npm ci --omit=dev` played by
 * linking the lockfile's non-dev packages from the repository's node_modules. */
function buildRuntimeTree(dir: string): void {
  const workdir = workdirOf(finalStage);
  const buildWorkdirs = new Map(dockerfile.filter((s) => s.name).map((s) => [s.name!, workdirOf(s)]));
  for (const c of copies(finalStage)) {
    assert.ok(c.dest === workdir || c.dest.startsWith(`${workdir}/`), `COPY destination ${c.dest} is outside WORKDIR ${workdir}`);
    for (const src of c.sources) {
      // The build stage's files are the repository's after `npm run build` (npm test ran it).
      const hostSrc = c.from === null ? repo(src) : repo(posix.relative(buildWorkdirs.get(c.from)!, src));
      const target = join(dir, posix.relative(workdir, c.dest), c.destIsDir && !statSync(hostSrc).isDirectory() ? basename(src) : '');
      mkdirSync(statSync(hostSrc).isDirectory() ? target : dirname(target), { recursive: true });
      cpSync(hostSrc, target, { recursive: true });
    }
  }
  const ci = finalStage.instructions.find((i) => i.cmd === 'RUN' && /\bnpm ci\b/.test(i.args));
  assert.ok(ci && /--omit=dev/.test(ci.args), 'the runtime stage installs production dependencies');
  const lock = JSON.parse(readFileSync(join(dir, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  for (const [key, meta] of Object.entries(lock.packages)) {
    const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(key);
    if (!m || meta.dev) continue;
    const from = repo('node_modules', m[1]!);
    assert.ok(existsSync(from), `production dependency ${m[1]} is not installed in the repository's node_modules (run npm ci)`);
    mkdirSync(dirname(join(dir, 'node_modules', m[1]!)), { recursive: true });
    symlinkSync(from, join(dir, 'node_modules', m[1]!), 'dir');
  }
}

test('the image runtime file list is enough: vigil serve (with Redis) from exactly those files answers the HEALTHCHECK, decides, and exits 0 on SIGTERM', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-image-'));
  const redis = await startRedis();
  t.after(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  buildRuntimeTree(dir);
  for (const p of ['package.json', 'bin/vigil', 'dist/src/cli/main.js', 'proto', 'policy/default.yaml', 'src/state/lua/batch.lua']) {
    assert.ok(existsSync(join(dir, p)), `the runtime tree lacks ${p}`);
  }
  for (const p of ['src/main.ts', 'test', 'docs', 'dist/test', 'node_modules/typescript']) assert.ok(!existsSync(join(dir, p)), `the runtime tree should not hold ${p}`);

  const [grpcPort, adminPort] = [await freePort(), await freePort()];
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    ...envOf(finalStage),
    VIGIL_GRPC_ADDRESS: `127.0.0.1:${grpcPort}`,
    VIGIL_ADMIN_ADDRESS: `127.0.0.1:${adminPort}`,
    REDIS_URL: redis.url,
    VIGIL_KEY_SECRET: 'image-test-secret-0123456789',
    VIGIL_DRAIN_TIMEOUT_MS: '500',
    VIGIL_LOG_LEVEL: 'info',
  };
  // The container's command line: ENTRYPOINT + CMD, with the image's paths mapped into `dir`.
  const workdir = workdirOf(finalStage);
  const toHost = (a: string) => (a === workdir || a.startsWith(`${workdir}/`) ? join(dir, a.slice(workdir.length)) : a);
  const argv = [...execForm(finalStage.instructions.find((i) => i.cmd === 'ENTRYPOINT')!.args)!, ...execForm(finalStage.instructions.find((i) => i.cmd === 'CMD')!.args)!].map(toHost);
  assert.equal(argv[0], 'node');
  const child = spawn(process.execPath, argv.slice(1), { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: Array<Record<string, any>> = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const serving = new Promise<Record<string, any>>((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = JSON.parse(buf.slice(0, i)) as Record<string, any>;
        buf = buf.slice(i + 1);
        lines.push(line);
        if (line.msg === 'vigil serving') resolve(line);
      }
    });
    void exited.then(({ code }) => reject(new Error(`vigil exited ${code} before serving: ${stderr}`)));
    setTimeout(() => reject(new Error(`vigil not serving after 15 s: ${stderr}`)), 15_000).unref();
  });
  const ready = await serving;
  assert.equal(ready.store, 'redis');
  assert.equal(ready.grpc, `127.0.0.1:${grpcPort}`);

  // The Dockerfile's HEALTHCHECK command, run as Docker would (same environment).
  const hc = execForm(/\bCMD\s+(\[[\s\S]*\])\s*$/.exec(finalStage.instructions.find((i) => i.cmd === 'HEALTHCHECK')!.args)![1]!)!;
  const healthcheck = () =>
    new Promise<number | null>((resolve) => {
      const p = spawn(process.execPath, hc.slice(1), { cwd: dir, env, stdio: 'ignore' });
      p.once('exit', (code) => resolve(code));
    });
  assert.equal(await healthcheck(), 0, 'HEALTHCHECK passes while vigil serves');

  // One exchange over ext_proc: the protos are read from dir/proto, the Redis Lua scripts from
  // dir/src/state/lua.
  const client = rawClient(`127.0.0.1:${grpcPort}`);
  const stream = client.open();
  stream.send(getRequest('/api/orders/42', [['x-api-key', 'image-test']]));
  const replies = await stream.waitReplies(1, 5000);
  assert.equal(replies[0]?.response, 'request_headers');
  stream.cancel();
  client.close();
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  assert.match(metrics, /vigil_decisions_total\{[^}]*action="allow"[^}]*\} 1\b/, 'the exchange was decided');
  assert.match(metrics, /vigil_store_duration_seconds_count\{[^}]*\} [1-9]/, 'and went to Redis');
  assert.doesNotMatch(metrics, /vigil_fail_open_total\{[^}]*\} [1-9]/, 'without failing open');

  // docker stop: SIGTERM to PID 1, exit 0 well within the stop grace period.
  const t0 = Date.now();
  child.kill('SIGTERM');
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit within 5 s of SIGTERM: ${stderr}`)), 5000).unref());
  const end = await Promise.race([exited, timeout]);
  assert.deepEqual(end, { code: 0, signal: null }, `exit after SIGTERM: ${stderr}`);
  assert.ok(Date.now() - t0 < 5000);
  assert.ok(lines.some((l) => l.msg === 'signal received' && l.signal === 'SIGTERM'));
  assert.ok(lines.some((l) => l.msg === 'vigil stopped'));
  assert.equal(await healthcheck(), 1, 'HEALTHCHECK fails once vigil is gone');
});
