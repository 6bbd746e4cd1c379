import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_JSON_DEPTH, scanJsonField } from '../../src/request/json-field.js';

/** What JSON.parse and a walk along `path` say (the behaviour the scanner must keep). */
function reference(text: Buffer, path: string[]): { valid: boolean; value: string | null } {
  let doc: unknown;
  try {
    doc = JSON.parse(text.toString('utf8'));
  } catch {
    return { valid: false, value: null };
  }
  for (const key of path) {
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { valid: true, value: null };
    doc = Object.prototype.hasOwnProperty.call(doc, key) ? (doc as Record<string, unknown>)[key] : undefined;
  }
  if (typeof doc === 'string') return { valid: true, value: doc };
  if (typeof doc === 'number' && Number.isFinite(doc)) return { valid: true, value: String(doc) };
  return { valid: true, value: null };
}

function agree(text: string | Buffer, path: string[]): void {
  const buf = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const want = reference(buf, path);
  const got = scanJsonField(buf, path);
  assert.equal(got.outcome === 'ok', want.valid, `validity of ${JSON.stringify(buf.toString('utf8').slice(0, 120))}: ${got.outcome}`);
  assert.equal(got.value, want.value, `value of ${path.join('.')} in ${JSON.stringify(buf.toString('utf8').slice(0, 120))}`);
}

test('fields, nested paths, numbers, escapes and duplicates read as JSON.parse reads them', () => {
  const cases: Array<[string, string[]]> = [
    ['{"username":"alice"}', ['username']],
    ['  {"a":1, "username" : "bob" , "z":[1,{"username":"no"}]}  ', ['username']],
    ['{"user":{"email":"c@x.io","name":"c"}}', ['user', 'email']],
    ['{"user":{"name":"a"},"user":"x"}', ['user', 'name']],
    ['{"user":{"name":"a"},"user":{"other":1}}', ['user', 'name']],
    ['{"user":{"name":"a"},"user":{"name":"b"}}', ['user', 'name']],
    ['{"username":"first","username":"last"}', ['username']],
    ['{"username":"x","username":null}', ['username']],
    ['{"username":"x","username":{"deep":"y"}}', ['username']],
    ['{"user\\u006eame":"escaped key"}', ['username']],
    ['{"username":"tab\\there \\"quoted\\" \\u00e9 \\ud83d\\ude00"}', ['username']],
    ['{"n":42}', ['n']],
    ['{"n":-0}', ['n']],
    ['{"n":1.50e3}', ['n']],
    ['{"n":1e999}', ['n']],
    ['{"n":true}', ['n']],
    ['{"n":[1]}', ['n']],
    ['{"n":{}}', ['n']],
    ['[{"username":"in an array"}]', ['username']],
    ['"a string document"', ['username']],
    ['42', ['username']],
    ['null', ['username']],
    ['{}', ['username']],
    ['{"user":{"email":["a"]}}', ['user', 'email']],
    ['{"user":"x"}', ['user', 'email']],
    ['{"a":{"b":{"c":"deep"}}}', ['a', 'b', 'c']],
    ['{"a":{"x":{"c":"wrong branch"},"b":{"c":"right"}}}', ['a', 'b', 'c']],
    ['{"a":[{"b":"no"}],"b":"top"}', ['a', 'b']],
    ['{"é":"unicode key"}', ['é']],
  ];
  for (const [text, path] of cases) agree(text, path);
});

test('anything that is not one complete JSON document gives no value', () => {
  const bad = [
    '',
    'not json',
    '{"username":"alice"',
    '{"username":"alice"}}',
    '{"username":"alice"} {}',
    '{"username":"alice",}',
    '{"username" "alice"}',
    "{'username':'alice'}",
    '{"username":"a\u0001b"}',
    '{"username":"\\x41"}',
    '{"username":"\\u12"}',
    '{"n":01}',
    '{"n":1.}',
    '{"n":-}',
    '{"n":.5}',
    '{"n":tru}',
    '{"n":nul}',
    '[1,2',
    '[1,,2]',
    '\ufeff{"username":"bom"}',
  ];
  for (const text of bad) {
    agree(text, ['username']);
    agree(text, ['n']);
  }
  agree(Buffer.from([0xff, 0xfe, 0x00]), ['username']);
  // Invalid UTF-8 inside a string is replaced, not refused, as buffer.toString('utf8') does.
  agree(Buffer.concat([Buffer.from('{"username":"a'), Buffer.from([0xff]), Buffer.from('b"}')]), ['username']);
  assert.equal(scanJsonField(Buffer.from('{"username":"alice"'), ['username']).outcome, 'incomplete');
  assert.equal(scanJsonField(Buffer.from('{"username":"alice"}}'), ['username']).outcome, 'invalid');
});

