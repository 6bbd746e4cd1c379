// The Envoy configurations under envoy/ (the compose front proxy and the examples), checked three ways:
// 1. every file is a valid envoy.config.bootstrap.v3.Bootstrap by Envoy's own protos (test/helpers/envoy-validate.ts,
//    the envoy-api snapshot of @grpc/grpc-js-xds, ≈ Envoy 1.31), and the validator really catches planted errors;
// 2. what vigil relies on (docs/protocol.md): ext_proc before the router, fail-open, a message timeout, HTTP/2 to
//    vigil with raised circuit breakers, source.address, allow_mode_override, graceful close, the stripped
//    x-jwt-payload, all tied to vigil's own constants and default policy where there is one;
// 3. the shipped ext_proc filter config played by envoy-sim against a real (in-process) vigil: a login's body
//    reaches vigil only because of allow_mode_override, and observability mode streams it without waiting.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml, parseDocument } from 'yaml';
import { resolveConfig } from '../../src/envoy-sim/config.js';
import { EnvoySim } from '../../src/envoy-sim/index.js';
import type { SimFilterConfig } from '../../src/envoy-sim/types.js';
import { EXT_PROC_SERVICE_NAME } from '../../src/extproc/proto.js';
import { matchEndpoint } from '../../src/policy/endpoints.js';
import { loadPolicyFile } from '../../src/policy/load.js';
import { defaultPolicyPath, projectRoot } from '../../src/paths.js';
import type { Endpoint } from '../../src/request/types.js';
import { parseSettings } from '../../src/settings.js';
import { envoyType, validateEnvoy } from '../helpers/envoy-validate.js';
import { makeTestPki } from '../helpers/test-pki.js';
import { type TestVigil, startTestVigil } from '../helpers/vigil.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';

type Doc = Record<string, any>;

const ENVOY_DIR = join(projectRoot, 'envoy');
const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
const EXT_PROC = 'envoy.filters.http.ext_proc';
const EXT_PROC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor';
const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const H2_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const GRACEFUL_CLOSE = 'envoy.reloadable_features.ext_proc_graceful_grpc_close';

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(e.name) ? [p] : [];
  });
}

const FILES = yamlFiles(ENVOY_DIR).map((p) => relative(projectRoot, p)).sort();
const text = (file: string): string => readFileSync(join(projectRoot, file), 'utf8');
const load = (file: string): Doc => parseYaml(text(file), { uniqueKeys: true }) as Doc;

/** Seconds of a proto3 JSON Duration ("0.2s"). */
function seconds(d: unknown): number {
  const m = typeof d === 'string' ? /^(\d+(?:\.\d{1,9})?)s$/.exec(d) : null;
  assert.ok(m, `not a Duration: ${JSON.stringify(d)}`);
  return Number(m[1]);
}

// --- Walking a bootstrap ------------------------------------------------------------------------------------------

function hcmOf(doc: Doc): Doc {
  const listeners: Doc[] = doc.static_resources?.listeners ?? [];
  const hcms = listeners.flatMap((l) => (l.filter_chains ?? []).flatMap((fc: Doc) => fc.filters ?? []))
    .filter((f: Doc) => f.typed_config?.['@type'] === HCM_TYPE);
  assert.equal(hcms.length, 1, 'one HTTP connection manager');
  return hcms[0].typed_config;
}
const filterNames = (doc: Doc): string[] => (hcmOf(doc).http_filters ?? []).map((f: Doc) => f.name);
function extProcOf(doc: Doc): Doc {
  const f = (hcmOf(doc).http_filters ?? []).filter((x: Doc) => x.typed_config?.['@type'] === EXT_PROC_TYPE);
  assert.equal(f.length, 1, 'one ext_proc filter');
  assert.equal(f[0].name, EXT_PROC, 'named envoy.filters.http.ext_proc (typed_per_filter_config uses that key)');
  return f[0].typed_config;
}
const clusterOf = (doc: Doc, name: string): Doc => {
  const c = (doc.static_resources?.clusters ?? []).find((x: Doc) => x.name === name);
  assert.ok(c, `cluster ${name}`);
  return c;
};
const endpointsOf = (cluster: Doc): Array<{ address: string; port: number }> =>
  (cluster.load_assignment?.endpoints ?? []).flatMap((e: Doc) => e.lb_endpoints ?? [])
    .map((e: Doc) => e.endpoint.address.socket_address)
    .map((s: Doc) => ({ address: s.address, port: Number(s.port_value) }));
const routesOf = (doc: Doc): Doc[] => (hcmOf(doc).route_config.virtual_hosts as Doc[]).flatMap((v) => v.routes);
const perRoute = (route: Doc): Doc | undefined => route.typed_per_filter_config?.[EXT_PROC];
const runtimeValue = (doc: Doc, key: string): unknown =>
  (doc.layered_runtime?.layers ?? []).map((l: Doc) => l.static_layer?.[key]).find((v: unknown) => v !== undefined);

// --- 1. Validity ---------------------------------------------------------------------------------------------------

test('envoy/: the compose config and the examples are all there', () => {
  for (const f of ['envoy/envoy.yaml', 'envoy/examples/body-inspection.yaml', 'envoy/examples/mtls.yaml', 'envoy/examples/observability.yaml']) {
    assert.ok(FILES.includes(f), `${f} is missing (found: ${FILES.join(', ')})`);
  }
});

