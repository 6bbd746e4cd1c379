/**
 * Reads Envoy's access log written as JSON, one object per line, into replayable exchanges.
 *
 * Keys: Envoy's default format string (Envoy docs, Access logging, Default Format String) has no
 * JSON form of its own; the two JSON renderings in common use are both accepted, per field:
 *   Istio  (`accessLogEncoding: JSON`, EnvoyJSONLogFormatIstio in istio/istio
 *           pilot/pkg/model/telemetry_logging.go): start_time method path protocol response_code
 *           response_flags bytes_received bytes_sent duration upstream_service_time x_forwarded_for
 *           user_agent request_id authority upstream_host downstream_remote_address …
 *   Envoy Gateway (its default JSON access log, envoyproxy/gateway docs, Proxy Access Logs): the
 *           same operators under header-style keys: x-envoy-origin-path x-forwarded-for user-agent
 *           x-request-id :authority x-envoy-upstream-service-time.
 * Other keys are ignored. A value may be a string (`json_format`), a number or null (`typed_json_format`)
 * or missing (`omit_empty_values`); `-` and null mean "not set" (Envoy docs, Command Operators note).
 *
 * Mapping: client IP and port from downstream_remote_address (`ip:port`, `[v6]:port`), canonicalised;
 * x_forwarded_for is carried as an x-forwarded-for header, never chosen here: vigil's policy decides
 * whom to trust. Request headers host (authority), user-agent, x-forwarded-for, x-request-id. Request
 * bodyBytes = bytes_received. response_code 0 means no response was sent ("the server never sent the
 * beginning of a response", Envoy docs, RESPONSE_CODE) → response null; otherwise content-length =
 * bodyBytes = bytes_sent, at start_time + upstream_service_time (time to the upstream's response
 * headers), else + duration, else start_time. protocol `-`/absent → HTTP/1.1.
 *
 * Bytes: each line is decoded as latin1 before JSON.parse (JSON syntax is ASCII, so nothing is lost),
 * making string values latin1 byte strings as elsewhere in vigil. A `\u00XX` escape is taken as the
 * byte 0xXX, which is what Envoy's serializer writes for each byte of invalid UTF-8
 * (envoyproxy/envoy#35972); escapes above U+00FF are turned into their UTF-8 bytes.
 *
 * Problems (the line is skipped): bad-json (not a JSON object), bad-timestamp (start_time absent or
 * not RFC 3339), not-an-ip (downstream_remote_address absent or not ip[:port]), bad-status,
 * no-request (method or path absent: a codec error before any request), bad-request-line (method not a
 * token, path with whitespace or control bytes, protocol not HTTP/x[.y]). Kept with the header dropped:
 * bad-header-value. A file is refused when none of its first lines is a JSON object with start_time and
 * method or response_code (log-lines.ts, FormatProbe).
 */

import { parseAddress } from '../../request/client-ip.js';
import type { HeaderPairs, Problem, ReplayExchange, ReplayInput } from '../types.js';
import { excerpt, isFieldValue, lineProblem, logInput, recordToExchange } from './log-exchange.js';
import { FormatProbe, logLines, probeLimit, toBytes } from './log-lines.js';
import { parseRfc3339 } from './log-time.js';
import { isHttpVersion, isMethodToken, isTargetText } from './request-line.js';

export interface EnvoyJsonLogOptions {
  /** Leading non-empty lines probed before refusing the file (default 10). */
  probeLines?: number;
}

type Entry = Record<string, unknown>;

/** Accepted keys per field, Istio's first. */
const KEYS = {
  path: ['path', 'x-envoy-origin-path'],
  upstreamServiceTime: ['upstream_service_time', 'x-envoy-upstream-service-time'],
  xForwardedFor: ['x_forwarded_for', 'x-forwarded-for'],
  userAgent: ['user_agent', 'user-agent'],
  requestId: ['request_id', 'x-request-id'],
  authority: ['authority', ':authority'],
} as const;

