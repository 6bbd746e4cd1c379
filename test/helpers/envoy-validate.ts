/**
 * Validates Envoy configuration (the YAML-parsed proto3 JSON form, snake_case field names as Envoy's YAML
 * uses them) against Envoy's own .proto files: the envoy-api snapshot shipped in @grpc/grpc-js-xds
 * (`deps/envoy-api`, `deps/xds`, `deps/googleapis`, `deps/protoc-gen-validate`; July 2024, ≈ Envoy 1.31).
 *
 *   validateEnvoy('envoy.config.bootstrap.v3.Bootstrap', YAML.parse(text))  →  string[]  (empty = valid)
 *
 * Each problem is `<path>: <what is wrong>`, the path in the document's own spelling, e.g.
 * `static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[1].typed_config.processing_mode.request_body_modee: unknown field`.
 *
 * What it checks, recursively, as Envoy's loader would (protobuf JSON parsing, then protoc-gen-validate):
 *  - unknown fields (the proto name or its lowerCamelCase JSON name are both accepted, like protobuf's
 *    JSON parser; giving both spellings of one field is a problem);
 *  - JSON types: string / bool / integers (number or decimal string, range of int32/uint32/int64/uint64) /
 *    floats / bytes (base64) / enums (a value name, or an integer) / messages (objects) / repeated (arrays) /
 *    maps (objects, keys checked against the key type);
 *  - oneofs: at most one member set;
 *  - google.protobuf.Any: `@type` must resolve to a loaded message type, and the other keys are checked
 *    against that type (`value` for the well-known types with a special JSON form). xds/udpa `TypedStruct`
 *    values are checked against their `type_url` the same way;
 *  - well-known types' JSON forms: Duration "0.2s", Timestamp RFC 3339, FieldMask "a.b,c", Struct (object),
 *    Value (any JSON), ListValue (array), wrappers as plain values (UInt32Value is a number, BoolValue a bool…),
 *    Empty `{}`;
 *  - Envoy's own Duration limits (no negative durations, at most ~292 years: envoyproxy/envoy#32376);
 *  - a subset of the protoc-gen-validate rules Envoy enforces on load (`(validate.rules)`/`(validate.required)`):
 *    message/duration/any `required`, oneof `required`, string min/max len and bytes, `in`/`not_in`,
 *    `pattern`, `well_known_regex` (header names/values), numeric gt/gte/lt/lte/const/in/not_in (also on
 *    wrapper fields), enum `defined_only`/`in`/`not_in`, bool `const`, repeated min/max items, `unique` and
 *    per-item rules, map min/max pairs and key/value rules, duration gt/gte/lt/lte/const;
 *  - fields and enum values Envoy refuses unless a runtime override is set
 *    (`envoy.annotations.disallowed_by_default[_enum]`); optionally (`rejectDeprecated`) every deprecated field
 *    or enum value, which Envoy only warns about;
 *  - `@type`s of the removed v2 API (envoy.api.v2.*, *.v2alpha.*).
 *
 * Stricter than Envoy on purpose: the legacy forms older protobuf JSON parsers tolerated (a single object for
 * a repeated field, `{seconds: 5}` for a Duration, `{value: 5}` for a wrapper) are reported; write the
 * canonical form.
 *
 * Not checked (the protos cannot say): whether an extension config fits the slot it is in (an http filter
 * config under `http_filters`: Envoy's `[#extension-category]` is a comment), cross-references (cluster
 * names, filter order, typed_per_filter_config names), runtime keys, PGV rules outside the subset above
 * (e.g. `string.address`/`uri`, `timestamp` ranges, `pattern`s JavaScript cannot compile), and anything
 * newer than the snapshot: a field added after ≈ 1.31 is reported as an unknown field, and a type added
 * after it as an unresolvable `@type`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, relative } from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

export interface ValidateOptions {
  /** Also report fields and enum values marked deprecated (Envoy accepts them with a warning). Default false. */
  rejectDeprecated?: boolean;
}

/** What was loaded from the snapshot, and what could not be (a missing import, e.g. opencensus). */
export interface EnvoySnapshot {
  root: protobuf.Root;
  depsDir: string;
  includeDirs: string[];
  loadedFiles: string[];
  skippedFiles: Array<{ file: string; missing: string }>;
}

// --- Loading (cached) ---------------------------------------------------------------------------------------

let snapshot: EnvoySnapshot | undefined;

/** Directories under deps/ whose files are all loaded: every message of these trees can be an `@type`. */
const LOAD_TREES = ['envoy-api/envoy', 'xds/xds', 'xds/udpa'];
/** Optional dependency trees some Envoy protos import; used when a future grpc-js-xds ships them. */
const OPTIONAL_TREES = ['cel-spec', 'cel', 'opencensus-proto', 'opencensus', 'opentelemetry-proto', 'opentelemetry', 'prometheus-client-model', 'prometheus', 'client_model'];

