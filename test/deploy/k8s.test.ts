// The Kubernetes manifests (k8s/base, k8s/overlays/example), rendered without kubectl by the small
// loader in test/helpers/kustomize.ts and checked three ways:
// 1. every object against its Kubernetes / CRD schema (the kubernetes-models packages: ajv over the
//    OpenAPI schemas of Kubernetes, the Prometheus Operator and Istio);
// 2. the EnvoyFilter's patch values against Envoy's own protos (test/helpers/envoy-validate.ts);
// 3. what the schemas cannot say: hardening, probes, ports that line up, the policy mount, vigil's own
//    settings parser on the rendered environment, the NetworkPolicy's rules.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { EnvoyFilter } from '@kubernetes-models/istio/networking.istio.io/v1alpha3';
import { PodMonitor, PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { parse as parseYaml } from 'yaml';
import { defaultPolicyPath, projectRoot } from '../../src/paths.js';
import { loadPolicyFile } from '../../src/policy/load.js';
import { POLICY_FILE_IN_DIR, policyFileFor } from '../../src/policy/locate.js';
import { SETTINGS_DOC, parseAddress, parseSettings } from '../../src/settings.js';
import { validateEnvoy } from '../helpers/envoy-validate.js';
import { type Manifest, KustomizeError, kustomize } from '../helpers/kustomize.js';

const BASE = join(projectRoot, 'k8s', 'base');
const OVERLAY = join(projectRoot, 'k8s', 'overlays', 'example');

// --- Schema validation ----------------------------------------------------------------------------------------

type ModelClass = new (data: never) => { validate(): void };
const MODELS: Record<string, ModelClass> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/Namespace': Namespace,
  'apps/v1/Deployment': Deployment,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'networking.istio.io/v1alpha3/EnvoyFilter': EnvoyFilter,
};

/** Throws when the object violates its schema, or when no schema is known for its apiVersion and kind. */
function validateManifest(m: Manifest): void {
  const Model = MODELS[`${m.apiVersion}/${m.kind}`];
  if (!Model) throw new Error(`no schema for ${m.apiVersion} ${m.kind} (${m.metadata.name})`);
  new Model(structuredClone(m) as never).validate();
}

// --- Rendering and lookups ------------------------------------------------------------------------------------

const rendered = new Map<string, Manifest[]>();
function render(dir: string): Manifest[] {
  let out = rendered.get(dir);
  if (!out) {
    out = kustomize(dir);
    rendered.set(dir, out);
  }
  return structuredClone(out);
}

type Obj = Record<string, any>;
const one = (ms: Manifest[], kind: string, name: string): Obj => {
  const found = ms.filter((m) => m.kind === kind && m.metadata.name === name);
  assert.equal(found.length, 1, `exactly one ${kind}/${name}`);
  return found[0] as Obj;
};
const ofKind = (ms: Manifest[], kind: string): Obj[] => ms.filter((m) => m.kind === kind) as Obj[];
const containerOf = (d: Obj, name: string): Obj => {
  const c = (d.spec.template.spec.containers as Obj[]).find((x) => x.name === name);
  assert.ok(c, `container ${name} in ${d.metadata.name}`);
  return c;
};
const envOf = (c: Obj, name: string): Obj | undefined => (c.env as Obj[] | undefined)?.find((e) => e.name === name);
/** A probe's or a Service's port (number or name) as a number, resolved against the container's ports. */
function portNumber(port: unknown, containers: Obj[]): number {
  if (typeof port === 'number') return port;
  for (const c of containers) {
    const p = (c.ports as Obj[] | undefined)?.find((x) => x.name === port);
    if (p) return p.containerPort as number;
  }
  throw new Error(`named port ${String(port)} is declared by no container`);
}
const podSpecs = (ms: Manifest[]): Array<{ name: string; spec: Obj; labels: Record<string, string> }> =>
  ofKind(ms, 'Deployment').map((d) => ({ name: d.metadata.name, spec: d.spec.template.spec, labels: d.spec.template.metadata.labels }));
