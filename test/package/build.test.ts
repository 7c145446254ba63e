/**
 * `vfio-mig engine build` (src/lib/engine/build.ts) when it fails: a one-line exit-3 error
 * naming the cause, and nothing left behind (no half-built engine the CLI would then pick).
 * The successful build is run on the installed package in install.test.ts.
 */
import {readdirSync} from 'node:fs';
import path from 'node:path';

import {buildEngine} from '../../src/lib/engine/build.js';
import {tempDir} from '../engine/helpers.js';

let tmp: {dir: string; cleanup: () => void};
beforeAll(() => {
  tmp = tempDir('vfio-mig-build-');
});
afterAll(() => tmp.cleanup());

test('a compiler that fails: ENGINE_BUILD, exit 3, the user dir left empty', async () => {
  const env = {PATH: process.env.PATH, XDG_DATA_HOME: tmp.dir, CC: 'false'};
  const err = (await buildEngine({env}).catch((e: unknown) => e)) as {exitCode: number; code: string; message: string};
  expect([err.exitCode, err.code]).toEqual([3, 'ENGINE_BUILD']);
  expect(err.message).toMatch(/^engine build failed \(make exit 2, cc false\): /);
  expect(err.message).not.toContain('\n');
  const dir = path.join(tmp.dir, 'vfio-mig/engine');
  const version = readdirSync(dir)[0] as string;
  expect(readdirSync(path.join(dir, version, `linux-${process.arch}`))).toEqual([]);
});

test('no make on PATH: says to install make and a C compiler', async () => {
  const env = {PATH: path.join(tmp.dir, 'empty-path'), XDG_DATA_HOME: tmp.dir};
  await expect(buildEngine({env})).rejects.toThrow(
    'engine build failed: make is not installed; install make and a C compiler (Debian: apt-get install build-essential)',
  );
});
