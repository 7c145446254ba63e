import {constants as fsc, existsSync, readFileSync, statSync} from 'node:fs';
import {access, stat} from 'node:fs/promises';
import {homedir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {EngineNotFoundError} from './errors.js';

export const ENGINE_ENV = 'VFIO_MIG_ENGINE';
export const ENGINE_NAME = 'vfio-mig-engine';
/** Node's process.arch values the package ships a static engine for (engine/prebuilt/linux-<arch>/). */
export const PREBUILT_ARCHS: readonly string[] = ['x64', 'arm64'];
/** What every engine-not-found error tells the user to run. */
export const HOW_TO_BUILD = 'build one from the shipped source with `vfio-mig engine build` (needs cc and make)';

function readPackageJson(dir: string): {name?: unknown; version?: unknown} | undefined {
  const pj = path.join(dir, 'package.json');
  if (!existsSync(pj)) return undefined;
  try {
    return JSON.parse(readFileSync(pj, 'utf8')) as {name?: unknown; version?: unknown};
  } catch {
    return undefined;
  }
}

/** The package root: the nearest directory above this module holding vfio-mig's package.json. */
export function packageRoot(from: string = path.dirname(fileURLToPath(import.meta.url))): string {
  let dir = from;
  for (;;) {
    if (readPackageJson(dir)?.name === 'vfio-mig') return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(from, '..', '..', '..');
    dir = up;
  }
}

/** The installed package's version (keys the user's own engine builds). */
export function packageVersion(root: string = packageRoot()): string {
  const version = readPackageJson(root)?.version;
  return typeof version === 'string' ? version : 'unknown';
}

/** `linux-x64`, `linux-arm64`, ...: Node's names, as the prebuilt directories use them. */
export function platformKey(platform: string = process.platform, arch: string = process.arch): string {
  return `${platform}-${arch}`;
}

/**
 * Where `vfio-mig engine build` puts the user's own engine: $XDG_DATA_HOME (default
 * ~/.local/share)/vfio-mig/engine/<version>/<platform-arch>/. Outside the package, which may
 * be read-only; keyed by version so an upgraded CLI never talks to an older engine, and by
 * platform for a home directory shared between machines.
 */
export function userEngineDir(env: NodeJS.ProcessEnv = process.env, version: string = packageVersion()): string | undefined {
  const xdg = env.XDG_DATA_HOME;
  let data = xdg && path.isAbsolute(xdg) ? xdg : undefined;
  if (data === undefined) {
    const home = env.HOME || homeOrUndefined();
    if (home === undefined) return undefined;
    data = path.join(home, '.local', 'share');
  }
  return path.join(data, 'vfio-mig', 'engine', version, platformKey());
}

/** os.homedir() throws when $HOME is unset and the uid has no passwd entry (a minimal guest). */
function homeOrUndefined(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined;
  }
}

export type EngineSource = 'env' | 'checkout' | 'user' | 'prebuilt';

export interface EngineCandidate {
  source: EngineSource;
  path: string;
}

/**
 * Where the engine is looked for, in order: $VFIO_MIG_ENGINE alone when set; else the
 * checkout's own build (engine/build/, not in the package), the user's build
 * (userEngineDir), the package's prebuilt static binary for this platform.
 */
export function engineCandidates(env: NodeJS.ProcessEnv = process.env, root: string = packageRoot()): EngineCandidate[] {
  const override = env[ENGINE_ENV];
  if (override && override.length > 0) return [{source: 'env', path: path.resolve(override)}];
  const list: EngineCandidate[] = [{source: 'checkout', path: path.join(root, 'engine', 'build', ENGINE_NAME)}];
  const user = userEngineDir(env, packageVersion(root));
  if (user !== undefined) list.push({source: 'user', path: path.join(user, ENGINE_NAME)});
  if (process.platform === 'linux' && PREBUILT_ARCHS.includes(process.arch)) {
    list.push({source: 'prebuilt', path: path.join(root, 'engine', 'prebuilt', platformKey(), ENGINE_NAME)});
  }
  return list;
}

/** The candidate that is used: the first that exists (even if broken: checkEngine says why), else undefined. */
export function findEngine(env: NodeJS.ProcessEnv = process.env, root: string = packageRoot()): EngineCandidate | undefined {
  return engineCandidates(env, root).find((c) => {
    try {
      statSync(c.path);
      return true;
    } catch {
      return false;
    }
  });
}

/** The engine binary that would be used; when none exists, the first place looked. */
export function enginePath(env: NodeJS.ProcessEnv = process.env): string {
  return (findEngine(env) ?? (engineCandidates(env)[0] as EngineCandidate)).path;
}

/** Finds and checks the engine; the error lists every place looked and how to build one. */
export async function locateEngine(env: NodeJS.ProcessEnv = process.env, root: string = packageRoot()): Promise<EngineCandidate> {
  const candidates = engineCandidates(env, root);
  if (candidates[0]?.source === 'env') {
    const how = `it is named by ${ENGINE_ENV}: point that at an engine, or unset it to use the package's`;
    return {source: 'env', path: await checkEngine(candidates[0].path, how)};
  }
  const found = findEngine(env, root);
  if (found) return {...found, path: await checkEngine(found.path)};
  const noPrebuilt = candidates.some((c) => c.source === 'prebuilt') ? '' : ` (no prebuilt engine for ${platformKey()})`;
  throw new EngineNotFoundError(
    `migration engine not found${noPrebuilt} in ${candidates.map((c) => c.path).join(', ')}: ${HOW_TO_BUILD}, or name one with ${ENGINE_ENV}`,
    {paths: candidates.map((c) => c.path)},
  );
}

/**
 * Checks that the engine exists, is a regular file and is executable (access X_OK and an
 * execute bit in its mode), so a missing build or a lost executable bit (as a prebuilt
 * binary published without it broke node-pty) gives one clear line instead of a spawn
 * EACCES/ENOENT.
 */
export async function checkEngine(file: string, how: string = HOW_TO_BUILD): Promise<string> {
  let st;
  try {
    st = await stat(file);
  } catch {
    throw new EngineNotFoundError(`migration engine not found at ${file}: ${how}`, {path: file});
  }
  if (!st.isFile()) {
    throw new EngineNotFoundError(`migration engine at ${file} is not a file: ${how}`, {path: file});
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
      `migration engine at ${file} is not executable (mode ${(st.mode & 0o777).toString(8)}): chmod 755 it, or ${how}`,
      {path: file, mode: st.mode & 0o777},
    );
  }
  return file;
}