const selects = (selector: Record<string, string>, labels: Record<string, string>): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The overlay's Secret as plain strings. */
function secretValues(ms: Manifest[], name: string): Record<string, string> {
  const s = one(ms, 'Secret', name);
  return Object.fromEntries(Object.entries(s.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/** A container's environment as vigil would see it, secretKeyRefs resolved from `secrets`. */
function resolvedEnv(c: Obj, ms: Manifest[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of (c.env ?? []) as Obj[]) {
    if (typeof e.value === 'string') env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      const ref = e.valueFrom.secretKeyRef;
      const values = secretValues(ms, ref.name);
      assert.ok(ref.key in values, `Secret ${ref.name} has the key ${ref.key} (${e.name})`);
      env[e.name] = values[ref.key]!;
    } else assert.fail(`env ${e.name}: neither a value nor a secretKeyRef`);
  }
  return env;
}

// --- Every object against its schema ---------------------------------------------------------------------------

for (const [label, dir] of [['base', BASE], ['overlay', OVERLAY]] as const) {
  test(`${label}: renders, and every object passes its Kubernetes / CRD schema`, () => {
    const ms = render(dir);
    const kinds = new Set(ms.map((m) => m.kind));
    for (const k of ['Deployment', 'Service', 'ConfigMap', 'NetworkPolicy', 'PodMonitor', 'PrometheusRule', 'EnvoyFilter']) {
      assert.ok(kinds.has(k), `${label} renders a ${k}`);
    }
    for (const m of ms) {
      assert.doesNotThrow(() => validateManifest(m), `${m.kind}/${m.metadata.name}`);
      // API-server rules the schemas do not carry: object names are DNS subdomains, Services DNS labels.
      assert.match(m.metadata.name, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, `${m.kind}/${m.metadata.name}: name`);
      if (m.kind === 'Service') assert.ok(m.metadata.name.length <= 63, `Service ${m.metadata.name}: at most 63 characters`);
    }
    for (const { name, spec } of podSpecs(ms)) {
      for (const c of spec.containers as Obj[]) {
        for (const p of (c.ports ?? []) as Obj[]) {
          if (p.name !== undefined) assert.match(p.name, /^(?=.*[a-z])[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/, `${name}/${c.name}: port name ${p.name} (IANA_SVC_NAME, ≤ 15)`);
        }
      }
    }
  });
}

test('the schema validation catches planted errors: a wrong type, a bad enum, an unknown kind', () => {
  const ms = render(BASE);
  const shop = structuredClone(one(ms, 'Deployment', 'shop'));
  containerOf(shop, 'vigil').ports[0].containerPort = '9464';
  assert.throws(() => validateManifest(shop as Manifest), /containerPort must be integer/);

  const svc = structuredClone(one(ms, 'Service', 'shop'));
  delete svc.spec.ports[0].port;
  assert.throws(() => validateManifest(svc as Manifest), /must have required property '?port'?/);

  const ef = structuredClone(one(ms, 'EnvoyFilter', 'vigil-ext-proc'));
  ef.spec.configPatches[0].applyTo = 'CLUSTERS';
  assert.throws(() => validateManifest(ef as Manifest), /applyTo must be equal to one of the allowed values/);

  const pm = structuredClone(one(ms, 'PodMonitor', 'vigil'));
  pm.spec.podMetricsEndpoints = { port: 'vigil-admin' };
  assert.throws(() => validateManifest(pm as Manifest), /podMetricsEndpoints must be array/);

  const rule = structuredClone(ofKind(ms, 'PrometheusRule')[0]!);
  rule.spec.groups[0].rules = 'up == 0';
  assert.throws(() => validateManifest(rule as Manifest), /rules must be array/);

  assert.throws(() => validateManifest({ ...(shop as Manifest), kind: 'Deploymnet' }), /no schema for apps\/v1 Deploymnet/);
  assert.throws(() => validateManifest({ ...(ef as Manifest), apiVersion: 'networking.istio.io/v1' }), /no schema/);
});

// --- Hardening ------------------------------------------------------------------------------------------------

for (const [label, dir] of [['base', BASE], ['overlay', OVERLAY]] as const) {
  test(`${label}: every container is hardened, sized, pinned and probed`, () => {
    const pods = podSpecs(render(dir));
    assert.ok(pods.length >= 2, 'the app and Redis');
    for (const { name, spec } of pods) {
      const psc = (spec.securityContext ?? {}) as Obj;
      assert.equal(spec.hostNetwork ?? false, false, `${name}: hostNetwork`);
      for (const c of [...(spec.initContainers ?? []), ...spec.containers] as Obj[]) {
        const where = `${name}/${c.name}`;
        const sc = (c.securityContext ?? {}) as Obj;
        assert.equal(sc.runAsNonRoot ?? psc.runAsNonRoot, true, `${where}: runAsNonRoot`);
        assert.equal(sc.runAsUser ?? psc.runAsUser, 10001, `${where}: runAsUser`);
        assert.equal(sc.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
        assert.equal(sc.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
        assert.notEqual(sc.privileged, true, `${where}: privileged`);
        assert.equal((sc.seccompProfile ?? psc.seccompProfile)?.type, 'RuntimeDefault', `${where}: seccompProfile`);
        assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}: capabilities.drop`);
        assert.equal(sc.capabilities?.add, undefined, `${where}: capabilities.add`);
        for (const r of ['requests.cpu', 'requests.memory', 'limits.cpu', 'limits.memory']) {
          const [kind, res] = r.split('.') as [string, string];
          assert.ok(c.resources?.[kind]?.[res], `${where}: resources.${r}`);
        }
        assert.match(c.image, /^[^:@]+(:[^:@/]+)?(@sha256:[0-9a-f]{64})?$/, `${where}: image reference`);
        assert.ok(/@sha256:|:[^:/]+$/.test(c.image) && !c.image.endsWith(':latest'), `${where}: image ${c.image} pinned by tag or digest`);
        assert.ok(c.readinessProbe && c.livenessProbe, `${where}: readiness and liveness probes`);
      }
    }
  });
}

test("vigil: probes on the admin port, loopback ext_proc, and an admin address Prometheus can reach", () => {
  const shop = one(render(BASE), 'Deployment', 'shop');
  const vigil = containerOf(shop, 'vigil');
  const containers = shop.spec.template.spec.containers as Obj[];
  const admin = parseAddress(envOf(vigil, 'VIGIL_ADMIN_ADDRESS')?.value);
  assert.deepEqual(admin, { host: '0.0.0.0', port: 9464 });
  assert.deepEqual(parseAddress(envOf(vigil, 'VIGIL_GRPC_ADDRESS')?.value), { host: '127.0.0.1', port: 50051 });
  for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz'], ['startupProbe', '/healthz']] as const) {
    assert.equal(vigil[probe]?.httpGet?.path, path, `${probe} path`);
    assert.equal(portNumber(vigil[probe].httpGet.port, [vigil]), 9464, `${probe} on the admin port`);
  }
  // ext_proc is no business of Kubernetes: not declared, so no Service or Istio listener can expose it.
  for (const c of containers) assert.ok(!((c.ports ?? []) as Obj[]).some((p) => p.containerPort === 50051), `${c.name} declares no 50051`);
  // The admin port bypasses istio-proxy (scraped directly, never through the ext_proc filter).
  assert.equal(shop.spec.template.metadata.annotations['traffic.sidecar.istio.io/excludeInboundPorts'], '9464');
  assert.ok((shop.spec.template.spec.terminationGracePeriodSeconds as number) * 1000 > 5000, 'grace period above VIGIL_DRAIN_TIMEOUT_MS');
});

test("vigil's resources are the ones docs/deploy.md's Sizing table gives, and leave room for a full tier and held streams", () => {
  const vigil = containerOf(one(render(BASE), 'Deployment', 'shop'), 'vigil');
  const row = /^\| vigil \| (\S+) CPU, (\d+)Mi \| (\S+) CPU, (\d+)Mi \|$/m.exec(readFileSync(join(projectRoot, 'docs', 'deploy.md'), 'utf8'));
  assert.ok(row, 'docs/deploy.md has a Sizing row for vigil');
  const [, reqCpu, reqMi, limCpu, limMi] = row;
  const mi = (q: string): number => (q.endsWith('Gi') ? Number(q.slice(0, -2)) * 1024 : Number(q.slice(0, -2)));
  assert.deepEqual(
    [vigil.resources.requests.cpu, mi(vigil.resources.requests.memory), vigil.resources.limits.cpu, mi(vigil.resources.limits.memory)],
    [reqCpu, Number(reqMi), limCpu, Number(limMi)],
  );
  // Measured (docs/deploy.md "Sizing"): 529 MiB after 70,000 distinct callers with Redis, plus streams.
  assert.ok(Number(limMi) >= 768, `a limit of ${limMi}Mi leaves no room above the measured 529 MiB plus held streams`);
});

// --- The policy ConfigMap ---------------------------------------------------------------------------------------

test('k8s/base/policy.yaml is byte-identical to policy/default.yaml', () => {
  assert.ok(readFileSync(join(BASE, 'policy.yaml')).equals(readFileSync(defaultPolicyPath)), 'k8s/base/policy.yaml differs from policy/default.yaml: copy it again');
});

test('the policy ConfigMap is mounted as a directory (no subPath) at VIGIL_POLICY, and vigil loads it from a kubelet-style mount', () => {
  const ms = render(OVERLAY);
  const shop = one(ms, 'Deployment', 'shop');
  const vigil = containerOf(shop, 'vigil');
  const policyDir = envOf(vigil, 'VIGIL_POLICY')?.value as string;
  assert.equal(policyDir, '/etc/vigil/policy');
  const mounts = (vigil.volumeMounts as Obj[]).filter((m) => m.mountPath === policyDir);
  assert.equal(mounts.length, 1, 'one volumeMount at VIGIL_POLICY');
  const mount = mounts[0]!;
  assert.equal(mount.subPath, undefined, 'no subPath: kubelet never updates a subPath mount');
  assert.equal(mount.subPathExpr, undefined, 'no subPathExpr');
  assert.equal(mount.readOnly, true);
  const volume = (shop.spec.template.spec.volumes as Obj[]).find((v) => v.name === mount.name);
  assert.ok(volume?.configMap, 'the mount is a ConfigMap volume');
  assert.equal(volume.configMap.items, undefined, 'every key of the ConfigMap is mounted');
  const cm = one(ms, 'ConfigMap', volume.configMap.name);
  assert.equal(cm.metadata.namespace, shop.metadata.namespace);
  assert.deepEqual(Object.keys(cm.data), [POLICY_FILE_IN_DIR]);
  assert.equal(cm.data[POLICY_FILE_IN_DIR], readFileSync(defaultPolicyPath, 'utf8'));

  // The volume as kubelet lays it out: <dir>/policy.yaml → ..data/policy.yaml, ..data → ..<timestamp>.
  const tmp = mkdtempSync(join(tmpdir(), 'vigil-k8s-'));
  try {
    const dir = join(tmp, 'policy');
    mkdirSync(join(dir, '..2026_11_22_01_00_00.000000001'), { recursive: true });
    for (const [key, text] of Object.entries(cm.data as Record<string, string>)) {
      writeFileSync(join(dir, '..2026_11_22_01_00_00.000000001', key), text);
      symlinkSync(join('..data', key), join(dir, key));
    }
    symlinkSync('..2026_11_22_01_00_00.000000001', join(dir, '..data'));
    const file = policyFileFor(dir);
    assert.equal(file, join(dir, POLICY_FILE_IN_DIR));
    assert.ok(loadPolicyFile(file).detectors.length > 0, 'the mounted policy compiles, with detectors');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

// --- Settings and the Secret --------------------------------------------------------------------------------------

test("vigil's environment passes vigil's own settings parser, with the overlay's Secret", () => {
  const base = render(BASE);
  const overlay = render(OVERLAY);
  assert.equal(ofKind(base, 'Secret').length, 0, 'the base carries no Secret');
  const vigil = containerOf(one(overlay, 'Deployment', 'shop'), 'vigil');
  const known = new Set(SETTINGS_DOC.map((s) => s.name));
  for (const e of vigil.env as Obj[]) assert.ok(known.has(e.name), `${e.name} is a setting vigil reads (README "Settings")`);
  for (const name of ['REDIS_URL', 'VIGIL_KEY_SECRET', 'VIGIL_ADMIN_TOKEN']) {
    const ref = envOf(vigil, name)?.valueFrom?.secretKeyRef;
    assert.ok(ref, `${name} comes from a Secret`);
    assert.notEqual(ref.optional, true, `${name}: not optional`);
  }
  const env = resolvedEnv(vigil, overlay);
  const settings = parseSettings(env);
  assert.equal(settings.redisUrl, 'redis://vigil-redis:6379/0');
  assert.equal(new URL(settings.redisUrl!).hostname, one(overlay, 'Service', 'vigil-redis').metadata.name);
  assert.ok(settings.keySecret && settings.adminToken, 'key secret and admin token set');
  assert.equal(settings.policyPath, '/etc/vigil/policy');
  assert.equal(settings.shadowMode, true, 'the example overlay starts in shadow mode');
  // Obviously fake values, to be replaced; nothing that looks like a real secret is committed.
  for (const [k, v] of Object.entries(secretValues(overlay, 'vigil'))) {
    if (k !== 'REDIS_URL') assert.match(v, /^REPLACE-ME-fake-/, `${k} is an obvious placeholder`);
  }
  // The base alone enforces (no shadow setting).
  assert.equal(envOf(containerOf(one(base, 'Deployment', 'shop'), 'vigil'), 'VIGIL_SHADOW_MODE'), undefined);
});

test('the overlay is the base plus a namespace, the Secret, the image and shadow mode, and nothing else', () => {
  const base = render(BASE);
  const overlay = render(OVERLAY);
  const ns = one(overlay, 'Namespace', 'shop');
  assert.equal(ns.metadata.labels?.['istio-injection'], 'enabled', 'sidecar injection on');
  for (const m of overlay) if (m.kind !== 'Namespace') assert.equal(m.metadata.namespace, 'shop', `${m.kind}/${m.metadata.name} in shop`);
  const strip = (ms: Manifest[]) =>
    ms
      .filter((m) => m.kind !== 'Namespace' && m.kind !== 'Secret')
      .map((m) => {
        const c = structuredClone(m) as Obj;
        delete c.metadata.namespace;
        if (c.kind === 'Deployment' && c.metadata.name === 'shop') {
          const v = containerOf(c, 'vigil');
          v.env = (v.env as Obj[]).filter((e) => e.name !== 'VIGIL_SHADOW_MODE');
        }
        return c;
      });
  assert.deepEqual(strip(overlay), strip(base));
  assert.equal(envOf(containerOf(one(overlay, 'Deployment', 'shop'), 'vigil'), 'VIGIL_SHADOW_MODE')?.value, 'true');
  assert.equal(containerOf(one(overlay, 'Deployment', 'shop'), 'vigil').image, 'ghcr.io/vigil/vigil:0.1.0');
});

test('every YAML file of the base and the overlay is used by its kustomization', () => {
  for (const dir of [BASE, OVERLAY]) {
    const k = parseYaml(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Obj;
    const used = new Set<string>([
      ...((k.resources ?? []) as string[]),
      ...((k.patches ?? []) as Obj[]).map((p) => p.path as string),
      ...[...((k.configMapGenerator ?? []) as Obj[]), ...((k.secretGenerator ?? []) as Obj[])].flatMap((g) => ((g.files ?? []) as string[]).map((f) => f.slice(f.indexOf('=') + 1))),
    ]);
    for (const f of readdirSync(dir).filter((x) => /\.ya?ml$/.test(x) && x !== 'kustomization.yaml')) {
      assert.ok(used.has(f), `${dir}/${f} is listed nowhere in its kustomization.yaml`);
    }
  }
});

// --- Services, monitoring, network ---------------------------------------------------------------------------------

test('Services and the PodMonitor select the pods and ports they mean', () => {
  const ms = render(OVERLAY);
  const pods = podSpecs(ms);
  for (const svc of ofKind(ms, 'Service')) {
    const targets = pods.filter((p) => selects(svc.spec.selector, p.labels));
    assert.equal(targets.length, 1, `Service ${svc.metadata.name} selects one Deployment's pods`);
    for (const port of svc.spec.ports as Obj[]) {
      assert.doesNotThrow(() => portNumber(port.targetPort ?? port.port, targets[0]!.spec.containers), `${svc.metadata.name}:${port.name}`);
    }
  }
  assert.equal(portNumber('http', one(ms, 'Deployment', 'shop').spec.template.spec.containers), 8080);

  const pm = one(ms, 'PodMonitor', 'vigil');
  const shop = pods.find((p) => p.name === 'shop')!;
  assert.ok(selects(pm.spec.selector.matchLabels, shop.labels), 'the PodMonitor selects the shop pods');
  assert.ok(!selects(pm.spec.selector.matchLabels, pods.find((p) => p.name === 'vigil-redis')!.labels), 'and not Redis');
  const [endpoint] = pm.spec.podMetricsEndpoints as Obj[];
  assert.equal(endpoint!.path, '/metrics');
  const vigil = (shop.spec.containers as Obj[]).find((c) => c.name === 'vigil')!;
  assert.equal(portNumber(endpoint!.port, [vigil]), 9464, "scrapes vigil's admin port");
});

test('NetworkPolicy: the app port open, the admin port only to Prometheus, ext_proc to nobody, Redis only to shop', () => {
  const ms = render(OVERLAY);
  const shopLabels = podSpecs(ms).find((p) => p.name === 'shop')!.labels;
  const policies = ofKind(ms, 'NetworkPolicy');
  const shopPolicies = policies.filter((p) => selects(p.spec.podSelector.matchLabels, shopLabels));
  assert.equal(shopPolicies.length, 1, 'one NetworkPolicy selects the shop pods');
  const np = shopPolicies[0]!;
  assert.deepEqual(np.spec.policyTypes, ['Ingress']);
  const rules = np.spec.ingress as Obj[];
  const portsOf = (r: Obj): number[] => ((r.ports ?? []) as Obj[]).map((p) => p.port as number);
  for (const r of rules) assert.ok(portsOf(r).length > 0, 'no rule admits every port');
  assert.ok(!rules.some((r) => portsOf(r).includes(50051)), 'no rule admits the ext_proc port');
  const open = rules.filter((r) => r.from === undefined);
  assert.deepEqual(open.flatMap(portsOf), [8080], 'only the app port is open to all');
  const admin = rules.filter((r) => portsOf(r).includes(9464));
  assert.equal(admin.length, 1);
  const from = admin[0]!.from as Obj[];
  assert.equal(from.length, 1);
  assert.deepEqual(from[0]!.namespaceSelector?.matchLabels, { 'kubernetes.io/metadata.name': 'monitoring' });
  assert.deepEqual(from[0]!.podSelector?.matchLabels, { 'app.kubernetes.io/name': 'prometheus' });
  assert.equal(from[0]!.ipBlock, undefined);

  const redisLabels = podSpecs(ms).find((p) => p.name === 'vigil-redis')!.labels;
  const redis = policies.filter((p) => selects(p.spec.podSelector.matchLabels, redisLabels));
  assert.equal(redis.length, 1, 'one NetworkPolicy selects Redis');
  assert.deepEqual(redis[0]!.spec.ingress, [{ from: [{ podSelector: { matchLabels: { app: 'shop' } } }], ports: [{ protocol: 'TCP', port: 6379 }] }]);
});

test('Redis: no persistence, bounded memory, volatile-ttl eviction', () => {
  const redis = containerOf(one(render(BASE), 'Deployment', 'vigil-redis'), 'redis');
  const args = redis.args as string[];
  assert.equal(args[0], 'redis-server');
  const opt = (name: string): string | undefined => {
    const i = args.lastIndexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  assert.equal(opt('save'), '');
  assert.equal(opt('appendonly'), 'no');
  assert.equal(opt('maxmemory-policy'), 'volatile-ttl');
  const m = /^(\d+)mb$/.exec(opt('maxmemory') ?? '');
  assert.ok(m, 'maxmemory in mb');
  const limit = /^(\d+)Mi$/.exec(redis.resources.limits.memory as string);
  assert.ok(limit, 'memory limit in Mi');
  assert.ok(Number(m[1]) < Number(limit[1]) * 0.8, 'maxmemory leaves headroom under the container limit');
});

// --- The EnvoyFilter ---------------------------------------------------------------------------------------------

test('EnvoyFilter: the ext_proc cluster and filter, as vigil needs them, valid as Envoy protos', () => {
  const ms = render(OVERLAY);
  const ef = one(ms, 'EnvoyFilter', 'vigil-ext-proc');
  const shop = one(ms, 'Deployment', 'shop');
  const vigil = containerOf(shop, 'vigil');
  assert.ok(selects(ef.spec.workloadSelector.labels, shop.spec.template.metadata.labels), 'selects the shop pods');
  assert.ok(!selects(ef.spec.workloadSelector.labels, one(ms, 'Deployment', 'vigil-redis').spec.template.metadata.labels), 'not Redis');
  const patches = ef.spec.configPatches as Obj[];
  assert.equal(patches.length, 2);
  const [clusterPatch, filterPatch] = patches as [Obj, Obj];

  // 1) CLUSTER ADD → vigil's loopback ext_proc address, HTTP/2, circuit breakers raised.
  assert.equal(clusterPatch.applyTo, 'CLUSTER');
  assert.equal(clusterPatch.match.context, 'SIDECAR_OUTBOUND');
  assert.equal(clusterPatch.patch.operation, 'ADD');
  const cluster = clusterPatch.patch.value as Obj;
  assert.deepEqual(validateEnvoy('envoy.config.cluster.v3.Cluster', cluster), []);
  const grpc = parseAddress(envOf(vigil, 'VIGIL_GRPC_ADDRESS')?.value)!;
  const sa = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  assert.deepEqual({ host: sa.address, port: sa.port_value }, grpc, "the cluster points at vigil's VIGIL_GRPC_ADDRESS");
  const http = cluster.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
  assert.ok(http.explicit_http_config.http2_protocol_options, 'explicit HTTP/2');
  const maxStreams = parseSettings({}).maxStreams;
  const [thresholds] = cluster.circuit_breakers.thresholds as Obj[];
  assert.ok(thresholds!.max_requests > 1024 && thresholds!.max_requests >= maxStreams, 'max_requests raised to VIGIL_MAX_STREAMS');
  assert.ok(thresholds!.max_pending_requests > 1024);

  // 2) HTTP_FILTER INSERT_BEFORE the router on the inbound app port.
  assert.equal(filterPatch.applyTo, 'HTTP_FILTER');
  assert.equal(filterPatch.match.context, 'SIDECAR_INBOUND');
  assert.equal(filterPatch.match.listener.portNumber, portNumber('http', shop.spec.template.spec.containers), 'the app container port');
  assert.equal(filterPatch.match.listener.filterChain.filter.name, 'envoy.filters.network.http_connection_manager');
  assert.equal(filterPatch.match.listener.filterChain.filter.subFilter.name, 'envoy.filters.http.router');
  assert.equal(filterPatch.patch.operation, 'INSERT_BEFORE');
  const filter = filterPatch.patch.value as Obj;
  assert.deepEqual(validateEnvoy('envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', filter), []);
  assert.equal(filter.name, 'envoy.filters.http.ext_proc');
  const cfg = filter.typed_config as Obj;
  assert.equal(cfg['@type'], 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor');
  assert.equal(cfg.grpc_service.envoy_grpc.cluster_name, cluster.name, 'the filter uses the added cluster by its name');
  assert.equal(cfg.failure_mode_allow, true, 'fail open');
  assert.equal(cfg.allow_mode_override, true, 'mode_override honoured (login and export bodies)');
  assert.deepEqual(cfg.request_attributes, ['source.address']);
  assert.equal(cfg.observability_mode, undefined, 'vigil answers (not observability mode)');
  assert.deepEqual(cfg.processing_mode, {
    request_header_mode: 'SEND', response_header_mode: 'SEND',
    request_body_mode: 'NONE', response_body_mode: 'NONE',
    request_trailer_mode: 'SKIP', response_trailer_mode: 'SKIP',
  });
  const timeoutMs = Number(/^([\d.]+)s$/.exec(cfg.message_timeout)?.[1]) * 1000;
  assert.ok(timeoutMs > parseSettings({}).storeTimeoutMs && timeoutMs <= 200, 'message_timeout above the store deadline, at most 200 ms');
});

test('the Envoy validation catches planted errors in the EnvoyFilter values', () => {
  const ef = one(render(BASE), 'EnvoyFilter', 'vigil-ext-proc');
  const cluster = structuredClone(ef.spec.configPatches[0].patch.value);
  cluster.connect_timeout = 'fast';
  cluster.circuit_breakers.thresholds[0].max_requestz = 1;
  const clusterProblems = validateEnvoy('envoy.config.cluster.v3.Cluster', cluster);
  assert.ok(clusterProblems.some((p) => p.startsWith('connect_timeout:')), clusterProblems.join('\n'));
  assert.ok(clusterProblems.some((p) => p.startsWith('circuit_breakers.thresholds[0].max_requestz:')), clusterProblems.join('\n'));
  const filter = structuredClone(ef.spec.configPatches[1].patch.value);
  filter.typed_config.processing_mode.request_header_mode = 'SENDD';
  filter.typed_config.failure_mode_allow = 'yes';
  const filterProblems = validateEnvoy('envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', filter);
  assert.ok(filterProblems.some((p) => p.includes('processing_mode.request_header_mode')), filterProblems.join('\n'));
  assert.ok(filterProblems.some((p) => p.includes('failure_mode_allow')), filterProblems.join('\n'));
});

// --- The loader itself: what it implements, and that it refuses the rest ------------------------------------------

const fixtureDirs: string[] = [];
after(() => {
  for (const dir of fixtureDirs) rmSync(dir, { recursive: true, force: true });
});

function fixture(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-kustomize-'));
  fixtureDirs.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata: { name: web }
spec:
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers:
        - name: a
          image: registry.example:5000/team/a:1.0
          args: [x]
          env: [{ name: KEEP, value: "1" }, { name: CHANGE, value: old }]
        - name: b
          image: b@sha256:${'0'.repeat(64)}
`;

test('loader: resources, generators, strategic-merge patches, namespace and images', () => {
  const dir = fixture({
    'base/kustomization.yaml': 'resources: [deploy.yaml]\nconfigMapGenerator:\n  - name: cfg\n    files: [conf.txt, renamed=other.txt]\n    literals: [A=1=2]\ngeneratorOptions:\n  disableNameSuffixHash: true\n  labels: { team: x }\n',
    'base/deploy.yaml': DEPLOYMENT,
    'base/conf.txt': 'hello\n',
    'base/other.txt': 'other',
    'overlay/kustomization.yaml':
      'namespace: ns\nresources: [../base]\nsecretGenerator:\n  - { name: s, literals: [K=v], options: { disableNameSuffixHash: true } }\n' +
      'patches: [{ path: patch.yaml }]\nimages:\n  - { name: registry.example:5000/team/a, newTag: "2.0" }\n  - { name: b, newName: mirror/b }\n',
    'overlay/patch.yaml':
      'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web }\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n' +
      '        - name: a\n          env: [{ name: CHANGE, value: new }, { name: ADDED, value: "2" }]\n        - name: c\n          image: c:3\n',
  });
  try {
    const ms = kustomize(join(dir, 'overlay'));
    assert.deepEqual(ms.map((m) => `${m.kind}/${m.metadata.namespace}/${m.metadata.name}`), ['Deployment/ns/web', 'ConfigMap/ns/cfg', 'Secret/ns/s']);
    const cm = ms[1] as Obj;
    assert.deepEqual(cm.data, { 'conf.txt': 'hello\n', renamed: 'other', A: '1=2' });
    assert.deepEqual(cm.metadata.labels, { team: 'x' });
    assert.deepEqual((ms[2] as Obj).data, { K: Buffer.from('v').toString('base64') });
    const d = ms[0] as Obj;
    assert.equal(d.spec.replicas, 3);
    assert.deepEqual(d.spec.selector, { matchLabels: { app: 'web' } });
    const [a, b, c] = d.spec.template.spec.containers as Obj[];
    assert.deepEqual(a, {
      name: 'a', image: 'registry.example:5000/team/a:2.0', args: ['x'],
      env: [{ name: 'KEEP', value: '1' }, { name: 'CHANGE', value: 'new' }, { name: 'ADDED', value: '2' }],
    });
    assert.equal(b!.image, `mirror/b@sha256:${'0'.repeat(64)}`);
    assert.deepEqual(c, { name: 'c', image: 'c:3' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loader: refuses what it does not implement, and what kustomize refuses', () => {
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['an unimplemented field', { 'kustomization.yaml': 'commonLabels: { a: b }\nresources: [d.yaml]\n', 'd.yaml': DEPLOYMENT }, /"commonLabels" is not implemented/],
    ['a hashed generator name', { 'kustomization.yaml': 'configMapGenerator: [{ name: c, literals: [a=b] }]\n' }, /name-suffix hash is not implemented/],
    ['a file outside the root', { 'k/kustomization.yaml': 'resources: [../d.yaml]\n', 'd.yaml': DEPLOYMENT }, /is not in or below/],
    ['a remote resource', { 'kustomization.yaml': 'resources: [https://example.com/x.yaml]\n' }, /remote resource/],
    ['a duplicate object', { 'kustomization.yaml': 'resources: [d.yaml, e.yaml]\n', 'd.yaml': DEPLOYMENT, 'e.yaml': DEPLOYMENT }, /already defined/],
    ['a patch without a target', { 'kustomization.yaml': 'resources: [d.yaml]\npatches: [{ path: p.yaml }]\n', 'd.yaml': DEPLOYMENT, 'p.yaml': 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: other }\n' }, /matches 0 resources/],
    ['a JSON 6902 patch', { 'kustomization.yaml': 'resources: [d.yaml]\npatches: [{ path: p.yaml, target: { kind: Deployment, name: web } }]\n', 'd.yaml': DEPLOYMENT, 'p.yaml': '- { op: add, path: /spec/replicas, value: 2 }\n' }, /JSON 6902/],
    ['an inline patch', { 'kustomization.yaml': 'resources: [d.yaml]\npatches: [{ patch: "x" }]\n', 'd.yaml': DEPLOYMENT }, /patches\[0\]\.patch is not implemented/],
    ['a list with no known merge key', { 'kustomization.yaml': 'resources: [d.yaml]\npatches: [{ path: p.yaml }]\n', 'd.yaml': DEPLOYMENT, 'p.yaml': 'kind: Deployment\nmetadata: { name: web }\nspec: { template: { spec: { containers: [{ name: a, args: [y] }] } } }\n' }, /list spec\.template\.spec\.containers\[\]\.args of a Deployment/],
    ['a $patch directive', { 'kustomization.yaml': 'resources: [d.yaml]\npatches: [{ path: p.yaml }]\n', 'd.yaml': DEPLOYMENT, 'p.yaml': 'kind: Deployment\nmetadata: { name: web }\nspec: { $patch: replace }\n' }, /directive spec\.\$patch/],
    ['an image matching nothing', { 'kustomization.yaml': 'resources: [d.yaml]\nimages: [{ name: nginx, newTag: "1" }]\n', 'd.yaml': DEPLOYMENT }, /matches no container/],
    ['an unknown kind under namespace', { 'kustomization.yaml': 'namespace: x\nresources: [r.yaml]\n', 'r.yaml': 'apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: w }\n' }, /does not know whether kind Widget is namespaced/],
  ];
  for (const [what, files, error] of cases) {
    const dir = fixture(files);
    try {
      const root = files['k/kustomization.yaml'] ? join(dir, 'k') : dir;
      assert.throws(() => kustomize(root), (err: unknown) => err instanceof KustomizeError && error.test(err.message), what);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test("docs/deploy.md's EnvoyFilter cluster patch for mTLS: a valid Envoy Cluster, the base's cluster plus TLS to vigil's Service", () => {
  const doc = readFileSync(join(projectRoot, 'docs', 'deploy.md'), 'utf8');
  const at = doc.indexOf('EnvoyFilter cluster patch for mTLS:');
  const block = /```yaml\n([\s\S]*?)```/.exec(doc.slice(at));
  assert.ok(at >= 0 && block, 'docs/deploy.md: the YAML block after "EnvoyFilter cluster patch for mTLS:"');
  const cluster = parseYaml(block[1]!, { uniqueKeys: true }) as Obj;
  assert.deepEqual(validateEnvoy('envoy.config.cluster.v3.Cluster', cluster, { rejectDeprecated: true }), []);
  // Everything the base's loopback cluster has (HTTP/2, raised breakers, the name the filter uses) …
  const base = one(render(BASE), 'EnvoyFilter', 'vigil-ext-proc').spec.configPatches[0].patch.value as Obj;
  for (const k of ['name', 'connect_timeout', 'typed_extension_protocol_options', 'circuit_breakers']) assert.deepEqual(cluster[k], base[k], k);
  // … plus TLS: Envoy's certificate, the CA, vigil's name checked and sent, ALPN h2.
  const socket = cluster.transport_socket as Obj;
  assert.equal(socket.name, 'envoy.transport_sockets.tls');
  const ctx = socket.typed_config as Obj;
  assert.equal(ctx['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  assert.deepEqual(ctx.common_tls_context.alpn_protocols, ['h2']);
  assert.ok(ctx.common_tls_context.tls_certificates[0].certificate_chain.filename && ctx.common_tls_context.tls_certificates[0].private_key.filename);
  assert.ok(ctx.common_tls_context.validation_context.trusted_ca.filename);
  const sa = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
  assert.deepEqual(ctx.common_tls_context.validation_context.match_typed_subject_alt_names.map((m: Obj) => m.matcher.exact), [ctx.sni]);
  assert.equal(ctx.sni, sa.address, "the name checked is the Service's");
  assert.equal(sa.port_value, base.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value, "vigil's ext_proc port");
});

test('the shipped EnvoyFilter stays plaintext on loopback (the sidecar case), which vigil serves without VIGIL_GRPC_INSECURE', () => {
  const ms = render(OVERLAY);
  const cluster = one(ms, 'EnvoyFilter', 'vigil-ext-proc').spec.configPatches[0].patch.value as Obj;
  assert.equal(cluster.transport_socket, undefined);
  const vigil = containerOf(one(ms, 'Deployment', 'shop'), 'vigil');
  assert.equal(envOf(vigil, 'VIGIL_GRPC_INSECURE'), undefined, 'not needed on loopback');
  assert.equal(parseAddress(envOf(vigil, 'VIGIL_GRPC_ADDRESS')?.value)!.host, '127.0.0.1');
});
