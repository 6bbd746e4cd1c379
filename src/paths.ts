import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project root: the nearest ancestor of this file holding package.json (works from src/ and dist/src/). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('vigil: cannot locate the project root (package.json + proto/)');
    dir = up;
  }
}

export const projectRoot = findRoot();
export const protoDir = join(projectRoot, 'proto');
export const luaDir = join(projectRoot, 'src', 'state', 'lua');
export const defaultPolicyPath = join(projectRoot, 'policy', 'default.yaml');