function walkProtos(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walkProtos(p, out);
    else if (entry.name.endsWith('.proto')) out.push(p);
  }
  return out;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** protobufjs bundles any/duration/struct/… but not descriptor.proto, which the Envoy tree imports. */
function registerBundledDescriptors(): void {
  for (const name of ['descriptor', 'api', 'source_context', 'type']) {
    const json = require(`protobufjs/google/protobuf/${name}.json`) as {
      nested: { google: { nested: { protobuf: { nested: protobuf.INamespace['nested'] } } } };
    };
    protobuf.common(name, json.nested.google.nested.protobuf.nested ?? {});
  }
}

/** Loads (once) every .proto of the snapshot whose imports are all present. */
export function envoySnapshot(): EnvoySnapshot {
  if (snapshot) return snapshot;
  registerBundledDescriptors();
  const depsDir = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const includeDirs: string[] = [];
  for (const d of ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate']) includeDirs.push(join(depsDir, d));
  const optionalRoots: string[] = [];
  for (const d of OPTIONAL_TREES) {
    for (const sub of ['', 'src', 'proto']) {
      const p = join(depsDir, d, sub);
      if (isDir(p) && !includeDirs.includes(p)) {
        includeDirs.push(p);
        optionalRoots.push(p);
      }
    }
  }
  const find = (target: string): string | null => {
    if (target in protobuf.common) return target; // bundled google/protobuf/*.proto
    for (const dir of includeDirs) {
      const p = join(dir, target);
      if (existsSync(p)) return p;
    }
    return null;
  };
  // A file is loadable when its import closure is on disk (the snapshot lacks e.g. opencensus, and the
  // v2 tree's envoy/api/v2): filter those out first, so one bad file does not poison the root.
  const importsOf = new Map<string, string[]>();
  const missingOf = new Map<string, string | null>();
  const missingImport = (file: string, stack: Set<string>): string | null => {
    if (!isAbsolute(file)) return null; // bundled google/protobuf file
    const memo = missingOf.get(file);
    if (memo !== undefined) return memo;
    if (stack.has(file)) return null;
    stack.add(file);
    let imports = importsOf.get(file);
    if (!imports) {
      const text = readFileSync(file, 'utf8');
      imports = [...text.matchAll(/^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;/gm)].map((m) => m[1]!);
      importsOf.set(file, imports);
    }
    let missing: string | null = null;
    for (const imp of imports) {
      const found = find(imp);
      missing = found === null ? imp : missingImport(found, stack);
      if (missing !== null) break;
    }
    stack.delete(file);
    missingOf.set(file, missing);
    return missing;
  };
  const candidates = [...LOAD_TREES.map((t) => join(depsDir, t)), ...optionalRoots]
    .filter(isDir)
    .flatMap((d) => walkProtos(d));
  const loadable: string[] = [];
  const skippedFiles: Array<{ file: string; missing: string }> = [];
  for (const file of [...new Set(candidates)]) {
    const missing = missingImport(file, new Set());
    if (missing === null) loadable.push(file);
    else skippedFiles.push({ file: relative(depsDir, file), missing });
  }
  const makeRoot = (): protobuf.Root => {
    const root = new protobuf.Root();
    root.resolvePath = (_origin, target) => (isAbsolute(target) ? target : find(target) ?? target);
    return root;
  };
  let root = makeRoot();
  let loadedFiles = loadable;
  try {
    root.loadSync(loadable, { keepCase: true });
  } catch {
    // Some file fails for another reason (a parse error): load file by file, keeping those that load alone.
    loadedFiles = loadable.filter((file) => {
      try {
        makeRoot().loadSync(file, { keepCase: true });
        return true;
      } catch (err) {
        skippedFiles.push({ file: relative(depsDir, file), missing: `does not load: ${(err as Error).message}` });
        return false;
      }
    });
    root = makeRoot();
    root.loadSync(loadedFiles, { keepCase: true });
  }
  root.resolveAll();
  snapshot = { root, depsDir, includeDirs, loadedFiles: loadedFiles.map((f) => relative(depsDir, f)), skippedFiles };
  return snapshot;
}

/** The loaded protobufjs root (all of the snapshot's envoy, xds and udpa types). */
export function envoyProtoRoot(): protobuf.Root {
  return envoySnapshot().root;
}

/** The message type `name` (with or without a leading dot or a `type.googleapis.com/` prefix), or null. */
export function envoyType(name: string): protobuf.Type | null {
  const full = name.slice(name.lastIndexOf('/') + 1).replace(/^\./, '');
  if (full === '') return null;
  try {
    const found = envoyProtoRoot().lookup(`.${full}`);
    return found instanceof protobuf.Type ? found : null;
  } catch {
    return null;
  }
}

// --- Public entry point -----------------------------------------------------------------------------------

/**
 * Problems of `value` (YAML/JSON-parsed, proto3 JSON form) as a `typeName` message; empty = valid.
 * Throws when `typeName` itself is not a loaded message type (a mistake in the caller, not in the config).
 */
export function validateEnvoy(typeName: string, value: unknown, options: ValidateOptions = {}): string[] {
  const type = envoyType(typeName);
  if (!type) throw new Error(`validateEnvoy: ${typeName} is not a message type of the loaded Envoy protos`);
  const ctx: Ctx = { problems: [], options };
  checkMessage(ctx, type, value, '');
  return ctx.problems;
}

// --- Internals ----------------------------------------------------------------------------------------------

interface Ctx {
  problems: string[];
  options: ValidateOptions;
}

type Json = unknown;
type Rules = Record<string, unknown>;

function report(ctx: Ctx, path: string, message: string): void {
  ctx.problems.push(`${path === '' ? '(root)' : path}: ${message}`);
}

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: Json): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${String(v)}`;
}

const at = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);
const index = (path: string, i: number): string => `${path}[${i}]`;
const entry = (path: string, key: string): string => `${path}[${JSON.stringify(key)}]`;

/** protoc's ToJsonName: drop each '_' and upper-case the next character. */
function jsonName(name: string): string {
  let out = '';
  let upper = false;
  for (const ch of name) {
    if (ch === '_') upper = true;
    else {
      out += upper ? ch.toUpperCase() : ch;
      upper = false;
    }
  }
  return out;
}

const fieldIndexes = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();
function fieldIndex(type: protobuf.Type): Map<string, protobuf.Field> {
  let idx = fieldIndexes.get(type);
  if (!idx) {
    idx = new Map();
    for (const f of type.fieldsArray) {
      idx.set(f.name, f);
      const jsonOption = (f.options as Record<string, unknown> | undefined)?.['json_name'];
      idx.set(typeof jsonOption === 'string' ? jsonOption : jsonName(f.name), f);
    }
    fieldIndexes.set(type, idx);
  }
  return idx;
}

function levenshtein(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function suggestion(type: protobuf.Type, key: string): string {
  let best: string | undefined;
  let bestD = Infinity;
  for (const f of type.fieldsArray) {
    const d = Math.min(levenshtein(key, f.name), levenshtein(key, jsonName(f.name)));
    if (d < bestD) {
      bestD = d;
      best = f.name;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(key.length / 5)) ? ` (did you mean ${best}?)` : '';
}

/** `(validate.rules)` of a field, merged from protobufjs's parsed options. */
function rulesOf(obj: protobuf.ReflectionObject): Rules | undefined {
  const parsed = (obj as unknown as { parsedOptions?: Array<Record<string, unknown>> }).parsedOptions;
  if (!Array.isArray(parsed)) return undefined;
  let merged: Rules | undefined;
  for (const opt of parsed) {
    const r = opt?.['(validate.rules)'];
    if (isObject(r)) merged = deepMerge(merged ?? {}, r);
  }
  return merged;
}

function deepMerge(a: Rules, b: Rules): Rules {
  const out: Rules = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isObject(prev) && isObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function optionOf(obj: protobuf.ReflectionObject, key: string): unknown {
  return (obj.options as Record<string, unknown> | undefined)?.[key];
}

const WRAPPERS: Record<string, string> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};
/** Well-known types whose JSON form is not an object of their fields (inside an Any: `{"@type", "value"}`). */
const SPECIAL_JSON = new Set([
  ...Object.keys(WRAPPERS),
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.FieldMask',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.Any',
]);
/** envoy.api.v2.*, envoy.config.*.v2alpha.*, …: the v2 xDS API, which current Envoys no longer load. */
const V2_PACKAGE = /^envoy\.(?:[a-z0-9_]+\.)*v2(?:alpha\d*|beta\d*)?\./;
const TYPED_STRUCTS = new Set(['xds.type.v3.TypedStruct', 'udpa.type.v1.TypedStruct']);

const fullName = (t: protobuf.ReflectionObject): string => t.fullName.replace(/^\./, '');

// Envoy: durations are non-negative and at most INT64_MAX nanoseconds (≈292 years), envoyproxy/envoy#32376.
const ENVOY_MAX_DURATION_SECONDS = 9_223_372_036;
const PROTO_MAX_DURATION_SECONDS = 315_576_000_000;

/** Parses a JSON Duration ("1.5s"); returns seconds as a number, or a problem. */
function parseDuration(v: Json): { seconds: number } | { problem: string } {
  if (isObject(v) && ('seconds' in v || 'nanos' in v)) {
    return { problem: 'a Duration is written as a string like "0.2s" (the {seconds, nanos} object is not its JSON form)' };
  }
  if (typeof v !== 'string') return { problem: `expected a Duration string like "0.2s", got ${describe(v)}` };
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(v);
  if (!m) return { problem: `invalid Duration ${JSON.stringify(v)}: expected seconds with an "s" suffix, like "0.2s" or "5s"` };
  const seconds = Number(m[2]) + (m[3] ? Number(`0.${m[3]}`) : 0);
  if (seconds > PROTO_MAX_DURATION_SECONDS) return { problem: `Duration ${JSON.stringify(v)} is out of range` };
  if (m[1]) return { problem: `Duration ${JSON.stringify(v)} is negative (Envoy rejects negative durations)` };
  if (seconds > ENVOY_MAX_DURATION_SECONDS) return { problem: `Duration ${JSON.stringify(v)} exceeds Envoy's limit of ${ENVOY_MAX_DURATION_SECONDS}s` };
  return { seconds };
}

