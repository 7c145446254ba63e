import {spawn, spawnSync} from 'node:child_process';
import {mkdir, readFile, stat, symlink, writeFile} from 'node:fs/promises';
import path from 'node:path';

import {ExitCode, InputError} from '../../src/lib/errors.js';
import type {ParamList} from '../../src/lib/model/types.js';
import {
  acquireDeviceLock,
  type ParamIO,
  planPreparation,
  prepareDevice,
  prepareError,
  recoverInterruptedPrepare,
  sysfsIO,
} from '../../src/lib/prepare/index.js';
import {prepareJournal} from '../../src/lib/schema/generated/prepare-journal.js';
import {SysfsWriteError, type SysfsRoot} from '../../src/lib/sysfs/root.js';
import {
  copyHost,
  fixtureList,
  GPU_A_4GB_DEV,
  GPU_A_8GB_DEV,
  GPU_B_8GB_DEV,
  mdevMigrationDir,
  migrationValues,
  V4_LEGACY_DEV,
  VF_DST,
  schemaValid,
} from './helpers.js';

type Host = Awaited<ReturnType<typeof copyHost>>;
let hosts: Host[] = [];
async function host(name: string): Promise<Host> {
  const h = await copyHost(name);
  hosts.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(hosts.map((h) => h.cleanup()));
  hosts = [];
});

/** The real I/O, logging every write, failing the writes numbered in `fail` (1-based). */
function scriptedIO(sysfs: SysfsRoot, fail: Record<number, string> = {}, options: {delay?: number; corrupt?: string} = {}) {
  const real = sysfsIO(sysfs);
  const log: string[] = [];
  let n = 0;
  let corrupted = false;
  const io: ParamIO = {
    read: (rel) => real.read(rel),
    write: async (rel, text) => {
      n++;
      log.push(`${path.posix.basename(rel)}=${text}`);
      if (options.delay) await new Promise((r) => setTimeout(r, options.delay));
      const errno = fail[n];
      if (errno !== undefined) throw new SysfsWriteError(rel, errno, 'injected');
      const corrupt = options.corrupt !== undefined && path.posix.basename(rel) === options.corrupt && !corrupted;
      if (corrupt) corrupted = true;
      await real.write(rel, corrupt ? '7' : text);
    },
  };
  return {io, log};
}

const B_DIR = mdevMigrationDir(GPU_B_8GB_DEV);
const B_BEFORE = {ecc: '1', encoder: '0', hdr: '1', memory: '8192', profile: 'v2', queues: '4'};

describe('planning', () => {
  it('source value if listed, else off_value, else keep; sorted by name; skips values already right', async () => {
    const h = await host('gpu-b');
    const r = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {dryRun: true, host: 'gpu-b'});
    expect(r.status).toBe('dry_run');
    expect(r.steps).toEqual([
      {param: 'ecc', action: 'write', current: true, target: false, source: 'off_value'},
      {param: 'encoder', action: 'write', current: 0, target: 2, source: 'list'},
      {param: 'hdr', action: 'write', current: true, target: false, source: 'off_value'},
      {param: 'memory', action: 'skip', current: 8192, target: 8192, source: 'list'},
      {param: 'profile', action: 'skip', current: 'v2', target: 'v2', source: 'list'},
      {param: 'queues', action: 'skip', current: 4, target: 4, source: 'list'},
    ]);
    expect(r.writes).toBe(3);
    expect(schemaValid('output_prepare', r)).toBe(true);
    // Dry run: nothing written, no lock taken.
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual(B_BEFORE);
    await expect(stat(path.join(h.root, 'run'))).rejects.toThrow();
  });

  it('keeps a parameter with no off_value that is not listed, and warns when it is not at init_value', async () => {
    const h = await host('gpu-b');
    await writeFile(path.join(h.root, B_DIR, 'queues'), '6\n');
    const list = await fixtureList('gpu-a-8GB.json');
    if (list.scheme !== 'v3') throw new Error('v3');
    delete list.params.queues;
    const r = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, list, {host: 'gpu-b'});
    expect(r.status).toBe('prepared');
    expect(r.steps.find((s) => s.param === 'queues')).toEqual({param: 'queues', action: 'keep', current: 6, target: 6, source: 'kept'});
    expect(r.warnings).toEqual([expect.objectContaining({code: 'KEEPS_NON_INIT_VALUE', param: 'queues', value: 6, init_value: 4})]);
  });

  it('a new device starts at init_value (what select counts)', async () => {
    const h = await host('gpu-a');
    const {readTypes} = await import('../../src/lib/enumerate/index.js');
    const type = (await readTypes(h.sysfs)).find((t) => t.id === 'vgfx-8GB');
    const plan = planPreparation(await fixtureList('gpu-a-4GB.json'), type!.migration!, null);
    expect(plan.steps.filter((s) => s.action === 'write')).toEqual([{param: 'memory', action: 'write', current: 8192, target: 4096, source: 'list'}]);
  });
});