for (const file of FILES) {
  test(`${file} is valid YAML and a valid Bootstrap by Envoy's protos, without deprecated fields`, () => {
    const parsed = parseDocument(text(file), { uniqueKeys: true });
    assert.deepEqual([...parsed.errors, ...parsed.warnings].map((e) => e.message), []);
    assert.deepEqual(validateEnvoy(BOOTSTRAP, parsed.toJS(), { rejectDeprecated: true }), []);
  });
}

const EP = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[1].typed_config';
const PLANTED: Array<{ what: string; plant: (d: Doc) => void; path: string; says: RegExp }> = [
  {
    what: 'an unknown field',
    plant: (d) => { extProcOf(d).processing_mode.request_body_modee = 'NONE'; },
    path: `${EP}.processing_mode.request_body_modee`,
    says: /^unknown field/,
  },
  {
    what: 'a string for a bool',
    plant: (d) => { extProcOf(d).failure_mode_allow = 'true'; },
    path: `${EP}.failure_mode_allow`,
    says: /expected true or false, got string "true"/,
  },
  {
    what: 'a string for an integer',
    plant: (d) => { d.admin.address.socket_address.port_value = 'admin'; },
    path: 'admin.address.socket_address.port_value',
    says: /expected an integer \(uint32\)/,
  },
  {
    what: 'an object for a repeated field',
    plant: (d) => { extProcOf(d).request_attributes = { 'source.address': true }; },
    path: `${EP}.request_attributes`,
    says: /expected a list/,
  },
  {
    what: 'a scalar for a message',
    plant: (d) => { extProcOf(d).processing_mode = 'SEND'; },
    path: `${EP}.processing_mode`,
    says: /expected an object \(envoy\.extensions\.filters\.http\.ext_proc\.v3\.ProcessingMode\)/,
  },
  {
    what: 'an unknown enum name',
    plant: (d) => { extProcOf(d).processing_mode.request_body_mode = 'BUFFERED_PARTIALLY'; },
    path: `${EP}.processing_mode.request_body_mode`,
    says: /unknown enum value "BUFFERED_PARTIALLY"/,
  },
  {
    what: 'an unresolvable @type',
    plant: (d) => { hcmOf(d).http_filters[2].typed_config['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr'; },
    path: 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[2].typed_config.@type',
    says: /unresolvable type/,
  },
  {
    what: 'a bad Duration',
    plant: (d) => { extProcOf(d).message_timeout = '200ms'; },
    path: `${EP}.message_timeout`,
    says: /invalid Duration "200ms"/,
  },
  {
    what: 'a Duration above its validate rule',
    plant: (d) => { extProcOf(d).message_timeout = '3601s'; },
    path: `${EP}.message_timeout`,
    says: /≤ 3600s/,
  },
  {
    what: 'a wrapper written as an object',
    plant: (d) => { clusterOf(d, 'vigil').circuit_breakers.thresholds[0].max_requests = { value: 100000 }; },
    path: 'static_resources.clusters[1].circuit_breakers.thresholds[0].max_requests',
    says: /UInt32Value's JSON form is a plain value/,
  },
  {
    what: 'a list for a Struct',
    plant: (d) => { d.layered_runtime.layers[0].static_layer = [GRACEFUL_CLOSE]; },
    path: 'layered_runtime.layers[0].static_layer',
    says: /expected an object \(google\.protobuf\.Struct\)/,
  },
  {
    what: 'two members of a oneof',
    plant: (d) => { d.layered_runtime.layers[1].static_layer = { a: 1 }; },
    path: 'layered_runtime.layers[1]',
    says: /oneof layer_specifier has more than one field set \(static_layer, admin_layer\)/,
  },
  {
    what: 'a missing required field',
    plant: (d) => { delete extProcOf(d).grpc_service; },
    path: `${EP}.grpc_service`,
    says: /required field is missing/,
  },
  {
    what: 'a bad map value',
    plant: (d) => { clusterOf(d, 'vigil').typed_extension_protocol_options[H2_OPTIONS].explicit_http_config.http2_protocol_options = true; },
    path: `static_resources.clusters[1].typed_extension_protocol_options["${H2_OPTIONS}"].explicit_http_config.http2_protocol_options`,
    says: /expected an object/,
  },
  {
    what: 'a port out of its validate range',
    plant: (d) => { d.static_resources.listeners[0].address.socket_address.port_value = 80800; },
    path: 'static_resources.listeners[0].address.socket_address.port_value',
    says: /≤ 65535/,
  },
];

describe('the validator catches planted errors in envoy/envoy.yaml, naming the path', () => {
  for (const { what, plant, path, says } of PLANTED) {
    test(what, () => {
      const doc = load('envoy/envoy.yaml');
      plant(doc);
      const problems = validateEnvoy(BOOTSTRAP, doc);
      assert.equal(problems.length, 1, problems.join('\n'));
      const [problem] = problems as [string];
      assert.ok(problem.startsWith(`${path}: `), `expected the path ${path}, got: ${problem}`);
      assert.match(problem.slice(path.length + 2), says);
    });
  }

  test('camelCase JSON names are accepted like Envoy accepts them, but not twice', () => {
    const doc = load('envoy/envoy.yaml');
    const ep = extProcOf(doc);
    delete ep.failure_mode_allow;
    ep.failureModeAllow = true;
    assert.deepEqual(validateEnvoy(BOOTSTRAP, doc), []);
    ep.failure_mode_allow = true;
    assert.deepEqual(validateEnvoy(BOOTSTRAP, doc), [`${EP}.failure_mode_allow: field failure_mode_allow given twice (as failureModeAllow and failure_mode_allow)`]);
  });

  test('a TypedStruct is checked against its type_url (the Istio EnvoyFilter form)', () => {
    const filter = {
      name: EXT_PROC,
      typed_config: {
        '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct',
        type_url: EXT_PROC_TYPE,
        value: { grpc_service: { envoy_grpc: { cluster_name: 'vigil' } }, failure_mode_allow: 'yes' },
      },
    };
    assert.deepEqual(validateEnvoy('envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', filter), [
      'typed_config.value.failure_mode_allow: expected true or false, got string "yes"',
    ]);
  });

  test('types the snapshot cannot load, and v2 types, are problems that say why', () => {
    const bootstrap = {
      tracing: { http: { name: 'oc', typed_config: { '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenCensusConfig' } } },
      overload_manager: {
        resource_monitors: [{ name: 'heap', typed_config: { '@type': 'type.googleapis.com/envoy.config.resource_monitor.fixed_heap.v2alpha.FixedHeapConfig', max_heap_size_bytes: 1 } }],
      },
    };
    const problems = validateEnvoy(BOOTSTRAP, bootstrap);
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0]!, /^tracing\.http\.typed_config\.@type: unresolvable type .*not loadable: missing opencensus\//);
    assert.match(problems[1]!, /^overload_manager\.resource_monitors\[0\]\.typed_config\.@type: .* is a v2 API type/);
  });

  test('deprecated fields are reported on request', () => {
    const cluster = { name: 'vigil', connect_timeout: '1s', http2_protocol_options: {} };
    assert.deepEqual(validateEnvoy('envoy.config.cluster.v3.Cluster', cluster), []);
    assert.deepEqual(validateEnvoy('envoy.config.cluster.v3.Cluster', cluster, { rejectDeprecated: true }), ['http2_protocol_options: field is deprecated']);
  });

  test('an unknown top-level type is the caller\'s mistake: it throws', () => {
    assert.throws(() => validateEnvoy('envoy.config.bootstrap.v3.Bootstrapp', {}), /not a message type/);
  });
});