const INT_RANGES: Record<string, [bigint, bigint]> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

/** Checks a scalar JSON value; returns the value as a number/string/boolean for rule checks, or undefined. */
function checkScalar(ctx: Ctx, kind: string, v: Json, path: string): number | string | boolean | undefined {
  const range = INT_RANGES[kind];
  if (range) {
    let n: bigint | undefined;
    if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
    else if (typeof v === 'string' && /^-?\d+$/.test(v)) n = BigInt(v);
    if (n === undefined) {
      report(ctx, path, `expected an integer (${kind}), got ${describe(v)}`);
      return undefined;
    }
    if (n < range[0] || n > range[1]) {
      report(ctx, path, `${n} is out of range for ${kind}`);
      return undefined;
    }
    return Number(n);
  }
  switch (kind) {
    case 'double':
    case 'float': {
      if (typeof v === 'number') return v;
      if (typeof v === 'string' && (['NaN', 'Infinity', '-Infinity'].includes(v) || (v.trim() !== '' && Number.isFinite(Number(v))))) return Number(v);
      report(ctx, path, `expected a number (${kind}), got ${describe(v)}`);
      return undefined;
    }
    case 'bool':
      if (typeof v === 'boolean') return v;
      report(ctx, path, `expected true or false, got ${describe(v)}`);
      return undefined;
    case 'string':
      if (typeof v === 'string') return v;
      report(ctx, path, `expected a string, got ${describe(v)}`);
      return undefined;
    case 'bytes':
      if (typeof v === 'string' && /^[A-Za-z0-9+/\-_]*={0,2}$/.test(v)) return v;
      report(ctx, path, `expected base64-encoded bytes, got ${describe(v)}`);
      return undefined;
    default:
      report(ctx, path, `unsupported scalar type ${kind}`);
      return undefined;
  }
}

