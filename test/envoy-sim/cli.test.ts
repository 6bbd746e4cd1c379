/** `vigil sim` (runSimCli), run in a child process against a scripted processor. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { replyTo, setHeader, startProcessor, unusedPort } from '../helpers/ext-proc-test-servers.js';

const cliModule = pathToFileURL(join(fileURLToPath(new URL('.', import.meta.url)), '../../src/envoy-sim/cli.js')).href;

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const script = `import(${JSON.stringify(cliModule)}).then(async (m) => { process.exitCode = await m.runSimCli(JSON.parse(process.argv[1])); });`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(args)], { timeout: 15_000 }, (err, stdout, stderr) => {
      // A CLI that does not exit is killed after 15 s and reported as exit code -1.
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

// The config files the tests write live in a folder of their own, removed when the tests end.
const tmp = mkdtempSync(join(tmpdir(), 'vigil-sim-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('vigil sim', () => {
  it('prints a truthful --help and exits 0', async () => {
    const { code, stdout } = await runCli(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: vigil sim --target HOST:PORT/);
    for (const flag of ['--method', '--path', '--header', '--data', '--source-address', '--upstream-status', '--config', '--repeat', '--concurrency', '--upstream', '--json']) {
      assert.ok(stdout.includes(flag), flag);
    }
  });

  for (const [label, args] of [
    ['no --target', []],
    ['a target without a port', ['--target', 'localhost']],
    ['an unknown option', ['--target', '127.0.0.1:1', '--frobnicate']],
    ['a bad header', ['--target', '127.0.0.1:1', '-H', 'no-colon']],
    ['a bad --repeat', ['--target', '127.0.0.1:1', '--repeat', '0']],
    ['a bad --concurrency', ['--target', '127.0.0.1:1', '--concurrency', '0']],
    ['a missing --config file', ['--target', '127.0.0.1:1', '--config', '/nonexistent/sim.json']],
  ] as Array<[string, string[]]>) {
    it(`exits 2 with usage for ${label}`, async () => {
      const { code, stderr } = await runCli(args);
      assert.equal(code, 2);
      assert.match(stderr, /^vigil sim: /);
    });
  }

  it('exits 2 for an invalid config', async () => {
    const file = join(tmp, 'invalid.json');
    writeFileSync(file, JSON.stringify({ processing_mode: { request_body_mode: 'FULL_DUPLEX_STREAMED' } }));
    const { code, stderr } = await runCli(['--target', '127.0.0.1:1', '--config', file]);
    assert.equal(code, 2);
    assert.match(stderr, /FULL_DUPLEX_STREAMED is not supported/);
  });

  it('prints what the client receives, as JSON with --json', async () => {
    const server = await startProcessor((req) =>
      req.request === 'response_headers' ? replyTo(req, { header_mutation: { set_headers: [setHeader('x-seen', '1')] } }) : replyTo(req),
    );
    const file = join(tmp, 'buffered.json');
    writeFileSync(file, JSON.stringify({ processing_mode: { request_body_mode: 'BUFFERED' } }));
    try {
      const args = ['--target', server.target, '--path', '/x', '-H', 'x-a: 1', '--data', 'hello', '--upstream-status', '201', '--config', file];
      const json = await runCli([...args, '--json', '--repeat', '2']);
      assert.equal(json.code, 0, json.stderr);
      const out = JSON.parse(json.stdout) as { exchanges: Array<Record<string, unknown>>; stats: Record<string, number> };
      assert.equal(out.exchanges.length, 2);
      assert.equal(out.exchanges[0]?.['outcome'], 'passed');
      assert.equal(out.exchanges[0]?.['status'], 201);
      assert.deepEqual(out.exchanges[0]?.['headers'], [['x-seen', '1']]);
      assert.equal(out.stats['streams_started'], 2);
      assert.equal(server.calls[0]?.received[1]?.request_body?.body?.toString(), 'hello');
      const text = await runCli(args);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^exchange 1: passed \(details: via_upstream\)\n< 201\n< x-seen: 1\n/);
    } finally {
      await server.close();
    }
  });

  it('--upstream shows the request as the upstream received it, the server\'s x-vigil-* headers included; --json always carries it', async () => {
    const server = await startProcessor((req) =>
      req.request === 'request_headers' ? replyTo(req, { header_mutation: { set_headers: [setHeader('x-vigil-action', 'tag'), setHeader('x-vigil-signals', 'scraping')] } }) : replyTo(req),
    );
    try {
      const args = ['--target', server.target, '--path', '/api/items/7', '-H', 'x-api-key: k1'];
      const text = await runCli([...args, '--upstream']);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /\nupstream: received\n> GET \/api\/items\/7\n> :authority: localhost\n> x-api-key: k1\n> x-vigil-action: tag\n> x-vigil-signals: scraping\n>\n/);
      const plain = await runCli(args);
      assert.doesNotMatch(plain.stdout, /x-vigil/, 'without --upstream, only what the client gets');
      const json = await runCli([...args, '--json']);
      const out = JSON.parse(json.stdout) as { exchanges: Array<{ upstreamRequest: { headers: Array<[string, string]> } }> };
      assert.deepEqual(out.exchanges[0]!.upstreamRequest.headers.filter(([k]) => k.startsWith('x-vigil-')), [['x-vigil-action', 'tag'], ['x-vigil-signals', 'scraping']]);
    } finally {
      await server.close();
    }
  });

  it('--concurrency N keeps N exchanges in flight at once (a server that answers only when 3 streams are open), printed in order', async () => {
    // A barrier: no stream is answered until three are waiting, so one-after-another never gets an answer.
    const waiting: Array<() => void> = [];
    const server = await startProcessor((req, call) => {
      if (req.request !== 'request_headers') return replyTo(req);
      waiting.push(() => call.write(replyTo(req)));
      if (waiting.length % 3 === 0) waiting.splice(0).forEach((release) => release());
      return undefined;
    });
    const file = join(tmp, 'patient-barrier.json');
    writeFileSync(file, JSON.stringify({ message_timeout_ms: 10_000, processing_mode: { response_header_mode: 'SKIP' } }));
    try {
      const r = await runCli(['--target', server.target, '--repeat', '6', '--concurrency', '3', '--config', file]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual([...r.stdout.matchAll(/^exchange (\d+): (\S+)/gm)].map((m) => `${m[1]} ${m[2]}`), ['1 passed', '2 passed', '3 passed', '4 passed', '5 passed', '6 passed']);
      assert.equal(server.calls.length, 6);
    } finally {
      await server.close();
    }
  });

  for (const failOpen of [false, true]) {
    it(`exits 1 saying why when no ext_proc server answers (failure_mode_allow ${failOpen})`, async () => {
      const file = join(tmp, `fail-open-${failOpen}.json`);
      writeFileSync(file, JSON.stringify({ failure_mode_allow: failOpen }));
      const target = `127.0.0.1:${await unusedPort()}`;
      const { code, stdout, stderr } = await runCli(['--target', target, '--repeat', '2', '--config', file]);
      assert.equal(code, 1, stdout + stderr);
      assert.match(stdout, failOpen ? /exchange 1: passed/ : /exchange 1: local-reply \(details: ext_proc_error_gRPC_error_14\)/, 'what the client got is still printed');
      const why = failOpen ? 'the gRPC stream failed \\(Envoy failed open\\)' : 'no ext_proc server reachable there, or the connection dropped \\(gRPC 14 UNAVAILABLE\\)';
      assert.match(stderr, new RegExp(`^vigil sim: 2 of 2 exchanges got no answer from the ext_proc server at ${target.replaceAll('.', '\\.')}:\n  2 × ${why}\n$`));
    });
  }
});
