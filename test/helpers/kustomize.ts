// A tiny kustomize, for tests: renders a kustomization directory into its manifests without kubectl.
//
// It implements only what k8s/ uses, and throws on anything else, so a kustomization it cannot render
// faithfully fails the test instead of rendering something kustomize would not:
// - `resources`: files (multi-document YAML) and directories holding a kustomization.yaml, rendered
//   recursively; a file outside the kustomization's directory is refused, as kustomize's default load
//   restrictor does; remote resources are refused.
// - `configMapGenerator` / `secretGenerator`: `files` (`path` or `key=path`) and `literals`
//   (`KEY=VALUE`), `options.labels`, and only with the name-suffix hash disabled (per generator or in
//   `generatorOptions`): kustomize's hash and the reference rewriting that goes with it are not here.
// - `patches`: strategic-merge patches from a file, matched by the patch's own kind and name, or by
//   `target` {kind, name}. Lists merge by key only where the key is known here (a Deployment's
//   containers, env, volumeMounts, volumes); any other list in a patch, a `$patch` directive or a null
//   (delete) is refused. JSON 6902 patches are refused.
// - `namespace`: set on every namespaced kind this file knows; an unknown kind is refused.
// - `images`: `newName` / `newTag` / `digest` on every container image of that name; an entry matching
//   no image is refused (kustomize ignores it silently, which hides typos).
// Resources come out in the order they were loaded (kustomize sorts them; nothing here depends on it).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, relative, resolve, sep } from 'node:path';
import { parseAllDocuments } from 'yaml';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export class KustomizeError extends Error {}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const CLUSTER_SCOPED = new Set(['Namespace']);
const NAMESPACED = new Set([
  'ConfigMap', 'Secret', 'Service', 'ServiceAccount', 'Deployment', 'NetworkPolicy',
  'PodMonitor', 'ServiceMonitor', 'PrometheusRule', 'EnvoyFilter',
]);

const KUSTOMIZATION_KEYS = new Set([
  'apiVersion', 'kind', 'resources', 'configMapGenerator', 'secretGenerator', 'generatorOptions',
  'patches', 'namespace', 'images',
]);

/** Renders the kustomization in `dir` (a directory holding kustomization.yaml). */
export function kustomize(dir: string): Manifest[] {
  const root = resolve(dir);
  const file = join(root, 'kustomization.yaml');
  if (!existsSync(file)) throw new KustomizeError(`${root}: no kustomization.yaml`);
  const k = parseOne(file);
  const where = relative(process.cwd(), file) || file;
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_KEYS.has(key)) throw new KustomizeError(`${where}: "${key}" is not implemented by this test loader`);
  }
  if (k.apiVersion !== undefined && k.apiVersion !== 'kustomize.config.k8s.io/v1beta1') {
    throw new KustomizeError(`${where}: apiVersion ${String(k.apiVersion)} is not kustomize.config.k8s.io/v1beta1`);
  }
  if (k.kind !== undefined && k.kind !== 'Kustomization') throw new KustomizeError(`${where}: kind ${String(k.kind)} is not Kustomization`);

  const out: Manifest[] = [];
  const add = (m: Manifest, from: string): void => {
    const id = idOf(m);
    if (out.some((o) => idOf(o) === id)) throw new KustomizeError(`${from}: ${id} is already defined`);
    out.push(m);
  };

  for (const entry of list(k.resources, `${where}: resources`)) {
    if (typeof entry !== 'string') throw new KustomizeError(`${where}: resources entries must be paths`);
    if (/^[a-z]+:\/\/|^github\.com\//.test(entry)) throw new KustomizeError(`${where}: remote resource ${entry} is not implemented`);
    const path = resolve(root, entry);
    if (!existsSync(path)) throw new KustomizeError(`${where}: resource ${entry} does not exist (${path})`);
    if (statSync(path).isDirectory()) {
      for (const m of kustomize(path)) add(m, `${where}: ${entry}`);
    } else {
      inside(root, path, `${where}: resource ${entry}`);
      for (const m of parseManifests(path)) add(m, `${where}: ${entry}`);
    }
  }

  const globalOptions = options(k.generatorOptions, `${where}: generatorOptions`);
  for (const [field, kind] of [['configMapGenerator', 'ConfigMap'], ['secretGenerator', 'Secret']] as const) {
    for (const [i, g] of list(k[field], `${where}: ${field}`).entries()) {
      add(generate(root, g, kind, globalOptions, `${where}: ${field}[${i}]`), `${where}: ${field}[${i}]`);
    }
  }

  for (const [i, p] of list(k.patches, `${where}: patches`).entries()) applyPatch(root, p, out, `${where}: patches[${i}]`);

  if (k.namespace !== undefined) {
    if (typeof k.namespace !== 'string' || k.namespace === '') throw new KustomizeError(`${where}: namespace must be a string`);
    for (const m of out) {
      if (CLUSTER_SCOPED.has(m.kind)) {
        // What kustomize does with a Namespace object under `namespace:` is not modelled here.
        if (m.kind === 'Namespace' && m.metadata.name !== k.namespace) {
          throw new KustomizeError(`${where}: Namespace ${m.metadata.name} differs from namespace: ${k.namespace}; not implemented`);
        }
      } else if (NAMESPACED.has(m.kind)) {
        m.metadata.namespace = k.namespace;
      } else {
        throw new KustomizeError(`${where}: does not know whether kind ${m.kind} is namespaced`);
      }
    }
  }

  for (const [i, img] of list(k.images, `${where}: images`).entries()) setImage(img, out, `${where}: images[${i}]`);
  return out;
}

