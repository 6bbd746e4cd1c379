/** Bad input never throws or hangs: random bytes, random splits, random gaps, mutated valid streams. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pairConnection } from '../../../src/replay/http/pair.js';
import type { StreamPiece } from '../../../src/replay/types.js';
import { GET, OK, conn } from './pieces.js';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cuts `buf` into random pieces (often 1 byte), with random gaps in between when `gaps`. */
function chop(buf: Buffer, rnd: () => number, gaps: boolean): StreamPiece[] {
  const out: StreamPiece[] = [];
  let at = 0;
  let ts = 0;
  while (at < buf.length) {
    const len = rnd() < 0.3 ? 1 : 1 + Math.floor(rnd() * 200);
    out.push({ kind: 'data', tsUs: (ts += 1), data: buf.subarray(at, at + len) });
    at += len;
    if (gaps && rnd() < 0.05) {
      const skip = Math.floor(rnd() * 50);
      out.push({ kind: 'gap', tsUs: ts, bytes: skip });
      at += skip;
    }
  }
  return out;
}

const VALID_REQ = Buffer.from(
  GET('/a') + 'POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nbody\r\n0\r\nT: 1\r\n\r\n' + 'PUT /c HTTP/1.0\nContent-Length: 3\n\nabc',
  'latin1',
);
const VALID_RES = Buffer.from(OK('one') + 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n' + OK('x'), 'latin1');

test('random bytes, random splits and gaps: no throw, results well-formed', () => {
  const rnd = prng(7);
  for (let round = 0; round < 200; round++) {
    const junk = Buffer.from(Array.from({ length: Math.floor(rnd() * 3000) }, () => Math.floor(rnd() * 256)));
    const r = pairConnection(conn(chop(junk, rnd, true), chop(junk, rnd, true)));
    assert.equal(r.exchanges.length, r.requests);
    for (const p of r.problems) assert.ok(p.kind.length > 0 && p.detail.startsWith('conn 12 '));
  }
});

test('mutated valid streams (bytes flipped, cut, gaps): no throw, bodies never over the cap', () => {
  const rnd = prng(11);
  for (let round = 0; round < 500; round++) {
    const mutate = (b: Buffer): Buffer => {
      const m = Buffer.from(b);
      const flips = Math.floor(rnd() * 4);
      for (let i = 0; i < flips; i++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
      return m.subarray(0, Math.floor(m.length * (0.5 + rnd() / 2)) + 1);
    };
    const r = pairConnection(conn(chop(mutate(VALID_REQ), rnd, rnd() < 0.5), chop(mutate(VALID_RES), rnd, rnd() < 0.5)), { maxBodyBytes: 2 });
    for (const e of r.exchanges) {
      assert.ok(e.request.body.length <= 2 && e.request.body.length <= e.request.bodyBytes);
      if (e.response !== null) assert.ok(e.response.body.length <= 2 && e.response.body.length <= e.response.bodyBytes);
    }
  }
});

test('unmutated streams read the same however they are split', () => {
  const rnd = prng(3);
  for (let round = 0; round < 100; round++) {
    const r = pairConnection(conn(chop(VALID_REQ, rnd, false), chop(VALID_RES, rnd, false)));
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.exchanges.map((e) => [e.request.target, e.request.body.toString(), e.response?.body.toString()]), [['/a', '', 'one'], ['/b', 'body', 'abc'], ['/c', 'abc', 'x']]);
  }
});

test('large pathological inputs finish quickly: a long line without LF in 1-byte pieces, many token bytes, a huge gap', () => {
  const started = Date.now();
  const tokenRun = Buffer.alloc(300_000, 0x61);
  const onePiecePerByte: StreamPiece[] = Array.from({ length: 20_000 }, (_, i) => ({ kind: 'data', tsUs: i, data: Buffer.from(i % 997 === 0 ? '\n' : 'a') }));
  const lineEndsLikeRequest = Buffer.from('x'.repeat(50_000) + ' / HTTP/1.1\r\n' + 'y'.repeat(1000));
  pairConnection(conn([{ kind: 'data', tsUs: 1, data: tokenRun }], [{ kind: 'data', tsUs: 1, data: tokenRun }]));
  pairConnection(conn(onePiecePerByte, onePiecePerByte));
  pairConnection(conn([{ kind: 'data', tsUs: 1, data: Buffer.from('POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n') }, { kind: 'gap', tsUs: 1, bytes: 1e15 }, { kind: 'data', tsUs: 2, data: lineEndsLikeRequest }], []));
  assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
});
