// Golden test for proto/: every message, enum and service vigil defines must match, on the wire,
// Envoy's own definitions (the envoy-api snapshot shipped in @grpc/grpc-js-xds, ≈Envoy 1.31).
// What that snapshot lacks is listed in NEWER_THAN_XDS with the Envoy version and the source the
// number and type were checked against; each of those entries must also appear in docs/protocol.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import protobuf from 'protobufjs';
import { projectRoot, protoDir } from '../../src/paths.js';
import { loadWire } from '../../src/extproc/proto.js';

const require = createRequire(import.meta.url);

// --- Items newer than the grpc-js-xds snapshot, each with its source -----------------------------------
const ELCHI = 'CloudNativeWorks/elchi src/elchi/versions/v1.37.0/models/envoy/service/ext_proc/v3/external_processor.ts @da6bc77e';
const ELCHI_MODE = 'CloudNativeWorks/elchi src/elchi/versions/v1.37.0/models/envoy/extensions/filters/http/ext_proc/v3/processing_mode.ts @da6bc77e';
const API_134 = 'envoyproxy/envoy api/envoy/service/ext_proc/v3/external_processor.proto @0015fbd5';
const MODE_134 = 'envoyproxy/envoy api/envoy/extensions/filters/http/ext_proc/v3/processing_mode.proto @0628e049';
const SIR_TEST = 'envoyproxy/envoy test/extensions/filters/http/ext_proc/ext_proc_local_reply_streaming_integration_test.cc';

interface Newer {
  envoy: string;
  source: string;
  /** For a field: number, resolved type, and oneof (if any). For an enum value: its number. */
  id?: number;
  type?: string;
  oneof?: string;
}

const EP = 'envoy.service.ext_proc.v3';
const NEWER_THAN_XDS: Record<string, Newer> = {
  [`${EP}.ProtocolConfiguration`]: { envoy: '1.34', source: `${API_134}; ${ELCHI}` },
  [`${EP}.ProtocolConfiguration.request_body_mode`]: { envoy: '1.34', source: ELCHI, id: 1, type: 'envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode' },
  [`${EP}.ProtocolConfiguration.response_body_mode`]: { envoy: '1.34', source: ELCHI, id: 2, type: 'envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode' },
  [`${EP}.ProtocolConfiguration.send_body_without_waiting_for_header_response`]: { envoy: '1.34', source: ELCHI, id: 3, type: 'bool' },
  [`${EP}.ProcessingRequest.protocol_config`]: { envoy: '1.34', source: `${API_134}; ${ELCHI}`, id: 11, type: `${EP}.ProtocolConfiguration` },
  [`${EP}.ProcessingResponse.streamed_immediate_response`]: { envoy: '1.37', source: ELCHI, id: 11, type: `${EP}.StreamedImmediateResponse`, oneof: 'response' },
  [`${EP}.ProcessingResponse.request_drain`]: { envoy: '1.37 (API only)', source: ELCHI, id: 12, type: 'bool' },
  [`${EP}.HttpBody.end_of_stream_without_message`]: { envoy: '1.37 (API only)', source: ELCHI, id: 3, type: 'bool' },
  [`${EP}.HttpBody.grpc_message_compressed`]: { envoy: '1.37 (API only)', source: ELCHI, id: 4, type: 'bool' },
  [`${EP}.StreamedBodyResponse`]: { envoy: '1.34', source: `${API_134}; ${ELCHI}` },
  [`${EP}.StreamedBodyResponse.body`]: { envoy: '1.34', source: `${API_134}; ${ELCHI}`, id: 1, type: 'bytes' },
  [`${EP}.StreamedBodyResponse.end_of_stream`]: { envoy: '1.34', source: `${API_134}; ${ELCHI}`, id: 2, type: 'bool' },
  [`${EP}.StreamedBodyResponse.end_of_stream_without_message`]: { envoy: '1.37 (API only)', source: ELCHI, id: 3, type: 'bool' },
  [`${EP}.StreamedBodyResponse.grpc_message_compressed`]: { envoy: '1.37 (API only)', source: ELCHI, id: 4, type: 'bool' },
  [`${EP}.BodyMutation.streamed_response`]: { envoy: '1.34', source: `${API_134}; ${ELCHI}`, id: 3, type: `${EP}.StreamedBodyResponse`, oneof: 'mutation' },
  [`${EP}.StreamedImmediateResponse`]: { envoy: '1.37', source: `${ELCHI}; ${SIR_TEST}` },
  [`${EP}.StreamedImmediateResponse.headers_response`]: { envoy: '1.37', source: ELCHI, id: 1, type: `${EP}.HttpHeaders`, oneof: 'response' },
  [`${EP}.StreamedImmediateResponse.body_response`]: { envoy: '1.37', source: ELCHI, id: 2, type: `${EP}.StreamedBodyResponse`, oneof: 'response' },
  [`${EP}.StreamedImmediateResponse.trailers_response`]: { envoy: '1.37', source: `${ELCHI}; ${SIR_TEST}`, id: 3, type: 'envoy.config.core.v3.HeaderMap', oneof: 'response' },
  ['envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode.FULL_DUPLEX_STREAMED']: { envoy: '1.34', source: `${MODE_134}; ${ELCHI_MODE}`, id: 4 },
  ['envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode.GRPC']: { envoy: '1.37 (API only)', source: ELCHI_MODE, id: 5 },
};

