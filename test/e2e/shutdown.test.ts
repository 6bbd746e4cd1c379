import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { projectRoot } from '../../src/paths.js';
import { getRequest, rawClient } from '../helpers/raw-client.js';

function startServe(env: Record<string, string>) {
  const child = spawn(process.execPath, [join(projectRoot, 'bin', 'vigil'), 'serve'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, any>> = [];
  const waiting: Array<{ msg: string; resolve: () => void }> = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let buf = '';
  const serving = new Promise<Record<string, any>>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, i)) as Record<string, any>;
        buf = buf.slice(i + 1);
        lines.push(line);
        if (line.msg === 'vigil serving') resolve(line);
        for (const w of waiting.filter((x) => x.msg === line.msg)) w.resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`vigil exited ${code} before serving: ${stderr}`)));
  });
  serving.catch(() => undefined); // a test that expects a failed start does not await it
  // 'close', not 'exit': stdout is read to its end before the test looks at the last lines.
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  /** Resolves once vigil has logged a line with this msg (at once if it already has). */
  const logged = (msg: string) =>
    lines.some((l) => l.msg === msg) ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ msg, resolve }));
  return { child, lines, serving, exited, logged, stderr: () => stderr };
}

test('invalid settings: exit 2 listing every problem', async () => {
  const p = startServe({ VIGIL_GRPC_ADDRESS: 'nope', VIGIL_LOG_LEVEL: 'loud', REDIS_URL: 'redis://127.0.0.1:1' });
  assert.equal(await p.exited, 2);
  const err = p.stderr();
  assert.match(err, /VIGIL_GRPC_ADDRESS/);
  assert.match(err, /VIGIL_LOG_LEVEL/);
  assert.match(err, /VIGIL_KEY_SECRET: required when REDIS_URL is set/);
});

test('SIGTERM: in-flight streams are answered and closed cleanly, new streams refused, exit 0', async () => {
  const p = startServe({
    VIGIL_GRPC_ADDRESS: '127.0.0.1:0',
    VIGIL_ADMIN_ADDRESS: '127.0.0.1:0',
    // Long enough that the steps below happen inside the grace period on a loaded machine too.
    VIGIL_DRAIN_TIMEOUT_MS: '3000',
    VIGIL_LOG_LEVEL: 'info',
  });
  const ready = await p.serving;
  const target = ready.grpc as string;
  assert.match(target, /^127\.0\.0\.1:\d+$/);
  assert.ok(p.lines.some((l) => l.level === 'warn' && /VIGIL_KEY_SECRET is not set/.test(l.msg)), 'embedded store without a secret warns');

  const client = rawClient(target);
  // An exchange mid-flight: request headers answered, response headers not yet sent.
  const inflight = client.open();
  inflight.send(getRequest());
  await inflight.waitReplies(1);

  p.child.kill('SIGTERM');
  await p.logged('shutting down: draining ext_proc streams');
  // The in-flight stream can still send its next message and get its answer during the grace period.
  inflight.send({ response_headers: { headers: { headers: [{ key: ':status', raw_value: Buffer.from('200') }] }, end_of_stream: true } });
  // A new stream is refused while draining (Envoy then fails open or retries elsewhere).
  const late = client.open();
  late.send(getRequest());
  const lateStatus = await late.status;
  assert.notEqual(lateStatus.code, grpc.status.OK, `new stream during drain: ${lateStatus.details}`);
  assert.equal(late.replies.length, 0);
  const replies = await inflight.waitReplies(2);
  assert.equal(replies[1]?.response, 'response_headers');
  // Envoy has not closed this stream: once the grace period is over vigil closes it with OK, which
  // Envoy treats as "continue without me" (docs/protocol.md).
  const st = await inflight.status;
  assert.equal(st.code, grpc.status.OK);

  assert.equal(await p.exited, 0);
  client.close();
  assert.ok(p.lines.some((l) => l.msg === 'vigil stopped'));
});

test('npm start says on stderr that it builds, then execs vigil: the SIGTERM npm passes to its script shell reaches vigil, which drains and exits 0', async () => {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const build = 'npm run build --silent';
  const start = pkg.scripts['start']!;
  assert.ok(start.includes(`${build} && `), start);
  // npm runs the script with `sh -c`; the build is left out (not what this test is about), the rest is as written.
  const child = spawn('sh', ['-c', start.replace(build, 'true')], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '', VIGIL_GRPC_ADDRESS: '127.0.0.1:0', VIGIL_ADMIN_ADDRESS: '127.0.0.1:0', VIGIL_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so that whatever it started can be cleaned up below
  });
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
  });
  const shellExit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const outputClosed = new Promise<true>((resolve) => child.stdout.once('close', () => resolve(true)));
  try {
    while (!lines.some((l) => l['msg'] === 'vigil serving')) {
      assert.equal(child.exitCode, null, 'npm start exited before serving');
      await new Promise((r) => setTimeout(r, 50));
    }
    // Nothing is printed during the build itself: the script says what it is doing before and after.
    assert.equal(stderr, 'vigil: building (npm run build: tsc into dist/) ...\nvigil: built; starting vigil serve\n');
    process.kill(child.pid!, 'SIGTERM');
    assert.equal(await shellExit, 0, 'the script ends with vigil, exit 0');
    // vigil's last lines arrive with the end of its output, if vigil got the signal at all.
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([outputClosed, new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 30_000)))]);
    clearTimeout(timer);
    assert.ok(drained, 'vigil still runs after its shell got SIGTERM (the script does not exec it)');
    assert.ok(lines.some((l) => l['msg'] === 'signal received' && l['signal'] === 'SIGTERM'), 'vigil got the SIGTERM');
    assert.ok(lines.some((l) => l['msg'] === 'vigil stopped'));
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone: nothing was left behind
    }
  }
});
