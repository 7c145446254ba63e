import {existsSync} from 'node:fs';
import path from 'node:path';

import {EngineError, EngineProcess} from '../../src/lib/engine/index.js';
import {TEST_ENGINE, ensureEngine, random, tempDir} from './helpers.js';

let tmp: {dir: string; cleanup: () => void};
beforeAll(() => {
  ensureEngine();
  tmp = tempDir('vfio-mig-cancel-');
});
afterAll(() => tmp.cleanup());

/** Every wait of a transfer can be cancelled: a peer that never reads or writes holds nothing. */
describe('cancellation of blocked transfers', () => {
  test('a save reading from a source that never produces ends with CANCELLED on `cancel`', async () => {
    // Descriptor 3 is a socket whose other end (ours) never writes: the save waits for data.
    const e = await EngineProcess.start({binary: TEST_ENGINE, data: 'pipe'});
    try {
      await e.attachData({fd: 3, mode: 'read'});
      await e.saveBegin({path: path.join(tmp.dir, 'never.vfm'), header: {a: 1}});
      const saving = e.save({mode: 'until_eof'}).catch((err: unknown) => err);
      await new Promise((r) => setTimeout(r, 300));
      const t0 = Date.now();
      await e.cancel();
      const err = await saving;
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(err).toBeInstanceOf(EngineError);
      expect((err as EngineError).code).toBe('CANCELLED');
      // The engine still answers afterwards.
      expect((await e.saveEnd({abort: true})).complete).toBe(false);
    } finally {
      await e.close();
    }
  });

  test('a load writing into a sink that never reads (the destination stalls) ends on `cancel`', async () => {
    const e = await EngineProcess.start({binary: TEST_ENGINE, data: 'pipe'});
    const stream = path.join(tmp.dir, 'big.vfm');
    const packer = await EngineProcess.start({binary: TEST_ENGINE});
    try {
      const input = path.join(tmp.dir, 'big.raw');
      const {writeFileSync} = await import('node:fs');
      writeFileSync(input, random(16 << 20));
      await packer.pack({in_path: input, out_path: stream, header: {x: 1}});
      // Descriptor 3 is the "device": a socket nobody reads, so the writes fill it and block.
      await e.attachData({fd: 3, mode: 'write'});
      await e.loadBegin({path: stream});
      const loading = e.load().catch((err: unknown) => err);
      await new Promise((r) => setTimeout(r, 300));
      await e.cancel();
      const err = await loading;
      expect((err as EngineError).code).toBe('CANCELLED');
    } finally {
      await Promise.all([e.close(), packer.close()]);
    }
  });

  test('SIGTERM during a blocked transfer: the engine exits promptly', async () => {
    const e = await EngineProcess.start({binary: TEST_ENGINE, data: 'pipe'});
    await e.attachData({fd: 3, mode: 'read'});
    await e.saveBegin({path: path.join(tmp.dir, 'term.vfm'), header: {a: 1}});
    const saving = e.save({mode: 'until_eof'}).catch((err: unknown) => err);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    e.kill();
    await saving;
    await e.close();
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(existsSync(path.join(tmp.dir, 'term.vfm'))).toBe(true); // not armed: no device, the file is the caller's
  });
});
