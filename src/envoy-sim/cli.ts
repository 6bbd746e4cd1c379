/** `vigil sim`: play Envoy's ext_proc filter against any ext_proc server and print what the client gets. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import { EnvoySim, type SimTls } from './envoy-sim.js';
import { failureOf } from './failure.js';
import type { HeaderPairs, HttpExchange, SimFilterConfig, SimResult, StatName } from './types.js';

const USAGE = `Usage: vigil sim --target HOST:PORT [options]

Plays Envoy's ext_proc HTTP filter against the ext_proc server at HOST:PORT (plaintext gRPC, or TLS
with --tls-ca) and prints what the downstream client would receive: outcome, status, headers, body, response code
details and Envoy's ext_proc stats.

Options:
  --target HOST:PORT          the ext_proc server (required)
  --method METHOD             request method (default GET, or POST with --data)
  --path PATH                 request path (default /)
  -H, --header 'NAME: VALUE'  a request header; repeatable ('Host: x' sets :authority)
  --data STRING               request body; adds content-length unless a header sets it
  --source-address IP:PORT    the client address, for the source.address attribute (added to
                              request_attributes unless --config sets request_attributes itself)
  --upstream-status CODE      status the simulated upstream answers with (default 200)
  --config FILE.json          filter config (SimFilterConfig: processing_mode, message_timeout_ms,
                              failure_mode_allow, mutation_rules, envoy_version, ...)
  --repeat N                  send the request N times over one connection (default 1)
  --tls-ca FILE               speak TLS, trusting the server certificates this PEM CA bundle signs
  --tls-cert FILE             with --tls-ca: client certificate (PEM) for mTLS, like Envoy's
                              UpstreamTlsContext; needs --tls-key
  --tls-key FILE              with --tls-cert: its private key (PEM)
  --tls-servername NAME       with --tls-ca: name to check the server certificate against (Envoy's
                              sni), instead of the host in --target
  --json                      print JSON instead of text
  -h, --help                  this help

Exit status: 0 when the ext_proc server answered every exchange (whatever the HTTP outcome); 1
when it did not answer one (nothing listening, not an ext_proc server, a message timeout, a failed
stream: how many and why go to stderr) or the simulation failed; 2 for bad arguments or an invalid
config.
`;

class UsageError extends Error {}

interface SimArgs {
  target: string;
  exchange: HttpExchange;
  config: SimFilterConfig;
  repeat: number;
  json: boolean;
  tls?: SimTls;
}

function readFileArg(name: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read --${name} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function tlsArgs(values: { 'tls-ca'?: string; 'tls-cert'?: string; 'tls-key'?: string; 'tls-servername'?: string }): SimTls | undefined {
  const ca = values['tls-ca'];
  if (ca === undefined) {
    for (const other of ['tls-cert', 'tls-key', 'tls-servername'] as const) {
      if (values[other] !== undefined) throw new UsageError(`--${other} needs --tls-ca`);
    }
    return undefined;
  }
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  return {
    ca: readFileArg('tls-ca', ca),
    ...(values['tls-cert'] !== undefined ? { cert: readFileArg('tls-cert', values['tls-cert']) } : {}),
    ...(values['tls-key'] !== undefined ? { key: readFileArg('tls-key', values['tls-key']) } : {}),
    ...(values['tls-servername'] !== undefined ? { servername: values['tls-servername'] } : {}),
  };
}

function parseHeader(raw: string): [string, string] {
  const at = raw.indexOf(':', raw.startsWith(':') ? 1 : 0);
  const name = at === -1 ? '' : raw.slice(0, at).trim();
  if (name === '') throw new UsageError(`bad header "${raw}": expected 'NAME: VALUE'`);
  return [name, raw.slice(at + 1).trim()];
}

function intArg(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

function parse(argv: string[]): SimArgs | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      target: { type: 'string' },
      method: { type: 'string' },
      path: { type: 'string' },
      header: { type: 'string', short: 'H', multiple: true },
      data: { type: 'string' },
      'source-address': { type: 'string' },
      'upstream-status': { type: 'string' },
      config: { type: 'string' },
      repeat: { type: 'string' },
      json: { type: 'boolean' },
      'tls-ca': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-servername': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  if (!values.target) throw new UsageError('--target HOST:PORT is required');
  if (!/^[^\s:]+:\d+$|^\[[0-9a-fA-F:.]+\]:\d+$/.test(values.target)) throw new UsageError('--target must be HOST:PORT');
  const headers: HeaderPairs = (values.header ?? []).map(parseHeader);
  const exchange: HttpExchange = {
    method: values.method ?? (values.data !== undefined ? 'POST' : 'GET'),
    path: values.path ?? '/',
    headers,
    upstream: { status: intArg('upstream-status', values['upstream-status'], 200, 100, 599) },
  };
  if (values.path !== undefined && !values.path.startsWith('/')) throw new UsageError('--path must start with /');
  if (values.data !== undefined) {
    exchange.body = Buffer.from(values.data, 'utf8');
    if (!headers.some(([k]) => k.toLowerCase() === 'content-length')) {
      headers.push(['content-length', String(exchange.body.length)]);
    }
  }
  if (values['source-address'] !== undefined) exchange.sourceAddress = values['source-address'];
  let config: SimFilterConfig = {};
  if (values.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(values.config, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --config ${values.config}: ${(err as Error).message}`);
    }
    try {
      config = JSON.parse(text) as SimFilterConfig;
    } catch (err) {
      throw new UsageError(`--config ${values.config}: invalid JSON: ${(err as Error).message}`);
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new UsageError(`--config ${values.config}: must hold a JSON object`);
    }
  }
  // Giving a client address means "send it as Envoy would": configure the attribute unless told otherwise.
  if (exchange.sourceAddress !== undefined && config.request_attributes === undefined) {
    config = { ...config, request_attributes: ['source.address'] };
  }
  const tls = tlsArgs(values);
  return {
    target: values.target,
    exchange,
    config,
    repeat: intArg('repeat', values.repeat, 1, 1, 1_000_000),
    json: values.json ?? false,
    ...(tls ? { tls } : {}),
  };
}

function nonZero(stats: Record<StatName, number>): string {
  const parts = Object.entries(stats)
    .filter(([, n]) => n !== 0)
    .map(([k, n]) => `${k}=${n}`);
  return parts.length > 0 ? parts.join(' ') : '(none)';
}

function text(i: number, r: SimResult): string {
  const lines = [`exchange ${i}: ${r.outcome}${r.details !== undefined ? ` (details: ${r.details})` : ''}`];
  lines.push(`< ${r.client.status}`);
  for (const [k, v] of r.client.headers) lines.push(`< ${k}: ${v}`);
  lines.push('<');
  if (r.client.body.length > 0) lines.push(r.client.body.toString('utf8'));
  for (const [k, v] of r.client.trailers ?? []) lines.push(`< (trailer) ${k}: ${v}`);
  lines.push(`upstream: ${r.upstreamRequest === null ? 'not reached' : 'reached'}`);
  lines.push(`stats: ${nonZero(r.stats)}`);
  return `${lines.join('\n')}\n`;
}

function json(r: SimResult): object {
  return {
    outcome: r.outcome,
    status: r.client.status,
    headers: r.client.headers,
    body: r.client.body.toString('utf8'),
    trailers: r.client.trailers,
    details: r.details,
    upstreamReached: r.upstreamRequest !== null,
    stats: r.stats,
  };
}

export async function runSimCli(argv: string[]): Promise<number> {
  let args: SimArgs | 'help';
  try {
    args = parse(argv);
  } catch (err) {
    process.stderr.write(`vigil sim: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  let sim: EnvoySim;
  try {
    sim = new EnvoySim(args.target, args.config, args.tls ? { tls: args.tls } : {});
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`vigil sim: invalid --config:\n  ${err.problems.join('\n  ')}\n`);
    return 2;
  }
  const results: SimResult[] = [];
  try {
    for (let i = 1; i <= args.repeat; i++) {
      const result = await sim.exchange(args.exchange);
      results.push(result);
      if (!args.json) process.stdout.write(`${text(i, result)}${i < args.repeat ? '\n' : ''}`);
    }
  } catch (err) {
    process.stderr.write(`vigil sim: ${(err as Error).message}\n`);
    return 1;
  } finally {
    sim.close();
  }
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ exchanges: results.map(json), stats: sim.stats }, null, 2)}\n`);
  } else if (args.repeat > 1) {
    process.stdout.write(`\ntotal stats: ${nonZero(sim.stats)}\n`);
  }
  return unanswered(args.target, results);
}

/** 0 when the server answered every exchange; else 1, with how many it did not and why on stderr. */
function unanswered(target: string, results: readonly SimResult[]): number {
  const why = new Map<string, number>();
  for (const r of results) {
    const failure = failureOf(r);
    if (failure !== null) why.set(failure, (why.get(failure) ?? 0) + 1);
  }
  if (why.size === 0) return 0;
  const failed = [...why.values()].reduce((a, b) => a + b, 0);
  const reasons = [...why].map(([reason, count]) => `  ${count} × ${reason}\n`).join('');
  process.stderr.write(`vigil sim: ${failed} of ${results.length} exchanges got no answer from the ext_proc server at ${target}:\n${reasons}`);
  return 1;
}