// --- 2. What vigil relies on ---------------------------------------------------------------------------------------

const policy = loadPolicyFile(defaultPolicyPath);
const settings = parseSettings({});

for (const file of FILES) {
  describe(`${file}: what vigil relies on`, () => {
    const doc = load(file);

    test('ext_proc runs after jwt_authn (if any) and before the router, which is last', () => {
      const names = filterNames(doc);
      const ext = names.indexOf(EXT_PROC);
      assert.ok(ext >= 0, names.join(', '));
      assert.equal(names[names.length - 1], 'envoy.filters.http.router', 'the router is the last filter');
      assert.ok(ext < names.length - 1, 'ext_proc before the router');
      const jwt = names.indexOf('envoy.filters.http.jwt_authn');
      if (jwt >= 0) assert.ok(jwt < ext, 'jwt_authn before ext_proc: vigil sees verified claims');
    });

    test('fail-open, source.address, headers-only defaults, and a message timeout unless observability mode', () => {
      const ep = extProcOf(doc);
      assert.equal(ep.grpc_service?.envoy_grpc?.cluster_name, 'vigil');
      assert.equal(ep.failure_mode_allow, true, '§9: vigil is fail-open');
      assert.ok((ep.request_attributes ?? []).includes('source.address'), '§1.2: the client IP');
      assert.deepEqual(ep.processing_mode, {
        request_header_mode: 'SEND', response_header_mode: 'SEND',
        request_body_mode: 'NONE', response_body_mode: 'NONE',
        request_trailer_mode: 'SKIP', response_trailer_mode: 'SKIP',
      });
      if (ep.observability_mode === true) {
        assert.equal(ep.message_timeout, undefined, '§6: no message timeout applies in observability mode');
        assert.ok(seconds(ep.deferred_close_timeout) > 0, 'deferred_close_timeout is set');
      } else {
        const ms = seconds(ep.message_timeout) * 1000;
        assert.ok(ms > settings.storeTimeoutMs && ms <= 200, `message_timeout ${ms} ms: above vigil's store deadline (${settings.storeTimeoutMs} ms), at most 200 ms`);
        assert.equal(ep.allow_mode_override, true, '§15: vigil asks for login bodies with mode_override');
        assert.equal(ep.mutation_rules?.disallow_is_error ?? false, false, '§9: a rejected mutation must not become a 500');
      }
    });

    test('the vigil cluster speaks HTTP/2, has raised circuit breakers, and points at vigil:50051', () => {
      const vigil = clusterOf(doc, extProcOf(doc).grpc_service.envoy_grpc.cluster_name);
      const opts = vigil.typed_extension_protocol_options?.[H2_OPTIONS];
      assert.equal(opts?.['@type'], `type.googleapis.com/${H2_OPTIONS}`);
      assert.ok(opts.explicit_http_config?.http2_protocol_options, '§14: explicit_http_config.http2_protocol_options');
      const thresholds: Doc[] = vigil.circuit_breakers?.thresholds ?? [];
      const dflt = thresholds.find((t) => (t.priority ?? 'DEFAULT') === 'DEFAULT');
      assert.ok(dflt, 'a DEFAULT-priority threshold');
      for (const k of ['max_requests', 'max_pending_requests', 'max_connections']) {
        assert.ok(Number(dflt[k]) >= 10_000, `§14: ${k} ${dflt[k]} must be far above Envoy's default 1024`);
      }
      assert.deepEqual(endpointsOf(vigil), [{ address: 'vigil', port: 50051 }]);
      for (const hc of vigil.health_checks ?? []) {
        assert.equal(hc.grpc_health_check?.service_name, EXT_PROC_SERVICE_NAME, "the name vigil's health service answers for");
      }
    });

    test('the front listener, the admin port and the upstream', () => {
      const l = doc.static_resources.listeners[0].address.socket_address;
      assert.deepEqual([l.address, Number(l.port_value)], ['0.0.0.0', 8080]);
      const a = doc.admin.address.socket_address;
      assert.deepEqual([a.address, Number(a.port_value)], ['0.0.0.0', 9901]);
      assert.deepEqual(endpointsOf(clusterOf(doc, 'upstream')), [{ address: 'upstream', port: 8081 }]);
      const last = routesOf(doc).at(-1)!;
      assert.deepEqual([last.match, last.route.cluster], [{ prefix: '/' }, 'upstream']);
    });

    test('graceful close of ext_proc streams is on (§11, §14)', () => {
      assert.equal(runtimeValue(doc, GRACEFUL_CLOSE), true);
    });

    test("the policy's JWT payload header and vigil's x-vigil-* names are removed from clients before any filter", () => {
      const removed = (hcmOf(doc).early_header_mutation_extensions ?? []).flatMap((e: Doc) => e.typed_config?.mutations ?? [])
        .map((m: Doc) => m.remove).filter(Boolean);
      assert.ok(removed.includes(policy.identity.jwtPayloadHeader), `${policy.identity.jwtPayloadHeader} is removed`);
      const vigilNames = new Set<string>();
      for (const f of readdirSync(join(projectRoot, 'src'), { recursive: true }) as string[]) {
        if (!f.endsWith('.ts')) continue;
        for (const m of readFileSync(join(projectRoot, 'src', f), 'utf8').matchAll(/'(x-vigil-[a-z-]+)'/g)) vigilNames.add(m[1]!);
      }
      assert.ok(vigilNames.size > 0, 'found the x-vigil-* header names in src/');
      for (const name of vigilNames) assert.ok(removed.includes(name), `${name} is removed`);
      const jwt = (hcmOf(doc).http_filters as Doc[]).find((f) => f.name === 'envoy.filters.http.jwt_authn');
      if (jwt) {
        for (const p of Object.values(jwt.typed_config.providers) as Doc[]) {
          assert.equal(p.forward_payload_header, policy.identity.jwtPayloadHeader, 'jwt_authn forwards where the policy reads');
        }
        const reqs = jwt.typed_config.rules.flatMap((r: Doc) => r.requires?.requires_any?.requirements ?? []);
        assert.ok(reqs.some((r: Doc) => r.allow_missing !== undefined), 'anonymous traffic passes (allow_missing)');
      }
    });
  });
}