// grpc.health.v1 is in neither grpc-js-xds's deps nor grpc-js, so it is checked against these values,
// taken from grpc/grpc src/proto/grpc/health/v1/health.proto @03b89f47.
const HEALTH_GOLDEN: Record<string, string> = {
  'grpc.health.v1.HealthCheckRequest': 'service=1:string',
  'grpc.health.v1.HealthCheckResponse': 'status=1:grpc.health.v1.HealthCheckResponse.ServingStatus',
  'grpc.health.v1.HealthCheckResponse.ServingStatus': 'UNKNOWN=0 SERVING=1 NOT_SERVING=2 SERVICE_UNKNOWN=3',
  'grpc.health.v1.Health': 'Check(grpc.health.v1.HealthCheckRequest)->grpc.health.v1.HealthCheckResponse '
    + 'Watch(grpc.health.v1.HealthCheckRequest)->stream grpc.health.v1.HealthCheckResponse',
};

// --- Loading --------------------------------------------------------------------------------------------
const xdsDeps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const UPSTREAM_DIRS = ['envoy-api', 'xds', 'protoc-gen-validate'].map((d) => join(xdsDeps, d));

// The upstream tree imports google/protobuf/descriptor.proto, which protobufjs does not bundle by default.
const descriptorJson = require('protobufjs/google/protobuf/descriptor.json') as {
  nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } };
};
protobuf.common('descriptor', descriptorJson.nested.google.nested.protobuf.nested ?? {});

function loadRoot(dirs: string[], files: string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => dirs.map((d) => join(d, target)).find((p) => existsSync(p)) ?? target;
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? protoFiles(join(dir, e.name)) : e.name.endsWith('.proto') ? [join(dir, e.name)] : []);
}

const ourFiles = protoFiles(protoDir).map((f) => relative(protoDir, f));
const ours = loadRoot([protoDir], ourFiles);
const upstream = loadRoot(UPSTREAM_DIRS, ourFiles.filter((f) => existsSync(join(xdsDeps, 'envoy-api', f))));

// --- Describing and comparing ---------------------------------------------------------------------------
const full = (o: protobuf.ReflectionObject): string => o.fullName.replace(/^\./, '');

function fieldShape(f: protobuf.Field): string {
  const type = f.resolvedType ? full(f.resolvedType) : f.type;
  const key = f instanceof protobuf.MapField ? `map<${f.keyType}> ` : '';
  const rule = f.repeated ? 'repeated ' : '';
  const oneof = f.partOf ? ` oneof ${f.partOf.name}` : '';
  return `${f.name}=${f.id}:${rule}${key}${type}${oneof}`;
}

function methodShape(m: protobuf.Method): string {
  const req = m.resolvedRequestType ? full(m.resolvedRequestType) : m.requestType;
  const res = m.resolvedResponseType ? full(m.resolvedResponseType) : m.responseType;
  return `${m.name}(${m.requestStream ? 'stream ' : ''}${req})->${m.responseStream ? 'stream ' : ''}${res}`;
}

/** Every message, enum and service under a root, google.* excluded (those come bundled with protobufjs). */
function definitions(ns: protobuf.NamespaceBase): protobuf.ReflectionObject[] {
  return ns.nestedArray.flatMap((o) => {
    if (full(o) === 'google') return [];
    const self = o instanceof protobuf.Type || o instanceof protobuf.Enum || o instanceof protobuf.Service ? [o] : [];
    const inner = o instanceof protobuf.Namespace ? definitions(o) : [];
    return [...self, ...inner];
  });
}

const lookup = (root: protobuf.Root, name: string): protobuf.ReflectionObject | null => root.lookup(`.${name}`);

