import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeaderList, decodeHeaderMap } from '../../src/request/headers.js';

const limits = { maxValueBytes: 8192, maxHeaders: 100 };

test('HeaderList lower-cases names and keeps order and duplicates', () => {
  const h = new HeaderList([
    ['Cookie', 'a=1'],
    ['X-Api-Key', 'k'],
    ['cookie', 'b=2'],
  ]);
  assert.equal(h.get('COOKIE'), 'a=1');
  assert.deepEqual(h.all('cookie'), ['a=1', 'b=2']);
  assert.deepEqual(h.all('missing'), []);
  assert.equal(h.get('missing'), undefined);
  assert.deepEqual(h.entries(), [
    ['cookie', 'a=1'],
    ['x-api-key', 'k'],
    ['cookie', 'b=2'],
  ]);
  // all() returns a copy
  h.all('cookie').push('c=3');
  assert.equal(h.all('cookie').length, 2);
});

test('decodeHeaderMap reads raw_value and falls back to value', () => {
  const { headers, problems } = decodeHeaderMap(
    {
      headers: [
        { key: ':path', raw_value: Buffer.from('/a') },
        { key: 'x-both', value: 'ignored', raw_value: Buffer.from('raw') },
        { key: 'x-value', value: 'plain' },
        { key: 'x-empty-raw', value: 'fallback', raw_value: new Uint8Array(0) },
        { key: 'x-nothing' },
      ],
    },
    limits,
  );
  assert.deepEqual(problems, []);
  assert.equal(headers.get(':path'), '/a');
  assert.equal(headers.get('x-both'), 'raw');
  assert.equal(headers.get('x-value'), 'plain');
  assert.equal(headers.get('x-empty-raw'), 'fallback');
  assert.equal(headers.get('x-nothing'), '');
});

test('decodeHeaderMap decodes binary and invalid UTF-8 losslessly as latin1', () => {
  const bytes = Buffer.from([0x00, 0xff, 0xc3, 0x28, 0x80, 0x41]);
  const { headers, problems } = decodeHeaderMap({ headers: [{ key: 'x-bin', raw_value: bytes }] }, limits);
  assert.deepEqual(problems, []);
  const v = headers.get('x-bin') ?? '';
  assert.equal(v.length, 6);
  assert.deepEqual(Buffer.from(v, 'latin1'), bytes);
});

test('value fallback and raw_value give the same string for the same UTF-8 bytes', () => {
  const { headers } = decodeHeaderMap(
    { headers: [{ key: 'a', value: 'é' }, { key: 'b', raw_value: Buffer.from('é', 'utf8') }] },
    limits,
  );
  assert.equal(headers.get('a'), headers.get('b'));
});

test('decodeHeaderMap honours a raw_value that is a view into a larger buffer', () => {
  const big = Buffer.from('xxxxHELLOyyyy');
  const view = new Uint8Array(big.buffer, big.byteOffset + 4, 5);
  const { headers } = decodeHeaderMap({ headers: [{ key: 'v', raw_value: view }] }, limits);
  assert.equal(headers.get('v'), 'HELLO');
});

test('decodeHeaderMap truncates 64 KiB values and records a problem without the value', () => {
  const huge = Buffer.alloc(64 * 1024, 0x61);
  const { headers, problems } = decodeHeaderMap({ headers: [{ key: 'x-huge', raw_value: huge }] }, limits);
  assert.equal(headers.get('x-huge')?.length, 8192);
  assert.equal(problems.length, 1);
  assert.match(problems[0] ?? '', /x-huge.*truncated from 65536 to 8192 bytes/);
  assert.ok(!(problems[0] ?? '').includes('aaaa'));
});

test('decodeHeaderMap drops headers past maxHeaders and skips entries without a key', () => {
  const entries = [{ value: 'no key' }, { key: '', value: 'empty key' }];
  for (let i = 0; i < 10; i++) entries.push({ key: `h${i}`, value: String(i) });
  const { headers, problems } = decodeHeaderMap({ headers: entries }, { maxValueBytes: 100, maxHeaders: 3 });
  assert.equal(headers.size, 3);
  assert.equal(headers.get('h2'), '2');
  assert.equal(headers.get('h3'), undefined);
  assert.equal(problems.length, 3);
  assert.match(problems[2] ?? '', /dropped 7 header\(s\) past the limit of 3/);
});

test('decodeHeaderMap tolerates undefined and malformed maps', () => {
  assert.equal(decodeHeaderMap(undefined, limits).headers.size, 0);
  assert.equal(decodeHeaderMap({}, limits).headers.size, 0);
  const junk = { headers: [null, 42, { key: 7 }] } as unknown as Parameters<typeof decodeHeaderMap>[0];
  const { headers, problems } = decodeHeaderMap(junk, limits);
  assert.equal(headers.size, 0);
  assert.equal(problems.length, 3);
});