function idOf(m: Manifest): string {
  return `${m.kind}/${m.metadata.namespace ?? '~'}/${m.metadata.name}`;
}

function list(v: unknown, what: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new KustomizeError(`${what} must be a list`);
  return v;
}

function inside(root: string, path: string, what: string): void {
  if (path !== root && !path.startsWith(root + sep)) {
    throw new KustomizeError(`${what}: ${path} is not in or below ${root} (kustomize's load restrictor refuses it)`);
  }
}

function parseOne(file: string): Obj {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  if (!Array.isArray(docs) || docs.length !== 1) throw new KustomizeError(`${file}: expected exactly one YAML document`);
  const doc = docs[0]!;
  if (doc.errors.length > 0) throw new KustomizeError(`${file}: ${doc.errors[0]!.message}`);
  const v: unknown = doc.toJS();
  if (!isObj(v)) throw new KustomizeError(`${file}: not a mapping`);
  return v;
}

/** Every document of a manifest file; each must be one Kubernetes object (no List). */
export function parseManifests(file: string): Manifest[] {
  const parsed = parseAllDocuments(readFileSync(file, 'utf8'));
  const docs = Array.isArray(parsed) ? parsed : [];
  const out: Manifest[] = [];
  for (const [i, doc] of docs.entries()) {
    if (doc.errors.length > 0) throw new KustomizeError(`${file} document ${i}: ${doc.errors[0]!.message}`);
    const v: unknown = doc.toJS();
    if (v === null || v === undefined) continue;
    if (!isObj(v)) throw new KustomizeError(`${file} document ${i}: not a mapping`);
    const meta = v.metadata;
    if (typeof v.apiVersion !== 'string' || typeof v.kind !== 'string' || !isObj(meta) || typeof meta.name !== 'string') {
      throw new KustomizeError(`${file} document ${i}: needs apiVersion, kind and metadata.name`);
    }
    if (v.kind === 'List' || v.kind.endsWith('List')) throw new KustomizeError(`${file} document ${i}: ${v.kind} is not implemented`);
    out.push(v as Manifest);
  }
  return out;
}

interface GenOptions { disableNameSuffixHash: boolean; labels: Record<string, string> }

function options(v: unknown, what: string): GenOptions {
  const o: GenOptions = { disableNameSuffixHash: false, labels: {} };
  if (v === undefined) return o;
  if (!isObj(v)) throw new KustomizeError(`${what} must be a mapping`);
  for (const [key, val] of Object.entries(v)) {
    if (key === 'disableNameSuffixHash' && typeof val === 'boolean') o.disableNameSuffixHash = val;
    else if (key === 'labels' && isObj(val) && Object.values(val).every((x) => typeof x === 'string')) o.labels = val as Record<string, string>;
    else throw new KustomizeError(`${what}.${key} is not implemented by this test loader`);
  }
  return o;
}

