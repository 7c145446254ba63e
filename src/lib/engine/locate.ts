import {constants as fsc, existsSync, readFileSync} from 'node:fs';
import {access, stat} from 'node:fs/promises';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {EngineNotFoundError} from './errors.js';

export const ENGINE_ENV = 'VFIO_MIG_ENGINE';
const ENGINE_REL = path.join('engine', 'build', 'vfio-mig-engine');

/** The package root: the nearest directory above this module holding vfio-mig's package.json. */
export function packageRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        const name: unknown = (JSON.parse(readFileSync(pj, 'utf8')) as {name?: unknown}).name;
        if (name === 'vfio-mig') return dir;
      } catch {
        /* keep looking */
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(from, '..', '..', '..');
    dir = up;
  }
}

/** Where the engine binary is expected: $VFIO_MIG_ENGINE, else <package root>/engine/build/vfio-mig-engine. */
export function enginePath(env: NodeJS.ProcessEnv = process.env): string {
  const override = env[ENGINE_ENV];
  if (override && override.length > 0) return path.resolve(override);
  return path.join(packageRoot(), ENGINE_REL);
}

const HOW_TO_BUILD = 'build it with `npm run build` (or `make -C engine`) in the vfio-mig package';

/**
 * Checks that the engine exists, is a regular file and is executable (access X_OK and an
 * execute bit in its mode), so a missing build or a lost executable bit gives one clear
 * line instead of a spawn EACCES/ENOENT.
 */
export async function checkEngine(file: string): Promise<string> {
  let st;
  try {
    st = await stat(file);
  } catch {
    throw new EngineNotFoundError(`migration engine not found at ${file}: ${HOW_TO_BUILD}`, {path: file});
  }
  if (!st.isFile()) {
    throw new EngineNotFoundError(`migration engine at ${file} is not a file: ${HOW_TO_BUILD}`, {path: file});
  }
  let executable = (st.mode & 0o111) !== 0;
  if (executable) {
    try {
      await access(file, fsc.X_OK);
    } catch {
      executable = false;
    }
  }
  if (!executable) {
    throw new EngineNotFoundError(
      `migration engine at ${file} is not executable (mode ${(st.mode & 0o777).toString(8)}): ${HOW_TO_BUILD}`,
      {path: file, mode: st.mode & 0o777},
    );
  }
  return file;
}