export function readEnvoyJsonLog(text: string | Buffer, file: string, opts: EnvoyJsonLogOptions = {}): ReplayInput {
  const probe = new FormatProbe(file, 'an Envoy JSON access log', probeLimit(opts.probeLines));
  const exchanges: ReplayExchange[] = [];
  const problems: Problem[] = [];
  let lines = 0;

  for (const { number, bytes } of logLines(toBytes(text))) {
    lines++;
    const entry = parseEntry(bytes);
    probe.seen(entry !== null && has(entry, 'start_time') && (has(entry, 'method') || has(entry, 'response_code')));
    if (!entry) {
      problems.push(lineProblem('bad-json', number, `not a JSON object: ${excerpt(bytes)}`));
      continue;
    }
    const fail = (kind: string, what: string): void => {
      problems.push(lineProblem(kind, number, what));
    };

    const startText = str(entry, ['start_time']);
    const tsUs = startText === null ? null : parseRfc3339(startText);
    if (tsUs === null) {
      fail('bad-timestamp', `start_time ${show(entry['start_time'])} is not an RFC 3339 time`);
      continue;
    }
    const remote = str(entry, ['downstream_remote_address']);
    const clientIp = remote === null ? null : parseAddress(remote);
    if (remote === null || clientIp === null) {
      fail('not-an-ip', `downstream_remote_address ${show(entry['downstream_remote_address'])} is not ip[:port]`);
      continue;
    }
    const code = int(entry, ['response_code']);
    if (code === null || (code !== 0 && (code < 100 || code > 999))) {
      fail('bad-status', `response_code ${show(entry['response_code'])} is not an HTTP status or 0`);
      continue;
    }
    const method = str(entry, ['method']);
    const target = str(entry, KEYS.path);
    if (method === null || target === null) {
      fail('no-request', 'no method or path logged (no request was decoded)');
      continue;
    }
    const version = str(entry, ['protocol']) ?? 'HTTP/1.1';
    const bad = !isMethodToken(method)
      ? 'method is not a token'
      : !isTargetText(target)
        ? 'path has whitespace or control bytes'
        : !isHttpVersion(version)
          ? `protocol ${JSON.stringify(version)} is not HTTP/x[.y]`
          : null;
    if (bad) {
      fail('bad-request-line', `${bad}: ${excerpt(Buffer.from(`${method} ${target} ${version}`, 'latin1'))}`);
      continue;
    }

    const headers: HeaderPairs = [];
    for (const [name, keys] of [
      ['host', KEYS.authority],
      ['user-agent', KEYS.userAgent],
      ['x-forwarded-for', KEYS.xForwardedFor],
      ['x-request-id', KEYS.requestId],
    ] as const) {
      const value = str(entry, keys);
      if (value === null) continue;
      if (isFieldValue(value)) headers.push([name, value]);
      else fail('bad-header-value', `${name} holds control bytes (header dropped)`);
    }

    const afterMs = int(entry, KEYS.upstreamServiceTime) ?? int(entry, ['duration']) ?? 0;
    exchanges.push(
      recordToExchange({
        line: number,
        clientIp,
        clientPort: portOf(remote),
        tsUs,
        method,
        target,
        version,
        requestHeaders: headers,
        requestBodyBytes: int(entry, ['bytes_received']) ?? 0,
        response:
          code === 0 ? null : { tsUs: tsUs + afterMs * 1000, status: code, bodyBytes: int(entry, ['bytes_sent']) ?? 0 },
      }),
    );
  }
  probe.finish();
  return logInput(file, 'envoy-json-log', exchanges, problems, lines);
}

/** The line as a JSON object with byte-string values, or null. */
function parseEntry(bytes: Buffer): Entry | null {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('latin1'));
  } catch {
    return null;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Entry) : null;
}

function has(entry: Entry, key: string): boolean {
  return Object.hasOwn(entry, key);
}

/** The first of `keys` holding a set value, as a byte string; null when none is set. */
function str(entry: Entry, keys: readonly string[]): string | null {
  for (const key of keys) {
    if (!Object.hasOwn(entry, key)) continue;
    const v = entry[key];
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v === 'string' && v !== '-' && v !== '') return byteString(v);
  }
  return null;
}

/** A non-negative integer field (number or digit string); null when absent, unset or not an integer. */
function int(entry: Entry, keys: readonly string[]): number | null {
  const text = str(entry, keys);
  if (text === null || !/^\d{1,15}$/.test(text)) return null;
  return Number(text);
}

/** Chars above U+00FF (from \u escapes) become their UTF-8 bytes; the rest already are bytes. */
function byteString(s: string): string {
  if (!/[^\u0000-\u00ff]/.test(s)) return s;
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    out += cp <= 0xff ? ch : Buffer.from(ch, 'utf8').toString('latin1');
  }
  return out;
}

/** The port of `ip:port` or `[v6]:port`, else null. */
function portOf(address: string): number | null {
  const m = /^(?:\[[^\]]*\]|[^:]*):(\d{1,5})$/.exec(address.trim());
  if (!m) return null;
  const port = Number(m[1]);
  return port <= 65535 ? port : null;
}

function show(v: unknown): string {
  if (v === undefined) return '(absent)';
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
