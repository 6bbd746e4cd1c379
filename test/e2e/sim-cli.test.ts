import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { ManualClock } from '../../src/clock.js';
import { projectRoot } from '../../src/paths.js';
import type { TestVigil } from '../helpers/vigil.js';
import { PATIENT_MESSAGE_TIMEOUT_MS } from '../helpers/timeouts.js';
import { startTestVigil } from '../helpers/vigil.js';

const run = promisify(execFile);
let vigil: TestVigil;
before(async () => {
  // A clock that stands still: the 121 requests share one rate bucket whenever the test runs.
  vigil = await startTestVigil({ clock: new ManualClock(Date.parse('2026-11-02T10:00:00Z')) });
});
after(async () => vigil.shutdown());

test('the README’s `vigil sim` command against vigil: the client address arrives, a flood is throttled', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-sim-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'patient.json');
  writeFileSync(config, JSON.stringify({ message_timeout_ms: PATIENT_MESSAGE_TIMEOUT_MS }));
  const { stdout } = await run(
    process.execPath,
    // The README's command, with a patient message timeout: 121 answers on a loaded machine, not its speed.
    [join(projectRoot, 'bin', 'vigil'), 'sim', '--target', vigil.target, '--path', '/api/orders/42', '-H', 'x-api-key: flood', '--source-address', '203.0.113.8:5555', '--repeat', '121', '--json', '--config', config],
    { timeout: 120_000, maxBuffer: 16 << 20 },
  );
  assert.match(stdout, /"status":\s*429/);
  const decision = vigil.logs.find('decision')[0] as { clientIp?: string; action?: string } | undefined;
  assert.equal(decision?.action, 'throttle');
  assert.equal(decision?.clientIp, '203.0.113.8', 'source.address is sent when --source-address is given');
});