function checkEnum(ctx: Ctx, en: protobuf.Enum, v: Json, path: string): number | undefined {
  if (fullName(en) === 'google.protobuf.NullValue') {
    if (v === null || v === 'NULL_VALUE' || v === 0) return 0;
    report(ctx, path, `expected null, got ${describe(v)}`);
    return undefined;
  }
  let num: number | undefined;
  let name: string | undefined;
  if (typeof v === 'string') {
    if (!(v in en.values)) {
      const names = Object.keys(en.values);
      report(ctx, path, `unknown enum value ${JSON.stringify(v)} for ${fullName(en)} (one of: ${names.join(', ')})`);
      return undefined;
    }
    name = v;
    num = en.values[v];
  } else if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) {
    num = v;
    name = Object.keys(en.values).find((k) => en.values[k] === v);
  } else {
    report(ctx, path, `expected an enum value name of ${fullName(en)}, got ${describe(v)}`);
    return undefined;
  }
  if (name !== undefined) {
    const opts = en.valuesOptions?.[name] ?? {};
    if (opts['(envoy.annotations.disallowed_by_default_enum)'] === true) {
      report(ctx, path, `enum value ${name} is disallowed by default (Envoy rejects it without a runtime override)`);
    } else if (ctx.options.rejectDeprecated && opts['deprecated'] === true) {
      report(ctx, path, `enum value ${name} is deprecated`);
    }
  }
  return num;
}

/** Checks `v` as a message of `type` (any JSON form, well-known types included). */
function checkMessage(ctx: Ctx, type: protobuf.Type, v: Json, path: string): void {
  const name = fullName(type);
  const wrapped = WRAPPERS[name];
  if (wrapped) {
    if (isObject(v)) {
      report(ctx, path, `${name}'s JSON form is a plain ${wrapped === 'bool' ? 'true/false' : wrapped === 'string' ? 'string' : 'value'}, not an object`);
      return;
    }
    checkScalar(ctx, wrapped, v, path);
    return;
  }
  switch (name) {
    case 'google.protobuf.Any':
      return checkAny(ctx, v, path);
    case 'google.protobuf.Duration': {
      const d = parseDuration(v);
      if ('problem' in d) report(ctx, path, d.problem);
      return;
    }
    case 'google.protobuf.Timestamp':
      if (typeof v !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(v) || Number.isNaN(Date.parse(v))) {
        report(ctx, path, `expected an RFC 3339 Timestamp string like "2024-07-01T00:00:00Z", got ${describe(v)}`);
      }
      return;
    case 'google.protobuf.FieldMask':
      if (typeof v !== 'string') report(ctx, path, `expected a FieldMask string like "a.b,c", got ${describe(v)}`);
      return;
    case 'google.protobuf.Struct':
      if (!isObject(v)) report(ctx, path, `expected an object (google.protobuf.Struct), got ${describe(v)}`);
      return;
    case 'google.protobuf.ListValue':
      if (!Array.isArray(v)) report(ctx, path, `expected a list (google.protobuf.ListValue), got ${describe(v)}`);
      return;
    case 'google.protobuf.Value':
      return; // any JSON value
    default:
  }
  if (!isObject(v)) {
    report(ctx, path, `expected an object (${name}), got ${describe(v)}`);
    return;
  }
  checkFields(ctx, type, v, path, new Set());
}