function generate(root: string, g: unknown, kind: 'ConfigMap' | 'Secret', global: GenOptions, what: string): Manifest {
  if (!isObj(g)) throw new KustomizeError(`${what} must be a mapping`);
  for (const key of Object.keys(g)) {
    if (!['name', 'files', 'literals', 'options'].includes(key)) throw new KustomizeError(`${what}.${key} is not implemented by this test loader`);
  }
  if (typeof g.name !== 'string' || g.name === '') throw new KustomizeError(`${what}: needs a name`);
  const local = options(g.options, `${what}.options`);
  // As kustomize merges generatorOptions into each generator's options: labels merge (the
  // generator's win), and a global disableNameSuffixHash disables it everywhere.
  const opts: GenOptions = {
    disableNameSuffixHash: local.disableNameSuffixHash || global.disableNameSuffixHash,
    labels: { ...global.labels, ...local.labels },
  };
  if (!opts.disableNameSuffixHash) {
    throw new KustomizeError(`${what} (${g.name}): the name-suffix hash is not implemented by this test loader; set options.disableNameSuffixHash: true`);
  }
  const data: Record<string, string> = {};
  const put = (key: string, value: string): void => {
    if (!/^[-._a-zA-Z0-9]+$/.test(key)) throw new KustomizeError(`${what}: invalid key "${key}"`);
    if (key in data) throw new KustomizeError(`${what}: key "${key}" given twice`);
    data[key] = value;
  };
  for (const f of list(g.files, `${what}.files`)) {
    if (typeof f !== 'string') throw new KustomizeError(`${what}.files entries must be strings`);
    const eq = f.indexOf('=');
    const key = eq >= 0 ? f.slice(0, eq) : basename(f);
    const path = resolve(root, eq >= 0 ? f.slice(eq + 1) : f);
    inside(root, path, `${what} file ${f}`);
    if (!existsSync(path)) throw new KustomizeError(`${what}: file ${f} does not exist (${path})`);
    put(key, readFileSync(path, 'utf8'));
  }
  for (const l of list(g.literals, `${what}.literals`)) {
    if (typeof l !== 'string' || l.indexOf('=') <= 0) throw new KustomizeError(`${what}: literal ${String(l)} is not KEY=VALUE`);
    const eq = l.indexOf('=');
    put(l.slice(0, eq), l.slice(eq + 1));
  }
  const metadata: Manifest['metadata'] = { name: g.name };
  if (Object.keys(opts.labels).length > 0) metadata.labels = { ...opts.labels };
  if (kind === 'ConfigMap') return { apiVersion: 'v1', kind, metadata, data };
  const encoded = Object.fromEntries(Object.entries(data).map(([key, v]) => [key, Buffer.from(v, 'utf8').toString('base64')]));
  return { apiVersion: 'v1', kind, type: 'Opaque', metadata, data: encoded };
}

function applyPatch(root: string, p: unknown, out: Manifest[], what: string): void {
  if (!isObj(p)) throw new KustomizeError(`${what} must be a mapping`);
  for (const key of Object.keys(p)) {
    if (key !== 'path' && key !== 'target') throw new KustomizeError(`${what}.${key} is not implemented by this test loader (only path and target)`);
  }
  if (typeof p.path !== 'string') throw new KustomizeError(`${what}: needs a path (inline patches are not implemented)`);
  const file = resolve(root, p.path);
  inside(root, file, `${what} ${p.path}`);
  if (!existsSync(file)) throw new KustomizeError(`${what}: ${p.path} does not exist`);
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  if (!Array.isArray(docs) || docs.length !== 1) throw new KustomizeError(`${what}: ${p.path} must hold exactly one document`);
  const patch: unknown = docs[0]!.toJS();
  if (Array.isArray(patch)) throw new KustomizeError(`${what}: JSON 6902 patches are not implemented by this test loader`);
  if (!isObj(patch) || typeof patch.kind !== 'string' || !isObj(patch.metadata) || typeof patch.metadata.name !== 'string') {
    throw new KustomizeError(`${what}: a strategic-merge patch needs kind and metadata.name`);
  }
  let kind: string = patch.kind;
  let name: string = patch.metadata.name;
  if (p.target !== undefined) {
    if (!isObj(p.target)) throw new KustomizeError(`${what}.target must be a mapping`);
    for (const key of Object.keys(p.target)) {
      if (key !== 'kind' && key !== 'name') throw new KustomizeError(`${what}.target.${key} is not implemented by this test loader`);
    }
    if (typeof p.target.kind !== 'string' || typeof p.target.name !== 'string') throw new KustomizeError(`${what}.target needs kind and name`);
    kind = p.target.kind;
    name = p.target.name;
  }
  const targets = out.filter((m) => m.kind === kind && m.metadata.name === name);
  if (targets.length !== 1) throw new KustomizeError(`${what}: ${kind}/${name} matches ${targets.length} resources, not exactly one`);
  const target = targets[0]!;
  if (patch.apiVersion !== undefined && patch.apiVersion !== target.apiVersion) {
    throw new KustomizeError(`${what}: apiVersion ${String(patch.apiVersion)} differs from the target's ${target.apiVersion}`);
  }
  const { apiVersion: _a, kind: _k, ...body } = patch;
  const merged = mergeObj(target as Obj, body, target.kind, '', what);
  out[out.indexOf(target)] = merged as Manifest;
}