/** Problems found comparing one of our definitions with the upstream one; NEWER entries consumed are recorded. */
function compare(mine: protobuf.ReflectionObject, used: Set<string>): string[] {
  const name = full(mine);
  const theirs = lookup(upstream, name);
  if (!theirs) {
    if (!NEWER_THAN_XDS[name]) return [`${name}: not in upstream and not listed in NEWER_THAN_XDS`];
    used.add(name);
    // A wholly newer definition: each of its members must be listed too (checkNewer verifies them).
    const members = mine instanceof protobuf.Type ? mine.fieldsArray.map((f) => f.name)
      : mine instanceof protobuf.Enum ? Object.keys(mine.values) : [];
    return members.flatMap((m) => {
      const key = `${name}.${m}`;
      if (!NEWER_THAN_XDS[key]) return [`${key}: member of a newer definition, not listed in NEWER_THAN_XDS`];
      used.add(key);
      return [];
    });
  }
  if (NEWER_THAN_XDS[name]) return [`${name}: listed in NEWER_THAN_XDS but upstream has it; compare it normally`];
  const problems: string[] = [];
  const pairs: Array<[string, string | undefined, string | undefined]> = [];
  if (mine instanceof protobuf.Type && theirs instanceof protobuf.Type) {
    for (const f of mine.fieldsArray) pairs.push([f.name, fieldShape(f), theirs.fields[f.name] && fieldShape(theirs.fields[f.name]!)]);
    for (const f of theirs.fieldsArray) if (!mine.fields[f.name]) pairs.push([f.name, undefined, fieldShape(f)]);
  } else if (mine instanceof protobuf.Enum && theirs instanceof protobuf.Enum) {
    for (const [k, v] of Object.entries(mine.values)) pairs.push([k, `${k}=${v}`, k in theirs.values ? `${k}=${theirs.values[k]}` : undefined]);
    for (const [k, v] of Object.entries(theirs.values)) if (!(k in mine.values)) pairs.push([k, undefined, `${k}=${v}`]);
  } else if (mine instanceof protobuf.Service && theirs instanceof protobuf.Service) {
    for (const m of mine.methodsArray) pairs.push([m.name, methodShape(m), theirs.methods[m.name] && methodShape(theirs.methods[m.name]!)]);
    for (const m of theirs.methodsArray) if (!mine.methods[m.name]) pairs.push([m.name, undefined, methodShape(m)]);
  } else {
    return [`${name}: kind differs from upstream`];
  }
  for (const [member, a, b] of pairs) {
    const key = `${name}.${member}`;
    if (a === b) continue;
    if (a !== undefined && b === undefined && NEWER_THAN_XDS[key]) { used.add(key); continue; }
    problems.push(`${key}: ours ${a ?? '(missing)'} vs upstream ${b ?? '(missing)'}`);
  }
  return problems;
}

/** Our definition of a NEWER_THAN_XDS item, checked against the id/type/oneof recorded from its source. */
function checkNewer(key: string, entry: Newer): string[] {
  const parentName = key.slice(0, key.lastIndexOf('.'));
  const member = key.slice(key.lastIndexOf('.') + 1);
  const whole = lookup(ours, key);
  if (whole && !(whole instanceof protobuf.Field)) return [];
  const parent = lookup(ours, parentName);
  if (parent instanceof protobuf.Enum) {
    return parent.values[member] === entry.id ? [] : [`${key}: ours ${parent.values[member]} vs source ${entry.id}`];
  }
  const field = parent instanceof protobuf.Type ? parent.fields[member] : undefined;
  if (!field) return [`${key}: listed in NEWER_THAN_XDS but not defined in proto/`];
  const expected = `${member}=${entry.id}:${entry.type}${entry.oneof ? ` oneof ${entry.oneof}` : ''}`;
  return fieldShape(field) === expected ? [] : [`${key}: ours ${fieldShape(field)} vs source ${expected}`];
}

// --- Tests ----------------------------------------------------------------------------------------------
test('every envoy.* definition in proto/ matches Envoy upstream (or is a sourced NEWER_THAN_XDS entry)', () => {
  const used = new Set<string>();
  const envoyDefs = definitions(ours).filter((d) => full(d).startsWith('envoy.'));
  assert.ok(envoyDefs.length >= 20, `expected the ext_proc definitions, found ${envoyDefs.length}`);
  const problems = envoyDefs.flatMap((d) => compare(d, used));
  for (const [key, entry] of Object.entries(NEWER_THAN_XDS)) problems.push(...checkNewer(key, entry));
  const unused = Object.keys(NEWER_THAN_XDS).filter((k) => !used.has(k));
  assert.deepEqual(problems, []);
  assert.deepEqual(unused, [], 'NEWER_THAN_XDS entries that nothing in proto/ needed');
});

test('every NEWER_THAN_XDS entry is documented in docs/protocol.md with its version', () => {
  const doc = readFileSync(join(projectRoot, 'docs', 'protocol.md'), 'utf8');
  const missing = Object.entries(NEWER_THAN_XDS)
    .filter(([key, e]) => !doc.split('\n').some((line) => line.includes(`\`${key}\``) && line.includes(e.envoy)))
    .map(([key]) => key);
  assert.deepEqual(missing, []);
});