/** The fields of an object form of `type`; `skip` lists keys handled by the caller (`@type`). */
function checkFields(ctx: Ctx, type: protobuf.Type, obj: Record<string, Json>, path: string, skip: Set<string>): void {
  const idx = fieldIndex(type);
  const given = new Map<protobuf.Field, { key: string; value: Json }>();
  for (const [key, value] of Object.entries(obj)) {
    if (skip.has(key)) continue;
    const field = idx.get(key);
    const p = at(path, key);
    if (!field) {
      report(ctx, p, key === '@type' ? `unknown field (@type belongs to a google.protobuf.Any; ${fullName(type)} is not one)` : `unknown field${suggestion(type, key)}`);
      continue;
    }
    const prev = given.get(field);
    if (prev) {
      report(ctx, p, `field ${field.name} given twice (as ${prev.key} and ${key})`);
      continue;
    }
    given.set(field, { key, value });
    if (value === null && !isValueType(field)) continue; // null = unset, as protobuf's JSON parser reads it
    if (optionOf(field, '(envoy.annotations.disallowed_by_default)') === true) {
      report(ctx, p, 'field is disallowed by default (Envoy rejects it without a runtime override)');
    } else if (ctx.options.rejectDeprecated && optionOf(field, 'deprecated') === true) {
      report(ctx, p, 'field is deprecated');
    }
    checkField(ctx, field, value, p);
  }
  const isSet = (f: protobuf.Field): boolean => {
    const g = given.get(f);
    return g !== undefined && (g.value !== null || isValueType(f));
  };
  for (const oneof of type.oneofsArray) {
    const set = oneof.fieldsArray.filter(isSet);
    if (set.length > 1) {
      report(ctx, path, `oneof ${oneof.name} has more than one field set (${set.map((f) => given.get(f)!.key).join(', ')})`);
    }
    const synthetic = oneof.fieldsArray.length === 1 && optionOf(oneof.fieldsArray[0]!, 'proto3_optional') === true;
    if (!synthetic && set.length === 0 && optionOf(oneof, '(validate.required)') === true) {
      report(ctx, path, `one of ${oneof.fieldsArray.map((f) => f.name).join(', ')} is required [(validate.required) on oneof ${oneof.name}]`);
    }
  }
  // protoc-gen-validate rules of fields left unset: requiredness, and scalar rules on the default value.
  for (const field of type.fieldsArray) {
    if (isSet(field)) continue;
    const rules = rulesOf(field);
    if (!rules) continue;
    const p = at(path, field.name);
    if (field.partOf) continue; // oneof members (and proto3 optional fields) are checked only when set
    if (field.map) checkMapRules(ctx, rules, {}, p);
    else if (field.repeated) checkRepeatedRules(ctx, rules, [], p, field);
    else if (field.resolvedType instanceof protobuf.Type) {
      const required = (isObject(rules['message']) && rules['message']['required'] === true)
        || (isObject(rules['duration']) && rules['duration']['required'] === true)
        || (isObject(rules['any']) && rules['any']['required'] === true)
        || (isObject(rules['timestamp']) && rules['timestamp']['required'] === true);
      if (required) report(ctx, p, `required field is missing [(validate.rules) ${fullName(field.resolvedType)}]`);
    } else {
      checkScalarRules(ctx, rules, defaultOf(field), p);
    }
  }
}

function typeLabel(field: protobuf.Field): string {
  return field.resolvedType ? fullName(field.resolvedType) : field.type;
}

function isValueType(field: protobuf.Field): boolean {
  return field.resolvedType instanceof protobuf.Type && fullName(field.resolvedType) === 'google.protobuf.Value' && !field.repeated && !field.map;
}

function defaultOf(field: protobuf.Field): number | string | boolean {
  if (field.resolvedType instanceof protobuf.Enum) return 0;
  if (field.type === 'bool') return false;
  if (field.type === 'string' || field.type === 'bytes') return '';
  return 0;
}