describe('envoy/envoy.yaml specifics', () => {
  const doc = load('envoy/envoy.yaml');
  test('jwt_authn has a provider with local or remote JWKS, forwarding the token and its payload', () => {
    const jwt = (hcmOf(doc).http_filters as Doc[]).find((f) => f.name === 'envoy.filters.http.jwt_authn');
    assert.ok(jwt, 'jwt_authn is configured');
    const providers = Object.values(jwt.typed_config.providers) as Doc[];
    assert.ok(providers.length > 0);
    for (const p of providers) {
      assert.ok(p.local_jwks || p.remote_jwks, 'a JWKS source');
      assert.equal(p.forward, true);
      if (p.local_jwks) {
        const jwks = JSON.parse(p.local_jwks.inline_string) as { keys: Array<{ kty: string; k?: string }> };
        assert.ok(jwks.keys.length > 0 && jwks.keys.every((k) => k.kty !== 'oct' || Buffer.from(k.k ?? '', 'base64url').length >= 32), 'a usable JWKS (HS256 secrets of 32 bytes or more)');
      }
    }
  });
  test('the vigil cluster is health-checked with the ext_proc service name', () => {
    const hc = clusterOf(doc, 'vigil').health_checks;
    assert.equal(hc?.length, 1);
    assert.equal(hc[0].grpc_health_check.service_name, EXT_PROC_SERVICE_NAME);
  });
});

// --- Per-route examples ------------------------------------------------------------------------------------------