test('grpc.health.v1 matches grpc/grpc health.proto', () => {
  const defs = definitions(ours).filter((d) => full(d).startsWith('grpc.health.v1'));
  const shapes = Object.fromEntries(defs.map((d) => [full(d),
    d instanceof protobuf.Type ? d.fieldsArray.map(fieldShape).join(' ')
      : d instanceof protobuf.Enum ? Object.entries(d.values).map(([k, v]) => `${k}=${v}`).join(' ')
        : (d as protobuf.Service).methodsArray.map(methodShape).join(' ')]));
  assert.deepEqual(shapes, HEALTH_GOLDEN);
});

const PR = 'envoy.service.ext_proc.v3.ProcessingResponse';
const PQ = 'envoy.service.ext_proc.v3.ProcessingRequest';

test('a ProcessingResponse encoded by vigil decodes with Envoy upstream definitions', () => {
  const reply = {
    request_headers: {
      response: {
        header_mutation: {
          set_headers: [{ header: { key: 'x-vigil-decision', raw_value: Buffer.from('allow') }, append: { value: false } }],
          remove_headers: ['x-internal'],
        },
      },
    },
  };
  const method = loadWire().processorService['Process'];
  assert.ok(method, 'Process method missing from the loaded service');
  const bytes = method.responseSerialize(reply);
  const oursBytes = ours.lookupType(PR).encode(ours.lookupType(PR).fromObject(reply)).finish();
  assert.ok(Buffer.from(oursBytes).equals(bytes), 'proto-loader and protobufjs disagree on our encoding');

  const Up = upstream.lookupType(PR);
  const decoded = Up.toObject(Up.decode(bytes), { oneofs: true }) as {
    response?: string;
    request_headers?: { response?: { header_mutation?: { set_headers?: Array<{ header: { key: string; value?: string; raw_value: Uint8Array }; append: { value: boolean } }>; remove_headers?: string[] } } };
  };
  assert.equal(decoded.response, 'request_headers');
  const mutation = decoded.request_headers?.response?.header_mutation;
  const set = mutation?.set_headers?.[0];
  assert.equal(set?.header.key, 'x-vigil-decision');
  assert.equal(Buffer.from(set?.header.raw_value ?? []).toString(), 'allow');
  assert.equal(set?.header.value, undefined, 'value must stay unset: Envoy reads raw_value only');
  assert.equal(set?.append.value, false);
  assert.deepEqual(mutation?.remove_headers, ['x-internal']);
});

test('a ProcessingRequest encoded with Envoy upstream definitions decodes with vigil', () => {
  const Up = upstream.lookupType(PQ);
  const request = {
    request_headers: {
      headers: { headers: [{ key: ':path', raw_value: Buffer.from('/api/v1/orders/42') }, { key: 'x-api-key', raw_value: Buffer.from('k-1') }] },
      end_of_stream: true,
    },
    // google.protobuf.* come from protobufjs's bundled copies, whose field names are camelCase even
    // under keepCase: a Struct value is {stringValue}, not {string_value}, on both sides.
    attributes: { 'envoy.filters.http.ext_proc': { fields: { 'source.address': { stringValue: '10.0.0.7' } } } },
    observability_mode: false,
  };
  const bytes = Buffer.from(Up.encode(Up.fromObject(request)).finish());
  const method = loadWire().processorService['Process'];
  assert.ok(method, 'Process method missing from the loaded service');
  const got = method.requestDeserialize(bytes) as {
    request?: string;
    request_headers?: { end_of_stream?: boolean; headers?: { headers?: Array<{ key: string; raw_value: Buffer }> } };
    attributes?: Record<string, { fields?: Record<string, { stringValue?: string; kind?: string }> }>;
  };
  assert.equal(got.request, 'request_headers');
  assert.equal(got.request_headers?.end_of_stream, true);
  const headers = got.request_headers?.headers?.headers?.map((h) => [h.key, Buffer.from(h.raw_value).toString()]);
  assert.deepEqual(headers, [[':path', '/api/v1/orders/42'], ['x-api-key', 'k-1']]);
  const address = got.attributes?.['envoy.filters.http.ext_proc']?.fields?.['source.address'];
  assert.deepEqual(address, { stringValue: '10.0.0.7', kind: 'stringValue' });
  const oursBytes = ours.lookupType(PQ).encode(ours.lookupType(PQ).fromObject(request)).finish();
  assert.ok(Buffer.from(oursBytes).equals(bytes), 'our definitions encode the same bytes as upstream');
});
