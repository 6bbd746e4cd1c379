/**
 * TrafficSpec → the scenario's exchanges in time order. Deterministic: request k of a stream on day d
 * is at start + from + d × 24 h + round(k × interval) + jitter, jitter drawn from a PRNG seeded per
 * stream; streams are merged by time, ties keeping stream order then request order (a stable sort).
 */
import type { HttpExchange } from '../../../src/envoy-sim/index.js';
import { render, type TemplateVars } from './template.js';
import type { HeaderPairs, ScenarioExchange, StreamSpec, TrafficSpec } from './types.js';

const DAY_MS = 86_400_000;

/** mulberry32: a tiny seeded PRNG, uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Slot {
  stream: StreamSpec;
  n: number;
  atMs: number;
}

function slotsOf(stream: StreamSpec, startMs: number): Slot[] {
  const random = seededRandom(stream.seed);
  const out: Slot[] = [];
  for (let day = 0; day < stream.repeatDaily; day++) {
    for (let k = 0; k < stream.count; k++) {
      const jitter = stream.jitterMs > 0 ? Math.floor(random() * stream.jitterMs) : 0;
      const atMs = startMs + stream.fromMs + day * DAY_MS + Math.round(k * stream.intervalMs) + jitter;
      out.push({ stream, n: day * stream.count + k, atMs });
    }
  }
  return out;
}

export function expandTraffic(traffic: TrafficSpec): ScenarioExchange[] {
  const slots = traffic.streams.flatMap((s) => slotsOf(s, traffic.startMs));
  slots.sort((a, b) => a.atMs - b.atMs); // stable: ties keep stream order, then n
  return slots.map((slot, i) => {
    const client = traffic.clients.get(slot.stream.client);
    if (!client) throw new Error(`${traffic.file}: streams[${slot.stream.index}]: unknown client "${slot.stream.client}"`);
    const vars = { n: slot.n, i };
    return {
      i,
      n: slot.n,
      stream: slot.stream.index,
      client: client.name,
      atMs: slot.atMs,
      http: httpExchange(slot.stream, [...client.headers], `${client.ip.includes(':') ? `[${client.ip}]` : client.ip}:${client.port}`, vars),
    };
  });
}

/** body_bytes bodies are shared read-only buffers: thousands of large responses cost one allocation. */
const fillers = new Map<number, Buffer>();
function filler(size: number): Buffer {
  let b = fillers.get(size);
  if (!b) {
    b = Buffer.alloc(size, 'x');
    if (fillers.size < 64) fillers.set(size, b);
  }
  return b;
}

function renderHeaders(headers: HeaderPairs, vars: TemplateVars): HeaderPairs {
  return headers.map(([k, v]) => [k, render(v, vars)]);
}

const hasHeader = (headers: HeaderPairs, name: string): boolean => headers.some(([k]) => k === name);

function httpExchange(s: StreamSpec, clientHeaders: HeaderPairs, sourceAddress: string, vars: TemplateVars): HttpExchange {
  const headers = renderHeaders([...clientHeaders, ...s.request.headers], vars);
  const http: HttpExchange = { method: s.request.method, path: render(s.request.path, vars), headers, sourceAddress };
  if (s.request.body !== null) {
    const body = Buffer.from(render(s.request.body, vars));
    if (!hasHeader(headers, 'content-length')) headers.push(['content-length', String(body.length)]);
    http.body = body;
  }
  const rs = s.response;
  const resHeaders = renderHeaders(rs.headers, vars);
  let resBody: Buffer | undefined;
  if (rs.body !== null) resBody = Buffer.from(render(rs.body, vars));
  else if (rs.bodyBytes !== null) resBody = filler(rs.bodyBytes);
  if (resBody && !hasHeader(resHeaders, 'content-length')) resHeaders.push(['content-length', String(resBody.length)]);
  http.upstream = { status: rs.status, headers: resHeaders, ...(resBody ? { body: resBody } : {}) };
  return http;
}