describe('applying', () => {
  it('writes each parameter once, in name order, reading each back; bool as 1/0', async () => {
    const h = await host('gpu-b');
    const {io, log} = scriptedIO(h.sysfs);
    const r = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {io, host: 'gpu-b'});
    expect(r.status).toBe('prepared');
    expect(log).toEqual(['ecc=0', 'encoder=2', 'hdr=0']);
    expect(r.steps.filter((s) => s.action === 'write').map((s) => s.outcome)).toEqual(['written', 'written', 'written']);
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual({...B_BEFORE, ecc: '0', encoder: '2', hdr: '0'});
    expect(schemaValid('output_prepare', r)).toBe(true);
    // Lock released (emptied; the next prepare takes it) and no journal left.
    expect(await readFile(path.join(h.root, 'run/vfio-mig', `${GPU_B_8GB_DEV}.lock`), 'utf8')).toBe('');
    await expect(stat(path.join(h.root, 'run/vfio-mig', `${GPU_B_8GB_DEV}.journal`))).rejects.toThrow();
    // Again: everything is already right, nothing is written.
    const again = scriptedIO(h.sysfs);
    const r2 = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {io: again.io});
    expect(r2.writes).toBe(0);
    expect(again.log).toEqual([]);
  });

  it('a write refused half-way (EINVAL on the 3rd) restores every value written, in reverse order', async () => {
    const h = await host('gpu-b');
    const {io, log} = scriptedIO(h.sysfs, {3: 'EINVAL'});
    const r = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {io, host: 'gpu-b'});
    expect(r.status).toBe('refused');
    expect(r.failure).toMatchObject({param: 'hdr', value: false, errno: 'EINVAL'});
    expect(log).toEqual(['ecc=0', 'encoder=2', 'hdr=0', 'encoder=0', 'ecc=1']);
    expect(r.rollback).toEqual([
      {param: 'encoder', value: 0, ok: true},
      {param: 'ecc', value: true, ok: true},
    ]);
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual(B_BEFORE);
    const error = prepareError(r);
    expect(error).toMatchObject({exitCode: ExitCode.runtime, code: 'WRITE_REFUSED', details: {param: 'hdr', value: false, errno: 'EINVAL'}});
    expect(error?.message).toContain('restored encoder=0, ecc=true');
  });

  it('EBUSY on the first write (device opened meanwhile): nothing to restore', async () => {
    const h = await host('gpu-b');
    const {io, log} = scriptedIO(h.sysfs, {1: 'EBUSY'});
    const r = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {io});
    expect(r).toMatchObject({status: 'refused', failure: {param: 'ecc', errno: 'EBUSY'}, rollback: []});
    expect(log).toEqual(['ecc=0']);
    expect(r.steps.map((s) => s.outcome)).toEqual(['refused', 'not_attempted', 'not_attempted', undefined, undefined, undefined]);
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual(B_BEFORE);
    expect(prepareError(r)?.message).toContain('nothing had been written');
  });

  it('a value that reads back differently is a refused write, and is restored too', async () => {
    const h = await host('gpu-b');
    const {io} = scriptedIO(h.sysfs, {}, {corrupt: 'encoder'});
    const r = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {io});
    expect(r).toMatchObject({status: 'refused', failure: {param: 'encoder', value: 2, errno: null, read_back: '7'}});
    expect(r.rollback?.map((e) => e.param)).toEqual(['encoder', 'ecc']);
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual(B_BEFORE);
  });

  it('a failed restore is reported distinctly (exit 5)', async () => {
    const h = await host('gpu-b');
    const {io} = scriptedIO(h.sysfs, {3: 'EINVAL', 4: 'EIO'});
    const r = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {io});
    expect(r.status).toBe('rollback_failed');
    expect(r.rollback).toEqual([
      expect.objectContaining({param: 'encoder', value: 0, ok: false, errno: 'EIO'}),
      {param: 'ecc', value: true, ok: true},
    ]);
    expect(prepareError(r)).toMatchObject({exitCode: ExitCode.recoveryFailed, code: 'ROLLBACK_FAILED'});
  });

  it('not compatible or in use: nothing is written (exit 1)', async () => {
    const h = await host('gpu-a');
    const {io, log} = scriptedIO(h.sysfs);
    const r = await prepareDevice(h.sysfs, GPU_A_4GB_DEV, await fixtureList('gpu-a-8GB.json'), {io});
    expect(r).toMatchObject({status: 'not_compatible', compatible: false, reasons: [{code: 'NOT_ALLOWED', param: 'memory'}], steps: []});
    expect(schemaValid('output_prepare', r)).toBe(true);
    const busy = await prepareDevice(h.sysfs, GPU_A_8GB_DEV, await fixtureList('gpu-a-4GB.json'), {io});
    expect(busy.reasons.map((x) => x.code)).toEqual(['DEVICE_IN_USE']);
    expect(log).toEqual([]);
  });

  it.each([
    ['../../x', 1],
    ['a/b', 1],
    ['', 1],
    ['memory', 'x'.repeat(1024 * 1024)],
    ['memory', null],
    ['memory', 1.5],
  ])('a list naming %j (or a bad value) is refused before anything is written', async (name, value) => {
    const h = await host('gpu-b');
    const list = (await fixtureList('gpu-a-8GB.json')) as ParamList & {params: Record<string, unknown>};
    list.params[name] = value;
    const {io, log} = scriptedIO(h.sysfs);
    await expect(prepareDevice(h.sysfs, GPU_B_8GB_DEV, list, {io})).rejects.toBeInstanceOf(InputError);
    expect(log).toEqual([]);
    await expect(stat(path.join(h.root, 'run'))).rejects.toThrow();
  });

  it('a PCI variant-driver VF is prepared through its own migration/ directory', async () => {
    const h = await host('pci-vf');
    const {io, log} = scriptedIO(h.sysfs);
    const r = await prepareDevice(h.sysfs, VF_DST, await fixtureList('pci-vf-mlx5.json'), {io});
    expect(r.status).toBe('prepared');
    expect(log).toEqual(['mtu=9000', 'num_queues=16']);
    expect(await migrationValues(h.sysfs, `sys/bus/pci/devices/${VF_DST}/migration`)).toEqual({ipsec: '0', mtu: '9000', num_queues: '16', roce: '1'});
  });

  it('RFC v4: writes device_model, then version', async () => {
    const h = await host('v4-host');
    const {io, log} = scriptedIO(h.sysfs);
    const r = await prepareDevice(h.sysfs, V4_LEGACY_DEV, await fixtureList('v4-8GB.json'), {io});
    expect(r.status).toBe('prepared');
    expect(log).toEqual(['device_model=org.project/graphics-card', 'version=8GB-v2']);
    expect(await migrationValues(h.sysfs, mdevMigrationDir(V4_LEGACY_DEV))).toEqual({device_model: 'org.project/graphics-card', version: '8GB-v2'});
  });

  it('RFC v4: a refused version restores the model, then the version', async () => {
    const h = await host('v4-host');
    const {io, log} = scriptedIO(h.sysfs, {2: 'EINVAL'});
    const r = await prepareDevice(h.sysfs, V4_LEGACY_DEV, await fixtureList('v4-8GB.json'), {io});
    expect(r.status).toBe('refused');
    expect(log).toEqual([
      'device_model=org.project/graphics-card',
      'version=8GB-v2',
      'device_model=org.project/graphics-card-legacy',
      'version=legacy-8G',
    ]);
    expect(await migrationValues(h.sysfs, mdevMigrationDir(V4_LEGACY_DEV))).toEqual({device_model: 'org.project/graphics-card-legacy', version: 'legacy-8G'});
  });
});