function checkField(ctx: Ctx, field: protobuf.Field, v: Json, path: string): void {
  const rules = rulesOf(field);
  if (field.map) {
    if (!isObject(v)) {
      report(ctx, path, `expected an object (map<${(field as unknown as protobuf.MapField).keyType}, ${typeLabel(field)}>), got ${describe(v)}`);
      return;
    }
    const keyType = (field as unknown as protobuf.MapField).keyType;
    for (const [k, item] of Object.entries(v)) {
      const p = entry(path, k);
      if (keyType !== 'string') {
        if (keyType === 'bool') {
          if (k !== 'true' && k !== 'false') report(ctx, p, `map key must be true or false`);
        } else checkScalar(ctx, keyType, k, p);
      }
      if (item === null) {
        report(ctx, p, 'map value is null');
        continue;
      }
      const got = checkSingle(ctx, field, item, p);
      if (rules && isObject(rules['map'])) {
        const m = rules['map'];
        if (isObject(m['keys'])) checkScalarRules(ctx, m['keys'], keyType === 'string' ? k : Number(k), `${p} (key)`);
        if (isObject(m['values']) && got !== undefined) checkScalarRules(ctx, m['values'], got, p);
      }
    }
    if (rules) checkMapRules(ctx, rules, v, path);
    return;
  }
  if (field.repeated) {
    if (!Array.isArray(v)) {
      report(ctx, path, `expected a list (repeated ${typeLabel(field)}), got ${describe(v)}`);
      return;
    }
    const items: Array<number | string | boolean | undefined> = [];
    v.forEach((item, i) => {
      if (item === null) {
        report(ctx, index(path, i), 'null in a list');
        items.push(undefined);
        return;
      }
      const got = checkSingle(ctx, field, item, index(path, i));
      items.push(got);
      if (rules && isObject(rules['repeated']) && isObject(rules['repeated']['items']) && got !== undefined) {
        checkScalarRules(ctx, rules['repeated']['items'], got, index(path, i));
        checkEnumDefined(ctx, field, rules['repeated']['items'], got, index(path, i));
      }
    });
    if (rules) checkRepeatedRules(ctx, rules, v, path, field, items);
    return;
  }
  const got = checkSingle(ctx, field, v, path);
  if (!rules) return;
  if (field.resolvedType instanceof protobuf.Type) {
    const name = fullName(field.resolvedType);
    if (name === 'google.protobuf.Duration' && isObject(rules['duration'])) {
      const d = parseDuration(v);
      if (!('problem' in d)) checkDurationRules(ctx, rules['duration'], d.seconds, path);
    } else if (WRAPPERS[name] && got !== undefined) {
      checkScalarRules(ctx, rules, got, path);
    } else if (name === 'google.protobuf.Any' && isObject(rules['any']) && Array.isArray(rules['any']['in']) && isObject(v)) {
      const url = v['@type'];
      if (typeof url === 'string' && !rules['any']['in'].includes(url)) report(ctx, path, `@type must be one of ${rules['any']['in'].join(', ')}`);
    }
  } else if (got !== undefined) {
    checkScalarRules(ctx, rules, got, path);
    checkEnumDefined(ctx, field, rules, got, path);
  }
}

/** One (non-repeated) value of `field`'s type; returns the scalar/enum number for rule checks. */
function checkSingle(ctx: Ctx, field: protobuf.Field, v: Json, path: string): number | string | boolean | undefined {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) return checkEnum(ctx, rt, v, path);
  if (rt instanceof protobuf.Type) {
    checkMessage(ctx, rt, v, path);
    const w = WRAPPERS[fullName(rt)];
    if (w && !isObject(v)) {
      if (w === 'bool' || w === 'string' || w === 'bytes') return typeof v === 'boolean' || typeof v === 'string' ? v : undefined;
      const n = typeof v === 'number' ? v : Number(v);
      return Number.isNaN(n) ? undefined : n;
    }
    return undefined;
  }
  return checkScalar(ctx, field.type, v, path);
}

function checkAny(ctx: Ctx, v: Json, path: string): void {
  if (!isObject(v)) {
    report(ctx, path, `expected an object with "@type" (google.protobuf.Any), got ${describe(v)}`);
    return;
  }
  const url = v['@type'];
  const typePath = at(path, '@type');
  if (url === undefined) {
    report(ctx, path, 'google.protobuf.Any without "@type"');
    return;
  }
  if (typeof url !== 'string') {
    report(ctx, typePath, `expected a type URL string, got ${describe(url)}`);
    return;
  }
  if (!url.includes('/')) {
    report(ctx, typePath, `"${url}" is not a type URL: expected type.googleapis.com/<full message name>`);
    return;
  }
  const type = envoyType(url);
  if (!type) {
    report(ctx, typePath, `unresolvable type ${JSON.stringify(url)}${unresolvableHint(url)}`);
    return;
  }
  const name = fullName(type);
  if (V2_PACKAGE.test(name)) report(ctx, typePath, `${name} is a v2 API type: Envoy accepts only v3 configs (the v2 API was removed)`);
  if (SPECIAL_JSON.has(name)) {
    for (const key of Object.keys(v)) if (key !== '@type' && key !== 'value') report(ctx, at(path, key), `unknown field (an Any holding ${name} has only "value")`);
    if (!('value' in v)) report(ctx, path, `an Any holding ${name} needs "value"`);
    else checkMessage(ctx, type, v['value'], at(path, 'value'));
    return;
  }
  checkFields(ctx, type, v, path, new Set(['@type']));
  if (TYPED_STRUCTS.has(name)) checkTypedStruct(ctx, v, path);
}