/** The merge key of a list, by the kind of the patched object and the list's path (indices as []). */
const MERGE_KEYS: Record<string, Record<string, string>> = {
  Deployment: {
    'spec.template.spec.containers': 'name',
    'spec.template.spec.initContainers': 'name',
    'spec.template.spec.containers[].env': 'name',
    'spec.template.spec.containers[].volumeMounts': 'mountPath',
    'spec.template.spec.volumes': 'name',
  },
};

function mergeObj(base: Obj, patch: Obj, kind: string, path: string, what: string): Obj {
  const out: Obj = { ...base };
  for (const [key, pv] of Object.entries(patch)) {
    const p = path === '' ? key : `${path}.${key}`;
    if (key.startsWith('$')) throw new KustomizeError(`${what}: directive ${p} is not implemented by this test loader`);
    if (pv === null) throw new KustomizeError(`${what}: ${p}: null (delete) is not implemented by this test loader`);
    const bv = out[key];
    if (isObj(pv)) {
      out[key] = mergeObj(isObj(bv) ? bv : {}, pv, kind, p, what);
    } else if (Array.isArray(pv)) {
      const mergeKey = MERGE_KEYS[kind]?.[p];
      if (mergeKey === undefined) throw new KustomizeError(`${what}: list ${p} of a ${kind}: merging it is not implemented by this test loader`);
      out[key] = mergeList(Array.isArray(bv) ? bv : [], pv, mergeKey, kind, `${p}[]`, what);
    } else {
      out[key] = pv;
    }
  }
  return out;
}

function mergeList(base: unknown[], patch: unknown[], mergeKey: string, kind: string, path: string, what: string): unknown[] {
  const out = [...base];
  for (const item of patch) {
    if (!isObj(item) || item[mergeKey] === undefined) throw new KustomizeError(`${what}: an item of ${path} lacks its merge key ${mergeKey}`);
    const at = out.findIndex((b) => isObj(b) && b[mergeKey] === item[mergeKey]);
    if (at >= 0) out[at] = mergeObj(out[at] as Obj, item, kind, path, what);
    else out.push(item);
  }
  return out;
}

function setImage(entry: unknown, out: Manifest[], what: string): void {
  if (!isObj(entry)) throw new KustomizeError(`${what} must be a mapping`);
  for (const key of Object.keys(entry)) {
    if (!['name', 'newName', 'newTag', 'digest'].includes(key)) throw new KustomizeError(`${what}.${key} is not implemented by this test loader`);
  }
  const { name, newName, newTag, digest } = entry;
  if (typeof name !== 'string') throw new KustomizeError(`${what}: needs a name`);
  for (const [k, v] of Object.entries({ newName, newTag, digest })) {
    if (v !== undefined && typeof v !== 'string') throw new KustomizeError(`${what}.${k} must be a string (quote it)`);
  }
  if (newTag !== undefined && digest !== undefined) throw new KustomizeError(`${what}: newTag and digest together`);
  let matched = 0;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (!isObj(node)) return;
    for (const [key, v] of Object.entries(node)) {
      if ((key === 'containers' || key === 'initContainers') && Array.isArray(v)) {
        for (const c of v) {
          if (!isObj(c) || typeof c.image !== 'string') continue;
          const ref = splitImage(c.image);
          if (ref.name !== name) continue;
          matched++;
          const tagPart = digest !== undefined ? `@${digest as string}` : newTag !== undefined ? `:${newTag as string}` : ref.rest;
          c.image = `${(newName as string | undefined) ?? ref.name}${tagPart}`;
        }
      } else {
        visit(v);
      }
    }
  };
  out.forEach(visit);
  if (matched === 0) throw new KustomizeError(`${what}: image ${name} matches no container (kustomize would ignore it silently)`);
}

/** `registry:5000/repo/img:tag@sha256:…` → name `registry:5000/repo/img`, rest `:tag@sha256:…`. */
export function splitImage(image: string): { name: string; rest: string } {
  const at = image.indexOf('@');
  const beforeDigest = at >= 0 ? image.slice(0, at) : image;
  const slash = beforeDigest.lastIndexOf('/');
  const colon = beforeDigest.lastIndexOf(':');
  const end = colon > slash ? colon : beforeDigest.length;
  return { name: image.slice(0, end), rest: image.slice(end) };
}