describe('the device lock', () => {
  const lockOf = (h: Host, id: string) => path.join(h.root, 'run/vfio-mig', `${id}.lock`);

  it('a lock held by another process refuses the prepare (exit 3) and writes nothing', async () => {
    const h = await host('gpu-b');
    await mkdir(path.dirname(lockOf(h, GPU_B_8GB_DEV)), {recursive: true});
    // flock(1) itself holds it (no fork: the lock dies with this pid).
    const holder = spawn('flock', ['-F', lockOf(h, GPU_B_8GB_DEV), 'sh', '-c', 'echo locked; exec sleep 30'], {stdio: ['ignore', 'pipe', 'inherit']});
    try {
      await new Promise((r) => holder.stdout.once('data', r));
      const {io, log} = scriptedIO(h.sysfs);
      await expect(prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {io})).rejects.toMatchObject({
        exitCode: 3,
        code: 'LOCKED',
      });
      expect(log).toEqual([]);
    } finally {
      holder.kill('SIGKILL');
    }
    // Its death released it.
    await new Promise((r) => holder.once('exit', r));
    expect((await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'))).status).toBe('prepared');
  });

  it('a lock file naming a dead pid, or empty, is just a file: no lock, nothing stale', async () => {
    const h = await host('gpu-b');
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    await mkdir(path.dirname(lockOf(h, GPU_B_8GB_DEV)), {recursive: true});
    await writeFile(lockOf(h, GPU_B_8GB_DEV), `${dead}\n`);
    const r = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'));
    expect(r.status).toBe('prepared');
    // The file stays (unlinking a flock'd file breaks exclusion), emptied, and the lock is free.
    expect(await readFile(lockOf(h, GPU_B_8GB_DEV), 'utf8')).toBe('');
    const lock = await acquireDeviceLock(h.sysfs, GPU_B_8GB_DEV);
    expect(await readFile(lockOf(h, GPU_B_8GB_DEV), 'utf8')).toBe(`${process.pid}\n`);
    await lock.release();
  });

  it('two prepares of one device cannot interleave', async () => {
    const h = await host('gpu-b');
    const slow = scriptedIO(h.sysfs, {}, {delay: 50});
    const list = await fixtureList('gpu-a-8GB.json');
    const results = await Promise.allSettled([
      prepareDevice(h.sysfs, GPU_B_8GB_DEV, list, {io: slow.io}),
      new Promise((r) => setTimeout(r, 20)).then(() => prepareDevice(h.sysfs, GPU_B_8GB_DEV, list, {io: slow.io})),
    ]);
    expect(results[0]).toMatchObject({status: 'fulfilled', value: {status: 'prepared'}});
    expect(results[1]).toMatchObject({status: 'rejected', reason: {code: 'LOCKED'}});
    expect(slow.log).toEqual(['ecc=0', 'encoder=2', 'hdr=0']);
  });

  it('a prepare delayed between taking the lock and filling it still excludes another', async () => {
    const h = await host('gpu-b');
    const list = await fixtureList('gpu-a-8GB.json');
    const first = scriptedIO(h.sysfs);
    const second = scriptedIO(h.sysfs);
    let lockText: string | undefined;
    let other: Promise<unknown> = Promise.resolve();
    const delayed = prepareDevice(h.sysfs, GPU_B_8GB_DEV, list, {
      io: first.io,
      hooks: {
        locked: async () => {
          // Inside the lock, its file still empty: the case an O_EXCL pid file took as stale.
          lockText = await readFile(lockOf(h, GPU_B_8GB_DEV), 'utf8');
          other = prepareDevice(h.sysfs, GPU_B_8GB_DEV, list, {io: second.io}).then(
            (v) => ({ok: v}),
            (e: unknown) => ({error: e}),
          );
          await other;
        },
      },
    });
    expect((await delayed).status).toBe('prepared');
    expect(lockText).toBe('');
    expect(await other).toMatchObject({error: {code: 'LOCKED'}});
    expect(first.log).toEqual(['ecc=0', 'encoder=2', 'hdr=0']);
    expect(second.log).toEqual([]);
  });
});

describe('the journal, and a prepare that died half-way', () => {
  const journalOf = (h: Host, id: string) => path.join(h.root, 'run/vfio-mig', `${id}.journal`);

  it('is written (old and new values) before the first write and removed after success', async () => {
    const h = await host('gpu-b');
    const {io} = scriptedIO(h.sysfs);
    let seen: unknown;
    const spy: ParamIO = {
      read: io.read,
      write: async (rel, text) => {
        seen ??= JSON.parse(await readFile(journalOf(h, GPU_B_8GB_DEV), 'utf8'));
        await io.write(rel, text);
      },
    };
    expect((await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {io: spy})).status).toBe('prepared');
    expect(seen).toMatchObject({
      apiVersion: 'vfio-mig/v1',
      kind: 'PrepareJournal',
      device: GPU_B_8GB_DEV,
      dir: B_DIR,
      scheme: 'v3',
      pid: process.pid,
      steps: [
        {param: 'ecc', from: true, to: false},
        {param: 'encoder', from: 0, to: 2},
        {param: 'hdr', from: true, to: false},
      ],
    });
    expect(prepareJournal(seen)).toBe(true);
    await expect(stat(journalOf(h, GPU_B_8GB_DEV))).rejects.toThrow();
  });

  /** A prepare that stops dead after its 2nd write (the process "dies": no rollback runs). */
  async function interrupted(h: Host): Promise<void> {
    const died = new Error('died');
    await expect(
      prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {
        hooks: {
          written: async (n) => {
            if (n === 2) throw died;
          },
        },
      }),
    ).rejects.toBe(died);
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual({...B_BEFORE, ecc: '0', encoder: '2'});
  }

  it('the next prepare rolls it back first, in reverse order, then prepares', async () => {
    const h = await host('gpu-b');
    await interrupted(h);
    const {io, log} = scriptedIO(h.sysfs);
    const r = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {io});
    expect(r.recovered).toMatchObject({
      pid: process.pid,
      restored: [
        {param: 'encoder', value: 0, ok: true},
        {param: 'ecc', value: true, ok: true},
      ],
    });
    // hdr was never written: not written again by the rollback.
    expect(log).toEqual(['encoder=0', 'ecc=1', 'ecc=0', 'encoder=2', 'hdr=0']);
    expect(r.status).toBe('prepared');
    expect(schemaValid('output_prepare', r)).toBe(true);
    await expect(stat(journalOf(h, GPU_B_8GB_DEV))).rejects.toThrow();
  });

  it('a dry run does not roll back (no lock, no write) but says a prepare was interrupted', async () => {
    const h = await host('gpu-b');
    await interrupted(h);
    const r = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {dryRun: true});
    expect(r).toMatchObject({
      status: 'dry_run',
      interrupted: {journal: journalOf(h, GPU_B_8GB_DEV), pid: process.pid, steps: [{param: 'ecc', from: true, to: false}, {param: 'encoder'}, {param: 'hdr'}]},
    });
    expect(schemaValid('output_prepare', r)).toBe(true);
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual({...B_BEFORE, ecc: '0', encoder: '2'});
  });

  it('recoverInterruptedPrepare (for any command touching the device) rolls it back; then there is nothing to do', async () => {
    const h = await host('gpu-b');
    await interrupted(h);
    const r = await recoverInterruptedPrepare(h.sysfs, GPU_B_8GB_DEV);
    expect(r?.restored.map((e) => e.param)).toEqual(['encoder', 'ecc']);
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual(B_BEFORE);
    await expect(stat(journalOf(h, GPU_B_8GB_DEV))).rejects.toThrow();
    expect(await recoverInterruptedPrepare(h.sysfs, GPU_B_8GB_DEV)).toBeUndefined();
  });

  it('a rollback that fails: exit 5 naming the exact values to restore; the journal is kept for a retry', async () => {
    const h = await host('gpu-b');
    await interrupted(h);
    const {io} = scriptedIO(h.sysfs, {2: 'EIO'});
    const error = await recoverInterruptedPrepare(h.sysfs, GPU_B_8GB_DEV, {io}).catch((e: unknown) => e);
    expect(error).toMatchObject({exitCode: ExitCode.recoveryFailed, code: 'ROLLBACK_FAILED'});
    expect((error as Error).message).toContain(`restore ecc=1 in ${path.join(h.root, B_DIR)}, then remove ${journalOf(h, GPU_B_8GB_DEV)}`);
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual({...B_BEFORE, ecc: '0'});
    // The prepare itself refuses to go on, the same way; a later try succeeds.
    await expect(prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {io: scriptedIO(h.sysfs, {1: 'EIO'}).io})).rejects.toMatchObject({
      exitCode: ExitCode.recoveryFailed,
    });
    expect(await recoverInterruptedPrepare(h.sysfs, GPU_B_8GB_DEV)).toMatchObject({restored: [{param: 'ecc', value: true, ok: true}]});
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual(B_BEFORE);
  });

  it('a journal that is not one is reported (exit 5), not guessed at', async () => {
    const h = await host('gpu-b');
    await mkdir(path.dirname(journalOf(h, GPU_B_8GB_DEV)), {recursive: true});
    await writeFile(journalOf(h, GPU_B_8GB_DEV), '{"apiVersion": "vfio-mig/v1"');
    await expect(recoverInterruptedPrepare(h.sysfs, GPU_B_8GB_DEV)).rejects.toMatchObject({exitCode: 5, code: 'JOURNAL_UNREADABLE'});
    await writeFile(
      journalOf(h, GPU_B_8GB_DEV),
      JSON.stringify({apiVersion: 'vfio-mig/v1', kind: 'PrepareJournal', device: GPU_B_8GB_DEV, dir: mdevMigrationDir(GPU_A_8GB_DEV), scheme: 'v3', pid: 1, started: '2026-12-03T15:00:00.000Z', steps: []}),
    );
    await expect(recoverInterruptedPrepare(h.sysfs, GPU_B_8GB_DEV)).rejects.toMatchObject({exitCode: 5, code: 'JOURNAL_UNREADABLE'});
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual(B_BEFORE);
  });

  it('a failed rollback inside a prepare keeps the journal, and says what to restore', async () => {
    const h = await host('gpu-b');
    const {io} = scriptedIO(h.sysfs, {3: 'EINVAL', 4: 'EIO'});
    const r = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'), {io});
    expect(r).toMatchObject({status: 'rollback_failed', journal: journalOf(h, GPU_B_8GB_DEV)});
    expect(schemaValid('output_prepare', r)).toBe(true);
    expect(prepareError(r)?.message).toContain('restore encoder=0 (EIO) in its migration/ directory');
    const again = await recoverInterruptedPrepare(h.sysfs, GPU_B_8GB_DEV);
    expect(again?.restored).toEqual([{param: 'encoder', value: 0, ok: true}]);
    expect(await migrationValues(h.sysfs, B_DIR)).toEqual(B_BEFORE);
  });
});

describe('writes stay inside <device>/migration/', () => {
  it('the sysfs I/O refuses other attributes and links leading out of migration/', async () => {
    const h = await host('gpu-b');
    const io = sysfsIO(h.sysfs);
    await expect(io.write(`sys/bus/mdev/devices/${GPU_B_8GB_DEV}/remove`, '1')).rejects.toMatchObject({code: 'UNSAFE_PATH'});
    await expect(io.write(`${B_DIR}/../remove`, '1')).rejects.toMatchObject({code: 'UNSAFE_PATH'});
    await symlink('../remove', path.join(h.root, B_DIR, 'evil'));
    await expect(io.write(`${B_DIR}/evil`, '1')).rejects.toMatchObject({code: 'UNSAFE_PATH'});
    await expect(io.write(`${B_DIR}/memory`, '4096')).resolves.toBeUndefined();
  });
});