test('random documents, whole and cut or corrupted: the same answers as JSON.parse', () => {
  let seed = 20261122;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed % n;
  };
  const keys = ['username', 'user', 'email', 'u', 'x'];
  const gen = (depth: number): unknown => {
    const k = depth > 4 ? rnd(4) : rnd(7);
    switch (k) {
      case 0:
        return ['alice', 'Bob ', 'é"\\\n', ''][rnd(4)];
      case 1:
        return [0, -12.5, 3e21, 7][rnd(4)];
      case 2:
        return [true, false, null][rnd(3)];
      case 3:
        return 'x'.repeat(rnd(5));
      case 4:
      case 5: {
        const o: Record<string, unknown> = {};
        for (let i = rnd(4); i > 0; i--) o[keys[rnd(keys.length)]!] = gen(depth + 1);
        return o;
      }
      default:
        return Array.from({ length: rnd(3) }, () => gen(depth + 1));
    }
  };
  const paths = [['username'], ['user', 'email'], ['user', 'user', 'u'], ['x']];
  for (let n = 0; n < 400; n++) {
    const doc = rnd(4) === 0 ? gen(0) : { username: gen(3), user: gen(1), x: gen(2) };
    let text = JSON.stringify(doc, null, rnd(2) ? 0 : 1);
    // Duplicate keys: JSON.stringify never writes them, so splice one in.
    if (text.startsWith('{"') && rnd(3) === 0) text = `{"username":"dup",${text.slice(1)}`;
    const buf = Buffer.from(text);
    for (const path of paths) {
      agree(buf, path);
      agree(buf.subarray(0, rnd(buf.length + 1)), path);
      const flipped = Buffer.from(buf);
      if (flipped.length > 0) flipped[rnd(flipped.length)] = '{}[]":,\\ 0a'.charCodeAt(rnd(12));
      agree(flipped, path);
    }
  }
});

test('nesting beyond the limit stops the scan there: the work is bounded by the depth, not the body', () => {
  const nested = Buffer.from('['.repeat(1_000_000));
  const r = scanJsonField(nested, ['username']);
  assert.equal(r.outcome, 'too-deep');
  assert.equal(r.value, null);
  assert.equal(r.scanned, MAX_JSON_DEPTH + 1, 'the scan stops at the first container past the limit');

  // A username before the nesting does not survive it: the document is refused whole.
  const mixed = Buffer.from(`{"username":"alice","x":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`);
  const m = scanJsonField(mixed, ['username']);
  assert.equal(m.outcome, 'too-deep');
  assert.equal(m.value, null);
  assert.ok(m.scanned < 20 + 5 * MAX_JSON_DEPTH + 5, `scanned ${m.scanned} bytes`);

  // At exactly the limit the document is read.
  const atLimit = Buffer.from(`${'['.repeat(MAX_JSON_DEPTH - 1)}{"username":"deep"}${']'.repeat(MAX_JSON_DEPTH - 1)}`);
  assert.equal(scanJsonField(atLimit, ['username']).outcome, 'ok');
  const overLimit = Buffer.from(`${'['.repeat(MAX_JSON_DEPTH)}{"username":"deep"}${']'.repeat(MAX_JSON_DEPTH)}`);
  assert.equal(scanJsonField(overLimit, ['username']).outcome, 'too-deep');
  assert.equal(scanJsonField(Buffer.from('[[[]]]'), ['u'], { maxDepth: 2 }).outcome, 'too-deep');
  assert.equal(scanJsonField(Buffer.from('[[]]'), ['u'], { maxDepth: 2 }).outcome, 'ok');
});

test('a flat body of any size is looked at once per byte, at most', () => {
  const filler = 'a'.repeat(1_000_000);
  const flat = Buffer.from(JSON.stringify({ password: filler, username: 'alice', extra: filler }));
  const r = scanJsonField(flat, ['username']);
  assert.equal(r.outcome, 'ok');
  assert.equal(r.value, 'alice');
  assert.equal(r.scanned, flat.length);
  // Many keys at the field's level, none escaped: each is compared once, in place.
  const wide = Buffer.from(`{${Array.from({ length: 50_000 }, (_, i) => `"k${i}":${i}`).join(',')},"username":"w"}`);
  assert.equal(scanJsonField(wide, ['username']).value, 'w');
});