/** xds/udpa TypedStruct: Envoy converts `value` (a Struct) into the `type_url` message, unknown fields included. */
function checkTypedStruct(ctx: Ctx, v: Record<string, Json>, path: string): void {
  const url = v['type_url'] ?? v['typeUrl'];
  if (typeof url !== 'string' || url === '') {
    report(ctx, at(path, 'type_url'), 'TypedStruct needs a type_url');
    return;
  }
  const type = envoyType(url);
  if (!type) {
    report(ctx, at(path, 'type_url'), `unresolvable type ${JSON.stringify(url)}${unresolvableHint(url)}`);
    return;
  }
  if (V2_PACKAGE.test(fullName(type))) report(ctx, at(path, 'type_url'), `${fullName(type)} is a v2 API type: Envoy accepts only v3 configs (the v2 API was removed)`);
  const value = v['value'];
  if (value === undefined || value === null) return;
  checkMessage(ctx, type, value, at(path, 'value'));
}

function unresolvableHint(url: string): string {
  const name = url.slice(url.lastIndexOf('/') + 1);
  const pkg = name.split('.').slice(0, -1).join('.');
  const snap = envoySnapshot();
  const skipped = snap.skippedFiles.find((s) => {
    try {
      const text = readFileSync(join(snap.depsDir, s.file), 'utf8');
      return new RegExp(`^\\s*package\\s+${pkg.replace(/\./g, '\\.')}\\s*;`, 'm').test(text) && text.includes(`message ${name.split('.').pop()} `);
    } catch {
      return false;
    }
  });
  if (skipped) return ` (its file ${skipped.file} is in the snapshot but not loadable: missing ${skipped.missing})`;
  return ' (no such message in the envoy-api snapshot of @grpc/grpc-js-xds, ≈ Envoy 1.31)';
}

// --- protoc-gen-validate subset -------------------------------------------------------------------------------

const SCALAR_RULE_KINDS = ['string', 'bytes', 'bool', 'enum', 'double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64'];

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function checkScalarRules(ctx: Ctx, rules: Rules, value: number | string | boolean, path: string): void {
  for (const kind of SCALAR_RULE_KINDS) {
    const r = rules[kind];
    if (!isObject(r)) continue;
    const tag = `[(validate.rules).${kind}]`;
    if (r['ignore_empty'] === true && (value === '' || value === 0 || value === false)) continue;
    if ('const' in r && r['const'] !== value) report(ctx, path, `must be ${JSON.stringify(r['const'])} ${tag}`);
    if (Array.isArray(r['in']) && r['in'].length > 0 && !r['in'].map(normaliseRuleValue).includes(value)) {
      report(ctx, path, `must be one of ${r['in'].join(', ')} ${tag}`);
    }
    if (Array.isArray(r['not_in']) && r['not_in'].map(normaliseRuleValue).includes(value)) report(ctx, path, `must not be ${JSON.stringify(value)} ${tag}`);
    if (kind === 'string' && typeof value === 'string') {
      const chars = [...value].length;
      if (typeof r['min_len'] === 'number' && chars < r['min_len']) report(ctx, path, `must have at least ${r['min_len']} character(s) ${tag}`);
      if (typeof r['max_len'] === 'number' && chars > r['max_len']) report(ctx, path, `must have at most ${r['max_len']} character(s) ${tag}`);
      if (typeof r['min_bytes'] === 'number' && utf8Length(value) < r['min_bytes']) report(ctx, path, `must have at least ${r['min_bytes']} byte(s) ${tag}`);
      if (typeof r['max_bytes'] === 'number' && utf8Length(value) > r['max_bytes']) report(ctx, path, `must have at most ${r['max_bytes']} byte(s) ${tag}`);
      if (typeof r['prefix'] === 'string' && !value.startsWith(r['prefix'])) report(ctx, path, `must start with ${JSON.stringify(r['prefix'])} ${tag}`);
      if (typeof r['pattern'] === 'string' && value !== '') {
        let re: RegExp | undefined;
        try {
          re = new RegExp(r['pattern'], 'u');
        } catch {
          re = undefined; // an RE2 construct JavaScript lacks: not checked
        }
        if (re && !re.test(value)) report(ctx, path, `must match ${r['pattern']} ${tag}`);
      }
      const wk = r['well_known_regex'];
      if ((wk === 'HTTP_HEADER_NAME' || wk === 'HTTP_HEADER_VALUE' || wk === 1 || wk === 2) && value !== '') {
        const strict = r['strict'] !== false;
        const header = wk === 'HTTP_HEADER_NAME' || wk === 1;
        // protoc-gen-validate's regexes for the two well-known patterns, strict and loose.
        const re = !strict ? /^[^\u0000\u000A\u000D]*$/u : header ? /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/u : /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/u;
        if (!re.test(value)) report(ctx, path, `must be a valid HTTP header ${header ? 'name' : 'value'} ${tag}`);
      }
    }
    if (kind === 'bytes' && typeof value === 'string') {
      const n = Buffer.from(value, 'base64').length;
      if (typeof r['min_len'] === 'number' && n < r['min_len']) report(ctx, path, `must have at least ${r['min_len']} byte(s) ${tag}`);
      if (typeof r['max_len'] === 'number' && n > r['max_len']) report(ctx, path, `must have at most ${r['max_len']} byte(s) ${tag}`);
    }
    if (typeof value === 'number' && kind !== 'enum') {
      const num = (k: string): number | undefined => (r[k] === undefined ? undefined : Number(r[k]));
      const gt = num('gt');
      const gte = num('gte');
      const lt = num('lt');
      const lte = num('lte');
      const lower = gt !== undefined ? value > gt : gte !== undefined ? value >= gte : true;
      const upper = lt !== undefined ? value < lt : lte !== undefined ? value <= lte : true;
      // protoc-gen-validate: when the lower bound exceeds the upper one, the range is exclusive (outside).
      const lo = gt ?? gte;
      const hi = lt ?? lte;
      const ok = lo !== undefined && hi !== undefined && lo > hi ? lower || upper : lower && upper;
      if (!ok) {
        const bounds = [gt !== undefined ? `> ${gt}` : '', gte !== undefined ? `≥ ${gte}` : '', lt !== undefined ? `< ${lt}` : '', lte !== undefined ? `≤ ${lte}` : ''].filter(Boolean);
        report(ctx, path, `${value} must be ${bounds.join(' and ')} ${tag}`);
      }
    }
  }
}

