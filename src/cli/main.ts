import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../paths.js';
import { runCheckPolicy } from './check-policy.js';
import { runPseudonym } from './pseudonym.js';
import { runServe } from './serve.js';

const HELP = `vigil — API behaviour analytics for Envoy (ext_proc sidecar)

Usage: vigil <command> [options]

Commands:
  serve          run the ext_proc sidecar (settings from the environment; vigil serve --help)
  sim            play Envoy's ext_proc filter against any ext_proc server (vigil sim --help)
  replay         play packet captures and access logs through vigil (vigil replay --help)
  profile        learn a site's policy from its captures or access logs (vigil profile --help)
  check-policy   validate a policy file or directory offline (vigil check-policy --help)
  pseudonym      print the pseudonym vigil logs for an identity, username or IP (vigil pseudonym --help)
  admin          penalties and manual block/allow rules of a running vigil, over its admin API (vigil admin --help)

Options:
  -h, --help     this help
  --version      print the version
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServe(rest);
    case 'sim': {
      // Loaded on demand: `serve` never loads the simulator.
      const { runSimCli } = await import('../envoy-sim/cli.js');
      return runSimCli(rest);
    }
    case 'replay': {
      // Loaded on demand, like sim: `serve` never loads the replay readers.
      const { runReplayCli } = await import('./replay.js');
      return runReplayCli(rest);
    }
    case 'profile': {
      const { runProfileCli } = await import('./profile.js');
      return runProfileCli(rest);
    }
    case 'check-policy':
      return runCheckPolicy(rest);
    case 'pseudonym':
      return runPseudonym(rest);
    case 'admin': {
      // Loaded on demand: `serve` never loads the client.
      const { runAdminCli } = await import('./admin.js');
      return runAdminCli(rest);
    }
    case '--version': {
      const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as { version: string };
      process.stdout.write(`vigil ${pkg.version}\n`);
      return 0;
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(HELP);
      return 0;
    default:
      process.stderr.write(`vigil: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}