/** The commented-out blocks `# BEGIN needs-envoy-X: title` … `# END`; paragraph 2 of each is its YAML. */
function commentedBlocks(file: string): Array<{ needs: string; title: string; yaml: unknown }> {
  const out: Array<{ needs: string; title: string; yaml: unknown }> = [];
  const lines = text(file).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const begin = /^\s*# BEGIN needs-envoy-([\d.]+): (.+)$/.exec(lines[i]!);
    if (!begin) continue;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*# END\s*$/.test(lines[i]!); i++) {
      assert.match(lines[i]!, /^\s*#( |$)/, `${file}:${i + 1}: a line of a commented block must be a comment`);
      body.push(lines[i]!.replace(/^\s*#( |$)/, ''));
    }
    const paragraphs = body.join('\n').split(/\n\s*\n/);
    assert.ok(paragraphs.length >= 2, `${file}: block "${begin[2]}" has prose, then YAML`);
    out.push({ needs: begin[1]!, title: begin[2]!, yaml: parseYaml(paragraphs[1]!, { uniqueKeys: true }) });
  }
  return out;
}

const loginPathSamples = (): string[] => {
  const login = policy.endpoints.find((e) => e.name === 'login')!;
  const samples = login.paths.flatMap((p) => [p.replace(/\*\*?/g, 'v2'), p.replace(/\*\*?/g, 'auth')]);
  return [...samples, '/loginx', '/api/v2/users', '/api/v2/x/login', '/auth/logout', '/login/extra', '/'];
};

function endpointGroup(method: string, path: string): string {
  const endpoint = { method, path, template: path, objectIds: [], query: '' } as unknown as Endpoint;
  return matchEndpoint(policy.endpoints, endpoint).group;
}

/** The route Envoy would pick for method + path (the subset of RouteMatch these files use). */
function routeFor(doc: Doc, method: string, path: string): Doc {
  const found = routesOf(doc).find((r) => {
    const m = r.match;
    const pathOk = m.prefix !== undefined ? path.startsWith(m.prefix)
      : m.path !== undefined ? path === m.path
        : m.safe_regex !== undefined ? new RegExp(m.safe_regex.regex).test(path) : false;
    const headersOk = (m.headers ?? []).every((h: Doc) => (h.name === ':method' ? method === h.string_match?.exact : false));
    return pathOk && headersOk;
  });
  assert.ok(found, `a route for ${method} ${path}`);
  return found;
}

for (const file of ['envoy/examples/body-inspection.yaml', 'envoy/examples/observability.yaml']) {
  describe(`${file}: per-route settings`, () => {
    const doc = load(file);
    const observe = extProcOf(doc).observability_mode === true;
    const loginMode = observe ? 'STREAMED' : 'BUFFERED_PARTIAL';

    test('/healthz has ext_proc disabled', () => {
      assert.deepEqual(perRoute(routeFor(doc, 'GET', '/healthz')), {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExtProcPerRoute',
        disabled: true,
      });
    });

    test(`the policy's login endpoints (and only they) send request bodies (${loginMode})`, () => {
      for (const path of loginPathSamples()) {
        for (const method of ['POST', 'GET']) {
          const isLogin = endpointGroup(method, path) === 'login';
          const mode = perRoute(routeFor(doc, method, path))?.overrides?.processing_mode;
          assert.equal(mode?.request_body_mode ?? 'NONE', isLogin ? loginMode : 'NONE', `${method} ${path} (policy group ${endpointGroup(method, path)})`);
          if (mode) {
            assert.deepEqual({ ...mode, request_body_mode: 'NONE' }, extProcOf(doc).processing_mode, 'the override restates the rest of the filter mode');
          }
        }
      }
    });

    if (observe) {
      test('observability mode: only STREAMED or NONE bodies anywhere, no mode_override', () => {
        const modes = [extProcOf(doc).processing_mode, ...routesOf(doc).map((r) => perRoute(r)?.overrides?.processing_mode).filter(Boolean)];
        for (const m of modes) for (const k of ['request_body_mode', 'response_body_mode']) assert.ok(['NONE', 'STREAMED'].includes(m[k]), `${k}: ${m[k]}`);
        assert.equal(extProcOf(doc).allow_mode_override, undefined, 'replies are ignored in observability mode');
      });
    }
  });
}

describe('envoy/examples/body-inspection.yaml: the blocks that need a newer Envoy than the protos', () => {
  const file = 'envoy/examples/body-inspection.yaml';
  const blocks = commentedBlocks(file);
  const doc = load(file);

  test('the snapshot really lacks both fields (if this fails, move the block into the validated YAML)', () => {
    assert.equal(envoyType('envoy.extensions.filters.http.ext_proc.v3.ExtProcOverrides')?.fields['failure_mode_allow'], undefined);
    assert.equal(envoyType('envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor')?.fields['allowed_override_modes'], undefined);
    assert.ok(envoyType('envoy.extensions.filters.http.ext_proc.v3.ExtProcOverrides')?.fields['processing_mode'], 'the type itself is there');
  });

  test('fail-closed route (Envoy ≥ 1.35): valid but for the per-route failure_mode_allow', () => {
    const block = blocks.find((b) => b.title === 'fail-closed route');
    assert.ok(block, blocks.map((b) => b.title).join(', '));
    assert.equal(block.needs, '1.35');
    const route = block.yaml as Doc;
    assert.equal(route.typed_per_filter_config[EXT_PROC].overrides.failure_mode_allow, false);
    const problems = validateEnvoy('envoy.config.route.v3.Route', route);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.ok(problems[0]!.startsWith(`typed_per_filter_config["${EXT_PROC}"].overrides.failure_mode_allow: unknown field`), problems[0]);
    assert.ok(!routesOf(doc).some((r) => perRoute(r)?.overrides?.failure_mode_allow !== undefined), 'not in the validated routes');
  });

  test('allowed_override_modes (Envoy ≥ 1.32): valid but for the field itself, and it lists every mode vigil sends', () => {
    const block = blocks.find((b) => b.title === 'allowed_override_modes');
    assert.ok(block);
    assert.equal(block.needs, '1.32');
    const fragment = block.yaml as Doc;
    const { '@type': _any, ...filterConfig } = extProcOf(doc);
    const problems = validateEnvoy('envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor', { ...filterConfig, ...fragment });
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.ok(problems[0]!.startsWith('allowed_override_modes: unknown field'), problems[0]);
    const modes = fragment.allowed_override_modes as Doc[];
    for (const m of modes) assert.deepEqual(validateEnvoy('envoy.extensions.filters.http.ext_proc.v3.ProcessingMode', m), []);
    // What vigil sends (src/extproc/exchange-session.ts: modeFor, SKIP_RESPONSE), in the normalised form Envoy compares.
    const norm = (m: Doc) => JSON.stringify({ rb: m.request_body_mode ?? 'NONE', sb: m.response_body_mode ?? 'NONE', rh: m.response_header_mode ?? 'DEFAULT' });
    const sent = [
      { request_body_mode: 'BUFFERED_PARTIAL', response_body_mode: 'NONE' },
      { request_body_mode: 'NONE', response_body_mode: 'STREAMED' },
      { request_body_mode: 'BUFFERED_PARTIAL', response_body_mode: 'STREAMED' },
      { response_header_mode: 'SKIP' },
    ];
    assert.deepEqual(modes.map(norm).sort(), sent.map(norm).sort());
  });
});

// --- 3. envoy-sim plays the shipped ext_proc config --------------------------------------------------------------

/** The shipped ext_proc filter config (plus what the bootstrap adds) as envoy-sim's SimFilterConfig. */
function simConfigOf(doc: Doc, route?: Doc): SimFilterConfig {
  const out = simFieldsOf(extProcOf(doc)) as Record<string, unknown>;
  const overrides = route ? perRoute(route)?.overrides : undefined;
  for (const [k, v] of Object.entries(overrides ?? {})) {
    assert.equal(k, 'processing_mode', `per-route override ${k} is not simulated`);
    out['processing_mode'] = v;
  }
  const graceful = runtimeValue(doc, GRACEFUL_CLOSE);
  if (graceful !== undefined) out['graceful_grpc_close'] = graceful;
  const limit = doc.static_resources.listeners[0].per_connection_buffer_limit_bytes;
  if (limit !== undefined) out['buffer_limit_bytes'] = Number(limit);
  return out as SimFilterConfig;
}

/** An ext_proc filter's typed_config as envoy-sim's SimFilterConfig (every field must have a counterpart). */
function simFieldsOf(ep: Doc): SimFilterConfig {
  const NOT_SIMULATED: Record<string, string> = {
    '@type': 'the Any wrapper',
    grpc_service: 'the transport: the sim is given vigil\'s address',
    stat_prefix: 'stat names only',
  };
  const out: Record<string, unknown> = {};
  const ms = (d: unknown) => Math.round(seconds(d) * 1000);
  for (const [k, v] of Object.entries(ep)) {
    switch (k) {
      case 'processing_mode': case 'failure_mode_allow': case 'allow_mode_override': case 'observability_mode':
      case 'disable_immediate_response': case 'request_attributes': case 'response_attributes': case 'allowed_override_modes':
        out[k] = v;
        break;
      case 'message_timeout': case 'max_message_timeout': case 'deferred_close_timeout':
        out[`${k}_ms`] = ms(v);
        break;
      case 'mutation_rules': {
        const rules: Record<string, unknown> = { ...(v as Doc) };
        for (const r of ['allow_expression', 'disallow_expression']) if (rules[r]) rules[r] = (rules[r] as Doc).regex;
        out[k] = rules;
        break;
      }
      default:
        assert.ok(k in NOT_SIMULATED, `ext_proc field ${k} has no envoy-sim counterpart: the sim would not play the shipped config`);
    }
  }
  return out as SimFilterConfig;
}

/** The README's Envoy snippet: the one HttpFilter in the YAML block after "Envoy's filter config". */
function readmeFilter(): Doc {
  const text = readFileSync(join(projectRoot, 'README.md'), 'utf8');
  const at = text.indexOf("Envoy's filter config");
  const block = /```yaml\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(at >= 0 && block, "README: the YAML block after \"Envoy's filter config\"");
  const list = parseYaml(block[1]!) as Doc[];
  assert.equal(list.length, 1);
  return list[0]!;
}

test("README's Envoy snippet is valid and carries the settings the shipped envoy.yaml relies on", () => {
  const filter = readmeFilter();
  assert.deepEqual(validateEnvoy('envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', filter), []);
  const readme = resolveConfig(simFieldsOf(filter.typed_config));
  const shipped = resolveConfig(simConfigOf(load('envoy/envoy.yaml')));
  // Envoy's DEFAULT for trailers is SKIP (ProcessingMode, docs/protocol.md §15).
  const effective = (m: Record<string, string>) =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => [k, k.endsWith('_trailer_mode') && v === 'DEFAULT' ? 'SKIP' : v]));
  assert.deepEqual(effective(readme.mode as unknown as Record<string, string>), effective(shipped.mode as unknown as Record<string, string>), 'the same processing modes: responses are sent to vigil');
  assert.equal(readme.allowModeOverride, true, 'allow_mode_override, or vigil never gets a login body');
  assert.equal(readme.failureModeAllow, true);
  assert.deepEqual(readme.requestAttributes, ['source.address']);
  assert.equal(readme.messageTimeoutMs, shipped.messageTimeoutMs);
});

test('envoy-sim accepts the shipped ext_proc configs as they are', () => {
  const main = resolveConfig(simConfigOf(load('envoy/envoy.yaml')));
  assert.equal(main.failureModeAllow, true);
  assert.equal(main.messageTimeoutMs, 200);
  assert.equal(main.allowModeOverride, true);
  assert.equal(main.gracefulClose, true);
  assert.deepEqual(main.requestAttributes, ['source.address']);
  assert.equal(main.rules.disallow_is_error, false);
  assert.equal(main.bufferLimitBytes, 1024 * 1024);
  const obsDoc = load('envoy/examples/observability.yaml');
  const obs = resolveConfig(simConfigOf(obsDoc, routeFor(obsDoc, 'POST', '/login')));
  assert.equal(obs.observability, true);
  assert.equal(obs.deferredCloseTimeoutMs, 5000);
  assert.equal(obs.mode.request_body_mode, 'STREAMED');
  const bodyDoc = load('envoy/examples/body-inspection.yaml');
  assert.equal(resolveConfig(simConfigOf(bodyDoc, routeFor(bodyDoc, 'POST', '/api/login'))).mode.request_body_mode, 'BUFFERED_PARTIAL');
});

describe('envoy-sim with the shipped config, against vigil (default policy, memory store)', () => {
  let vigil: TestVigil;
  const sims: EnvoySim[] = [];
  // The shipped configs as they are, but for their 200 ms message timeout: these tests are about routes and
  // modes, and a loaded machine's slow first answer must not turn into a fail-open.
  const simFor = (config: SimFilterConfig): EnvoySim => {
    const sim = new EnvoySim(vigil.target, { ...config, message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS });
    sims.push(sim);
    return sim;
  };
  const login = (sim: EnvoySim, i: number) => sim.exchange({
    method: 'POST',
    path: '/api/login',
    headers: [['content-type', 'application/json'], ['user-agent', 'envoy-config-test']],
    body: Buffer.from(JSON.stringify({ username: `user${i}@example.com`, password: 'x' })),
    sourceAddress: `198.51.100.${10 + i}:40000`,
    upstream: { status: 401 },
  });
  const bodyMissing = () => vigil.metric('vigil_input_problems_total', { kind: 'login-body-missing' });

  before(async () => {
    vigil = await startTestVigil();
  });
  after(async () => {
    for (const s of sims) s.close();
    await vigil.shutdown();
  });

  test('envoy.yaml: a login body reaches vigil through mode_override (and would not without allow_mode_override)', async () => {
    const config = simConfigOf(load('envoy/envoy.yaml'));
    const before = await bodyMissing();
    const r = await login(simFor(config), 1);
    assert.equal(r.outcome, 'passed', r.details);
    assert.equal(r.client.status, 401);
    assert.ok(r.upstreamRequest, 'the upstream got the request');
    assert.equal(r.stats.stream_msgs_sent, 3, 'request headers, the request body vigil asked for, response headers');
    assert.equal(r.stats.failure_mode_allowed, 0);
    assert.equal(await bodyMissing(), before, 'vigil saw the body');

    // The control: the same config without allow_mode_override. Envoy ignores vigil's mode_override.
    const r2 = await login(simFor({ ...config, allow_mode_override: false }), 2);
    assert.equal(r2.outcome, 'passed', r2.details);
    assert.equal(r2.stats.stream_msgs_sent, 2, 'no body was sent');
    assert.equal(await bodyMissing(), before + 1, 'vigil counts the missing login body');
  });

  test("README's snippet: vigil sees the login body and the response, as with envoy.yaml", async () => {
    const before = await bodyMissing();
    const r = await login(simFor(simFieldsOf(readmeFilter().typed_config)), 4);
    assert.equal(r.outcome, 'passed', r.details);
    assert.equal(r.stats.stream_msgs_sent, 3, 'request headers, the request body vigil asked for, response headers');
    assert.equal(await bodyMissing(), before, 'vigil saw the body');
  });

  test('observability.yaml: the login route streams the body, vigil never answers, nothing waits', async () => {
    const doc = load('envoy/examples/observability.yaml');
    const before = await bodyMissing();
    const r = await login(simFor(simConfigOf(doc, routeFor(doc, 'POST', '/api/login'))), 3);
    assert.equal(r.outcome, 'passed', r.details);
    assert.equal(r.client.status, 401);
    assert.ok(r.upstreamRequest);
    assert.equal(r.stats.stream_msgs_received, 0, '§6: vigil stays silent');
    assert.equal(r.stats.message_timeouts, 0);
    assert.ok(r.stats.stream_msgs_sent >= 3, `headers, body, response headers (sent ${r.stats.stream_msgs_sent})`);
    assert.equal(await bodyMissing(), before, 'vigil got the streamed body');
  });
});

// --- mTLS to vigil (envoy/examples/mtls.yaml) ----------------------------------------------------------------------

const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

describe('envoy/examples/mtls.yaml: an UpstreamTlsContext on the vigil cluster', () => {
  const doc = load('envoy/examples/mtls.yaml');
  const socket = clusterOf(doc, 'vigil').transport_socket as Doc;
  const ctx = socket?.typed_config as Doc;

  test('the vigil cluster speaks TLS with a client certificate, a CA, a checked SAN and ALPN h2', () => {
    assert.equal(socket?.name, 'envoy.transport_sockets.tls');
    assert.equal(ctx['@type'], UPSTREAM_TLS);
    const common = ctx.common_tls_context as Doc;
    assert.deepEqual(common.alpn_protocols, ['h2'], "grpc-js's TLS server needs ALPN h2");
    assert.equal(common.tls_certificates.length, 1);
    assert.ok(common.tls_certificates[0].certificate_chain.filename, "Envoy's client certificate");
    assert.ok(common.tls_certificates[0].private_key.filename, 'its key');
    assert.ok(common.validation_context.trusted_ca.filename, 'the CA that signed vigil');
    const sans = common.validation_context.match_typed_subject_alt_names as Doc[];
    assert.ok(sans.length > 0, "vigil's certificate name is checked, not only its CA");
    assert.deepEqual(sans.map((m) => [m.san_type, m.matcher.exact]), [['DNS', ctx.sni]], 'the SAN checked is the SNI sent');
  });

  test('apart from that transport_socket it is envoy.yaml (the two cannot drift)', () => {
    const plain = load('envoy/envoy.yaml');
    const copy = load('envoy/examples/mtls.yaml');
    delete clusterOf(copy, 'vigil').transport_socket;
    assert.deepEqual(copy, plain);
    assert.equal(clusterOf(plain, 'vigil').transport_socket, undefined, 'the loopback/compose default stays plaintext');
  });

  test('the validator checks inside the TLS context (a planted error is found)', () => {
    const copy = load('envoy/examples/mtls.yaml');
    clusterOf(copy, 'vigil').transport_socket.typed_config.common_tls_context.tls_params.tls_minimum_protocol_version = 'TLSv1_9';
    const problems = validateEnvoy(BOOTSTRAP, copy);
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /transport_socket\.typed_config\.common_tls_context\.tls_params\.tls_minimum_protocol_version: unknown enum value "TLSv1_9"/);
  });

  test('envoy-sim with this TLS context (certificates made for the test) is answered by vigil serving mTLS', async () => {
    const pki = makeTestPki();
    // The files the config names, by their role: Envoy's certificate and key, and the CA.
    const common = ctx.common_tls_context as Doc;
    const files: Record<string, string> = {
      [common.tls_certificates[0].certificate_chain.filename]: pki.client.cert,
      [common.tls_certificates[0].private_key.filename]: pki.client.key,
      [common.validation_context.trusted_ca.filename]: pki.ca.cert,
    };
    const vigil = await startTestVigil({ env: { VIGIL_GRPC_TLS_CERT: pki.server.cert, VIGIL_GRPC_TLS_KEY: pki.server.key, VIGIL_GRPC_TLS_CLIENT_CA: pki.ca.cert } });
    const read = (f: string) => readFileSync(files[f]!);
    const tls = {
      ca: read(common.validation_context.trusted_ca.filename),
      cert: read(common.tls_certificates[0].certificate_chain.filename),
      key: read(common.tls_certificates[0].private_key.filename),
      servername: ctx.sni as string,
    };
    const sims: EnvoySim[] = [];
    try {
      const config = { ...simConfigOf(doc), message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS };
      const ok = new EnvoySim(vigil.target, config, { tls });
      sims.push(ok);
      const r = await ok.exchange({ method: 'GET', path: '/', headers: [['host', 'shop.example']], sourceAddress: '198.51.100.9:40000' });
      assert.equal(r.outcome, 'passed', r.details);
      assert.equal(r.stats.failure_mode_allowed, 0, 'vigil answered: no fail-open');
      // The same context without Envoy's certificate: vigil refuses it, and the fail-open config lets the request through unseen.
      const { cert: _c, key: _k, ...noCert } = tls;
      const bare = new EnvoySim(vigil.target, config, { tls: noCert });
      sims.push(bare);
      const r2 = await bare.exchange({ method: 'GET', path: '/', headers: [['host', 'shop.example']], sourceAddress: '198.51.100.9:40000' });
      assert.equal(r2.stats.failure_mode_allowed, 1, 'refused at the handshake: Envoy fails open');
    } finally {
      for (const s of sims) s.close();
      await vigil.shutdown();
      pki.cleanup();
    }
  });
});