/** `(validate.rules).enum.defined_only`: an integer that names no value of the enum. */
function checkEnumDefined(ctx: Ctx, field: protobuf.Field, rules: Rules | undefined, value: unknown, path: string): void {
  const en = field.resolvedType;
  if (!(en instanceof protobuf.Enum) || !rules || !isObject(rules['enum']) || rules['enum']['defined_only'] !== true) return;
  if (typeof value === 'number' && !Object.values(en.values).includes(value)) {
    report(ctx, path, `${value} is not a defined value of ${fullName(en)} [(validate.rules).enum.defined_only]`);
  }
}

function normaliseRuleValue(v: unknown): unknown {
  return typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : v;
}

function checkDurationRules(ctx: Ctx, r: Rules, seconds: number, path: string): void {
  const secs = (k: string): number | undefined => {
    const d = r[k];
    if (!isObject(d)) return undefined;
    return Number(d['seconds'] ?? 0) + Number(d['nanos'] ?? 0) / 1e9;
  };
  const tag = '[(validate.rules).duration]';
  const c = secs('const');
  if (c !== undefined && seconds !== c) report(ctx, path, `must be ${c}s ${tag}`);
  const gt = secs('gt');
  const gte = secs('gte');
  const lt = secs('lt');
  const lte = secs('lte');
  if (gt !== undefined && !(seconds > gt)) report(ctx, path, `must be > ${gt}s ${tag}`);
  if (gte !== undefined && !(seconds >= gte)) report(ctx, path, `must be ≥ ${gte}s ${tag}`);
  if (lt !== undefined && !(seconds < lt)) report(ctx, path, `must be < ${lt}s ${tag}`);
  if (lte !== undefined && !(seconds <= lte)) report(ctx, path, `must be ≤ ${lte}s ${tag}`);
}

function checkRepeatedRules(ctx: Ctx, rules: Rules, list: Json[], path: string, field: protobuf.Field, items?: Array<number | string | boolean | undefined>): void {
  const r = rules['repeated'];
  if (!isObject(r)) return;
  const tag = '[(validate.rules).repeated]';
  if (r['ignore_empty'] === true && list.length === 0) return;
  if (r['min_items'] !== undefined && list.length < Number(r['min_items'])) report(ctx, path, `needs at least ${r['min_items']} item(s) ${tag}`);
  if (r['max_items'] !== undefined && list.length > Number(r['max_items'])) report(ctx, path, `takes at most ${r['max_items']} item(s) ${tag}`);
  if (r['unique'] === true && items && !(field.resolvedType instanceof protobuf.Type)) {
    const seen = new Set<unknown>();
    items.forEach((it, i) => {
      if (it === undefined) return;
      if (seen.has(it)) report(ctx, index(path, i), `duplicate item ${JSON.stringify(it)} ${tag}`);
      seen.add(it);
    });
  }
}

function checkMapRules(ctx: Ctx, rules: Rules, map: Record<string, Json>, path: string): void {
  const r = rules['map'];
  if (!isObject(r)) return;
  const n = Object.keys(map).length;
  const tag = '[(validate.rules).map]';
  if (r['ignore_empty'] === true && n === 0) return;
  if (r['min_pairs'] !== undefined && n < Number(r['min_pairs'])) report(ctx, path, `needs at least ${r['min_pairs']} entr(y/ies) ${tag}`);
  if (r['max_pairs'] !== undefined && n > Number(r['max_pairs'])) report(ctx, path, `takes at most ${r['max_pairs']} entr(y/ies) ${tag}`);
}
