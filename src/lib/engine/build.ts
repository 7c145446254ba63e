import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, rename, rm} from 'node:fs/promises';
import path from 'node:path';

import {InputError, RuntimeFailure} from '../errors.js';
import {ENGINE_NAME, packageRoot, packageVersion, userEngineDir} from './locate.js';

export interface EngineBuildResult {
  /** The installed binary (the CLI finds it there: locate.ts's 'user' place). */
  path: string;
  /** The compiler make used: $CC or cc. */
  cc: string;
  /** The new binary's `--version` line. */
  version: string;
  /** Its `--selftest` line (the CRC32C check), run before it was put in place. */
  selftest: string;
}

function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join(' | ');
}

/**
 * The fallback build: compiles the package's engine source (engine/src, engine/Makefile) with
 * the system's cc through make into a temporary directory beside the target, runs the new
 * binary's self test, and only then renames it into place (userEngineDir by default), so a
 * failed build leaves no engine behind and nothing is written inside the package.
 */
export async function buildEngine(options: {env?: NodeJS.ProcessEnv} = {}): Promise<EngineBuildResult> {
  const env = options.env ?? process.env;
  const root = packageRoot();
  const source = path.join(root, 'engine');
  if (!existsSync(path.join(source, 'Makefile')) || !existsSync(path.join(source, 'src'))) {
    throw new InputError(`${source}: the engine source (Makefile, src/) is missing from this vfio-mig package; reinstall it`, 'ENGINE_SOURCE');
  }
  const dir = userEngineDir(env, packageVersion(root));
  if (dir === undefined) throw new InputError('no home directory to build the engine in: set HOME or XDG_DATA_HOME', 'NO_HOME');
  try {
    await mkdir(dir, {recursive: true});
  } catch (e) {
    throw new RuntimeFailure(`cannot create ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; set XDG_DATA_HOME to a writable directory`, 'ENGINE_BUILD');
  }
  const work = await mkdtemp(path.join(dir, '.build-'));
  try {
    const cc = env.CC || 'cc';
    // WERROR= : a newer compiler's new warning must not stop a user's build (CI keeps -Werror).
    const made = spawnSync('make', ['-s', '-C', source, `OUT=${work}`, 'WERROR=', 'all'], {env, encoding: 'utf8', timeout: 300_000});
    if (made.error) {
      const why = (made.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'make is not installed' : made.error.message;
      throw new RuntimeFailure(`engine build failed: ${why}; install make and a C compiler (Debian: apt-get install build-essential)`, 'ENGINE_BUILD');
    }
    if (made.status !== 0) {
      throw new RuntimeFailure(`engine build failed (make exit ${made.status}, cc ${cc}): ${tail(made.stderr + made.stdout)}`, 'ENGINE_BUILD');
    }
    const built = path.join(work, ENGINE_NAME);
    const selftest = spawnSync(built, ['--selftest'], {encoding: 'utf8', timeout: 60_000});
    if (selftest.status !== 0) {
      throw new RuntimeFailure(`engine built but its self test failed: ${tail(selftest.stdout + selftest.stderr) || String(selftest.error)}`, 'ENGINE_BUILD');
    }
    const target = path.join(dir, ENGINE_NAME);
    await rename(built, target);
    return {path: target, cc, version: engineVersion(target), selftest: selftest.stdout.trim()};
  } finally {
    await rm(work, {recursive: true, force: true});
  }
}

/** The engine's `--version` line (`vfio-mig-engine 0.1.0 (protocol 1, ...)`), after checkEngine. */
export function engineVersion(binary: string): string {
  const run = spawnSync(binary, ['--version'], {encoding: 'utf8', timeout: 30_000});
  if (run.status !== 0) {
    throw new RuntimeFailure(`cannot run the migration engine ${binary}: ${run.error ? run.error.message : `exit ${run.status} ${tail(run.stderr)}`}`, 'ENGINE_SPAWN');
  }
  return run.stdout.trim();
}
