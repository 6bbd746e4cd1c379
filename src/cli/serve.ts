import { ConfigError } from '../errors.js';
import { startVigil } from '../main.js';
import { bridgeConsole } from '../obs/console-bridge.js';
import { createLogger } from '../obs/logger.js';
import { SETTINGS_DOC, parseSettings } from '../settings.js';

export const SERVE_HELP = `vigil serve — run the ext_proc sidecar

Usage: vigil serve

Settings come from the environment only (every problem is listed at start-up):
${SETTINGS_DOC.map((s) => `  ${s.name.padEnd(28)} ${s.meaning} (default ${s.default})`).join('\n')}

The policy (VIGIL_POLICY: a file, or a directory holding policy.yaml) is watched and reloaded when it
changes; a broken one is rejected, logged and counted, and the last good one stays (docs/policy-reload.md).

SIGHUP: check the policy file now and reload it if it changed (also re-reports a still-broken one).
SIGTERM or SIGINT: stop accepting streams, let in-flight ones finish (VIGIL_DRAIN_TIMEOUT_MS), exit 0.
`;

export async function runServe(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`vigil serve: unexpected argument ${argv[0]} (settings come from the environment; see vigil serve --help)\n`);
    return 2;
  }
  let vigil;
  try {
    const settings = parseSettings();
    // One JSON log from the first line: libraries that print (ioredis does, at connect) go through it too.
    const logger = createLogger(settings.logLevel);
    bridgeConsole(logger);
    vigil = await startVigil({ settings, logger });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`vigil: cannot start:\n${err.problems.map((p) => `  - ${p}`).join('\n')}\n`);
      return 2;
    }
    process.stderr.write(`vigil: cannot start: ${(err as Error).message}\n`);
    return 1;
  }
  const { logger } = vigil;
  process.on('uncaughtException', (err) => logger.error({ err: String(err.stack ?? err) }, 'uncaught exception (still serving)'));
  process.on('unhandledRejection', (err) => logger.error({ err: String((err as Error)?.stack ?? err) }, 'unhandled rejection (still serving)'));
  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'signal received');
      vigil.shutdown().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGHUP', () => logger.info({ signal: 'SIGHUP', result: vigil.reloadPolicy() }, 'policy reload check'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
