import {chmodSync, copyFileSync, mkdirSync} from 'node:fs';
import path from 'node:path';

import {ExitCode, RuntimeFailure, VfioMigError} from '../../src/lib/errors.js';
import {
  EngineError,
  EngineNotFoundError,
  EngineProcess,
  StreamCorruptError,
  checkEngine,
  enginePath,
} from '../../src/lib/engine/index.js';
import {ENGINE, ROOT, ensureEngine, tempDir} from './helpers.js';

let tmp: {dir: string; cleanup: () => void};
beforeAll(() => {
  ensureEngine();
  tmp = tempDir('vfio-mig-client-');
});
afterAll(() => tmp.cleanup());

describe('locating the engine', () => {
  test('default path is <package root>/engine/build/vfio-mig-engine; VFIO_MIG_ENGINE overrides', () => {
    expect(enginePath({})).toBe(path.join(ROOT, 'engine', 'build', 'vfio-mig-engine'));
    expect(enginePath({VFIO_MIG_ENGINE: '/opt/x/engine'})).toBe('/opt/x/engine');
  });

  test('missing binary: a one-line RuntimeFailure saying how to build it', async () => {
    const missing = path.join(tmp.dir, 'nope', 'vfio-mig-engine');
    const err = await EngineProcess.start({binary: missing}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineNotFoundError);
    expect(err).toBeInstanceOf(RuntimeFailure);
    const e = err as EngineNotFoundError;
    expect(e.exitCode).toBe(ExitCode.runtime);
    expect(e.code).toBe('ENGINE_MISSING');
    expect(e.message).toBe(`migration engine not found at ${missing}: build one from the shipped source with \`vfio-mig engine build\` (needs cc and make)`);
    expect(e.message).not.toContain('\n');
  });

  test('binary without its executable bit: the clear error, not a spawn EACCES', async () => {
    const copy = path.join(tmp.dir, 'noexec-engine');
    copyFileSync(ENGINE, copy);
    chmodSync(copy, 0o644);
    const err = await EngineProcess.start({env: {...process.env, VFIO_MIG_ENGINE: copy}}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineNotFoundError);
    expect((err as Error).message).toMatch(/is not executable \(mode 644\): chmod 755 it, or it is named by VFIO_MIG_ENGINE/);
  });

  test('an executable that cannot be run: ENGINE_SPAWN, not a hang', async () => {
    const {writeFileSync} = await import('node:fs');
    const bad = path.join(tmp.dir, 'garbage-engine');
    writeFileSync(bad, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0, 0, 0, 0]));
    chmodSync(bad, 0o755);
    const err = await EngineProcess.start({binary: bad}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeFailure);
    // Depending on how libuv reports the failed exec: a spawn error or an exit before hello.
    expect(['ENGINE_SPAWN', 'ENGINE_EXIT']).toContain((err as RuntimeFailure).code);
    expect((err as Error).message).toMatch(/garbage-engine/);
  });

  test('a directory is not an engine', async () => {
    const dir = path.join(tmp.dir, 'adir');
    mkdirSync(dir);
    await expect(checkEngine(dir)).rejects.toThrow(/is not a file: build one from the shipped source with `vfio-mig engine build`/);
  });
});

describe('EngineProcess', () => {
  test('typed results; engine errors become EngineError with errno and errnoName (exit code 3)', async () => {
    const eng = await EngineProcess.start({binary: ENGINE});
    const hello = await eng.hello();
    expect(hello).toMatchObject({ok: true, protocol: 1, stream_format: 1, pid: eng.pid});
    expect(hello.ops).toContain('set_state');
    const err = await eng.open('../x', {group_path: '/dev/vfio/1', container_path: '/dev/vfio/vfio'}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toBeInstanceOf(VfioMigError);
    const e = err as EngineError;
    expect([e.errno, e.errnoName, e.code, e.exitCode, e.op]).toEqual([22, 'EINVAL', 'UNSAFE_NAME', 3, 'open']);
    const gs = await eng.getState().catch((x: unknown) => x);
    expect(gs).toMatchObject({errno: 19, errnoName: 'ENODEV', code: 'NO_DEVICE'});
    // Requests are answered in order, the engine keeps serving after errors.
    const [s1, s2] = await Promise.all([eng.selftest(), eng.hello()]);
    expect(s1.failures).toBe(0);
    expect(s2.ok).toBe(true);
    expect(await eng.close()).toBe(0);
    expect(eng.running).toBe(false);
    await expect(eng.hello()).rejects.toMatchObject({code: 'ENGINE_EXIT'});
  });

  test('a corrupt stream rejects with StreamCorruptError carrying the offset', async () => {
    const {writeFileSync} = await import('node:fs');
    const p = path.join(tmp.dir, 'junk.vms');
    writeFileSync(p, 'VFIOMIGS' + 'x'.repeat(30));
    const eng = await EngineProcess.start({binary: ENGINE});
    const err = await eng.verify({in_path: p}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamCorruptError);
    expect((err as StreamCorruptError).offset).toBe(8);
    expect((err as Error).message).toBe('stream corrupt at byte 8: preamble CRC32C mismatch');
    await eng.close();
  });

  test('an engine that dies mid-request rejects pending requests with ENGINE_EXIT', async () => {
    const eng = await EngineProcess.start({binary: ENGINE});
    const p = eng.request('hello', {});
    eng.kill();
    // hello may win the race; a second request after the kill cannot.
    await p.catch(() => undefined);
    const err = await eng.hello().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeFailure);
    expect((err as RuntimeFailure).code).toBe('ENGINE_EXIT');
  });
});
