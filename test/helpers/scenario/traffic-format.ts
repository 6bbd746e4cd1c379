/**
 * traffic.yaml → TrafficSpec. Strict: unknown keys, bad durations, unknown clients and typos in
 * placeholders are errors naming the file and field (format: test/scenarios/README.md).
 */
import { isIP } from 'node:net';
import { Fields } from '../../../src/policy/fields.js';
import type { ClientSpec, StreamSpec, TrafficSpec } from './types.js';
import { ScenarioFormatError } from './types.js';
import { readHeaders, readTemplate, readYamlFile } from './yaml-file.js';

const DAY_MS = 86_400_000;
const CLIENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const METHOD = /^[A-Z]{1,16}$/;
/** Offsets must carry their time zone: a local time would make a scenario depend on the machine. */
const ISO_WITH_ZONE = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)$/;
/** Keeps a scenario within seconds (house style: scenarios are tests, not benchmarks). */
export const MAX_EXCHANGES = 20_000;

export function readTraffic(path: string, label: string): TrafficSpec {
  const problems: string[] = [];
  const top = new Fields(readYamlFile(path, label), label, problems);
  const start = top.raw('start');
  let startMs = 0;
  if (typeof start !== 'string' || !ISO_WITH_ZONE.test(start) || Number.isNaN(Date.parse(start))) {
    problems.push(`${label}.start: must be an ISO time with a zone, e.g. "2026-11-02T10:00:00Z"`);
  } else startMs = Date.parse(start);

  const clients = new Map<string, ClientSpec>();
  const rawClients = new Fields(top.raw('clients'), `${label}: clients`, problems);
  const names = Object.keys(rawClients.obj);
  if (names.length === 0) problems.push(`${label}.clients: at least one client is required`);
  names.forEach((name, k) => {
    const c = new Fields(rawClients.raw(name), `${label}: clients.${name}`, problems);
    if (!CLIENT_NAME.test(name)) problems.push(`${c.where}: client name must match ${CLIENT_NAME}`);
    const ip = c.string('ip');
    if (ip !== '' && isIP(ip) === 0) problems.push(`${c.where}.ip: "${ip}" is not an IP address`);
    clients.set(name, { name, ip, port: c.number('port', 40_000 + k, 1, 65_535, true), headers: readHeaders(c, 'headers') });
    c.done();
  });
  rawClients.done();

  const streams: StreamSpec[] = [];
  const rawStreams = top.list('streams');
  if (rawStreams.length === 0) problems.push(`${label}.streams: at least one stream is required`);
  rawStreams.forEach((raw, index) => {
    const s = readStream(new Fields(raw, `${label}: streams[${index}]`, problems), index, clients);
    if (s) streams.push(s);
  });
  top.done();

  const total = streams.reduce((sum, s) => sum + s.count * s.repeatDaily, 0);
  if (total > MAX_EXCHANGES) problems.push(`${label}.streams: ${total} exchanges in all, more than the ${MAX_EXCHANGES} a scenario may send`);
  if (problems.length > 0) throw new ScenarioFormatError(problems);
  return { file: label, startMs, clients, streams };
}

function readStream(f: Fields, index: number, clients: Map<string, ClientSpec>): StreamSpec | null {
  const client = f.string('client');
  if (client !== '' && !clients.has(client)) f.problems.push(`${f.where}.client: unknown client "${client}" (clients: ${[...clients.keys()].join(', ')})`);
  const fromMs = f.duration('from', undefined, 0, 90 * DAY_MS);
  let intervalMs = 0;
  if (f.has('every') === f.has('rate')) {
    f.problems.push(`${f.where}: give exactly one of every (a duration) or rate (requests per minute)`);
  } else if (f.has('every')) {
    intervalMs = f.duration('every', undefined, 1, 7 * DAY_MS);
  } else {
    intervalMs = 60_000 / f.number('rate', undefined, 0.001, 600_000);
  }
  const count = f.number('count', undefined, 1, MAX_EXCHANGES, true);
  const jitterMs = f.duration('jitter', 0, 0, DAY_MS);
  const seed = f.number('seed', index + 1, 0, 2 ** 32 - 1, true);
  const repeatDaily = f.number('repeat_daily', 1, 1, 90, true);
  if (repeatDaily > 1 && count * intervalMs + jitterMs > DAY_MS) {
    f.problems.push(`${f.where}.repeat_daily: one day's requests (count × interval + jitter) must fit in 24 h`);
  }

  const rq = new Fields(f.raw('request'), `${f.where}.request`, f.problems);
  if (!f.has('request')) f.problems.push(`${f.where}.request: is required`);
  const method = rq.string('method', 'GET', METHOD);
  const path = readTemplate(rq, 'path', true) ?? '/';
  if (!path.startsWith('/')) rq.problems.push(`${rq.where}.path: must start with /`);
  const request = { method, path, headers: readHeaders(rq, 'headers'), body: readTemplate(rq, 'body', false) };
  rq.done();

  const rs = new Fields(f.raw('response'), `${f.where}.response`, f.problems);
  const status = rs.number('status', 200, 100, 599, true);
  const headers = readHeaders(rs, 'headers');
  const body = readTemplate(rs, 'body', false);
  const bodyBytes = rs.has('body_bytes') ? rs.number('body_bytes', undefined, 0, 16 * 1024 * 1024, true) : null;
  if (body !== null && bodyBytes !== null) rs.problems.push(`${rs.where}: give body or body_bytes, not both`);
  rs.done();
  f.done();
  return { index, client, fromMs, intervalMs, count, jitterMs, seed, repeatDaily, request, response: { status, headers, body, bodyBytes } };
}
