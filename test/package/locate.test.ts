/**
 * Which engine binary the migrate commands use (src/lib/engine/locate.ts), on a fake package
 * root: $VFIO_MIG_ENGINE alone when set; else the checkout's build, the user's build, the
 * prebuilt one for this platform; the not-found error lists every place and names the fallback
 * build command.
 */
import {chmodSync, copyFileSync, mkdirSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {EngineNotFoundError, engineCandidates, locateEngine, userEngineDir} from '../../src/lib/engine/index.js';
import {ENGINE, ensureEngine, tempDir} from '../engine/helpers.js';

let tmp: {dir: string; cleanup: () => void};
let root: string;
let env: NodeJS.ProcessEnv;
const arch = `linux-${process.arch}`;

beforeAll(() => {
  ensureEngine();
  tmp = tempDir('vfio-mig-locate-');
  root = path.join(tmp.dir, 'pkg');
  mkdirSync(root);
  writeFileSync(path.join(root, 'package.json'), JSON.stringify({name: 'vfio-mig', version: '9.8.7'}));
  env = {HOME: path.join(tmp.dir, 'home'), XDG_DATA_HOME: path.join(tmp.dir, 'data')};
});
afterAll(() => tmp.cleanup());

function place(file: string, mode = 0o755): void {
  mkdirSync(path.dirname(file), {recursive: true});
  copyFileSync(ENGINE, file);
  chmodSync(file, mode);
}

describe('locating the engine', () => {
  const checkout = () => path.join(root, 'engine/build/vfio-mig-engine');
  const user = () => path.join(tmp.dir, 'data/vfio-mig/engine/9.8.7', arch, 'vfio-mig-engine');
  const prebuilt = () => path.join(root, 'engine/prebuilt', arch, 'vfio-mig-engine');

  test('the places, in order; the user dir is $XDG_DATA_HOME (else ~/.local/share)/vfio-mig/engine/<version>/<platform>', () => {
    expect(engineCandidates(env, root)).toEqual([
      {source: 'checkout', path: checkout()},
      {source: 'user', path: user()},
      {source: 'prebuilt', path: prebuilt()},
    ]);
    expect(userEngineDir({HOME: '/home/u'}, '1.2.3')).toBe(`/home/u/.local/share/vfio-mig/engine/1.2.3/${arch}`);
    expect(userEngineDir({HOME: '/home/u', XDG_DATA_HOME: 'relative'}, '1.2.3')).toBe(`/home/u/.local/share/vfio-mig/engine/1.2.3/${arch}`);
    expect(engineCandidates({...env, VFIO_MIG_ENGINE: 'rel/engine'}, root)).toEqual([{source: 'env', path: path.resolve('rel/engine')}]);
  });

  test('none there: one line listing every place and naming `vfio-mig engine build` (exit 3)', async () => {
    const err = (await locateEngine(env, root).catch((e: unknown) => e)) as EngineNotFoundError;
    expect(err).toBeInstanceOf(EngineNotFoundError);
    expect(err.exitCode).toBe(3);
    expect(err.message).toBe(
      `migration engine not found in ${checkout()}, ${user()}, ${prebuilt()}: build one from the shipped source with \`vfio-mig engine build\` (needs cc and make), or name one with VFIO_MIG_ENGINE`,
    );
  });

  test('a prebuilt engine that lost its executable bit is reported, not spawned (node-pty #850)', async () => {
    place(prebuilt(), 0o644);
    await expect(locateEngine(env, root)).rejects.toThrow(`migration engine at ${prebuilt()} is not executable (mode 644): chmod 755 it, or build one`);
    chmodSync(prebuilt(), 0o755);
    await expect(locateEngine(env, root)).resolves.toEqual({source: 'prebuilt', path: prebuilt()});
  });

  test("the user's build comes before the prebuilt one, the checkout's before both; VFIO_MIG_ENGINE overrides all", async () => {
    place(user());
    await expect(locateEngine(env, root)).resolves.toEqual({source: 'user', path: user()});
    place(checkout());
    await expect(locateEngine(env, root)).resolves.toEqual({source: 'checkout', path: checkout()});
    const missing = path.join(tmp.dir, 'nope');
    await expect(locateEngine({...env, VFIO_MIG_ENGINE: missing}, root)).rejects.toThrow(
      `migration engine not found at ${missing}: it is named by VFIO_MIG_ENGINE: point that at an engine, or unset it to use the package's`,
    );
    await expect(locateEngine({...env, VFIO_MIG_ENGINE: user()}, root)).resolves.toEqual({source: 'env', path: user()});
  });
});
