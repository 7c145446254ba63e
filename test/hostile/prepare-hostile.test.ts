/**
 * Hostile-input corpus, prepare (issue #12 items 2 and 4): the library never calls an
 * incompatible destination prepared, and prepare never writes outside the device's own
 * `migration/` directory, whatever links the tree holds.
 */
import {mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {ExitCode} from '../../src/lib/errors.js';
import {prepareDevice, prepareError} from '../../src/lib/prepare/index.js';
import {copyHost, fixtureList, GPU_A_4GB_DEV, GPU_B_16GB_DEV, GPU_B_8GB_DEV, mdevMigrationDir, migrationValues} from '../compat/helpers.js';
import {type HostileHost, linkMigrationAttr, linkMigrationDir} from './prepare-tree.js';

let hosts: HostileHost[] = [];
async function host(name: string): Promise<HostileHost> {
  const h = await copyHost(name);
  hosts.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(hosts.map((h) => h.cleanup()));
  hosts = [];
});

describe('#12.2 prepareError never says "prepared" for a destination that was not prepared', () => {
  it('not compatible: an error with exit 1 and the reasons (it was undefined)', async () => {
    const h = await host('gpu-a');
    const r = await prepareDevice(h.sysfs, GPU_A_4GB_DEV, await fixtureList('gpu-a-8GB.json'));
    expect(r.status).toBe('not_compatible');
    const error = prepareError(r);
    expect(error).toMatchObject({exitCode: ExitCode.no, code: 'NOT_COMPATIBLE', details: {device: GPU_A_4GB_DEV, reasons: [{code: 'NOT_ALLOWED', param: 'memory'}]}});
    expect(error?.message).toContain('not compatible');
  });

  it('undefined only for prepared (and a dry run, which says so in its status)', async () => {
    const h = await host('gpu-b');
    const list = await fixtureList('gpu-a-8GB.json');
    const dry = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, list, {dryRun: true});
    expect([dry.status, prepareError(dry)]).toEqual(['dry_run', undefined]);
    const done = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, list);
    expect([done.status, prepareError(done)]).toEqual(['prepared', undefined]);
  });
});

describe('#12.4 writes stay inside the device\'s own migration/ directory', () => {
  const VICTIM = GPU_B_16GB_DEV; // in use (pid 7310)

  it('migration/ linked to another (in-use) device\'s migration/: refused (exit 2), nothing written anywhere', async () => {
    const h = await host('gpu-b');
    const victimBefore = await migrationValues(h.sysfs, mdevMigrationDir(VICTIM));
    await linkMigrationDir(h, GPU_B_8GB_DEV, VICTIM);
    const error = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json')).catch((e: unknown) => e);
    expect(error).toMatchObject({exitCode: ExitCode.input, code: 'UNSAFE_PATH'});
    expect((error as Error).message).toContain(`${VICTIM}/migration`);
    expect(await migrationValues(h.sysfs, mdevMigrationDir(VICTIM))).toEqual(victimBefore);
    // Refused before the journal: nothing for a later command to roll back either.
    await expect(stat(path.join(h.root, 'run/vfio-mig', `${GPU_B_8GB_DEV}.journal`))).rejects.toThrow();
  });

  it('one attribute linked to another device\'s attribute: refused, the victim untouched', async () => {
    const h = await host('gpu-b');
    const victimBefore = await migrationValues(h.sysfs, mdevMigrationDir(VICTIM));
    await linkMigrationAttr(h, GPU_B_8GB_DEV, 'encoder', VICTIM);
    await expect(prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'))).rejects.toMatchObject({code: 'UNSAFE_PATH'});
    expect(await migrationValues(h.sysfs, mdevMigrationDir(VICTIM))).toEqual(victimBefore);
  });

  it('a lock directory linked out of the root: refused (exit 2) before any lock, journal or write', async () => {
    const h = await host('gpu-b');
    const outside = await mkdtemp(path.join(tmpdir(), 'vfio-mig-outside-'));
    try {
      await symlink(outside, path.join(h.root, 'run'));
      const before = await migrationValues(h.sysfs, mdevMigrationDir(GPU_B_8GB_DEV));
      await expect(prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json'))).rejects.toMatchObject({exitCode: ExitCode.input, code: 'LINK_ESCAPE'});
      expect(await readdir(outside)).toEqual([]);
      expect(await migrationValues(h.sysfs, mdevMigrationDir(GPU_B_8GB_DEV))).toEqual(before);
    } finally {
      await rm(outside, {recursive: true, force: true});
    }
  });

  it('a journal holding terminal escapes is refused (exit 5), and no message carries them', async () => {
    const h = await host('gpu-b');
    const file = path.join(h.root, 'run/vfio-mig', `${GPU_B_8GB_DEV}.journal`);
    await mkdir(path.dirname(file), {recursive: true});
    const journal = {apiVersion: 'vfio-mig/v1', kind: 'PrepareJournal', device: GPU_B_8GB_DEV, dir: mdevMigrationDir(GPU_B_8GB_DEV), scheme: 'v3', pid: 1, steps: []};
    for (const bad of [{started: '2026-12-03T15:00:00Z\u001b[2K\rall good'}, {started: '2026-12-03T15:00:00Z', dir: 'x\u001b]0;t\u0007'}]) {
      await writeFile(file, JSON.stringify({...journal, ...bad}));
      const error = await prepareDevice(h.sysfs, GPU_B_8GB_DEV, await fixtureList('gpu-a-8GB.json')).catch((e: unknown) => e);
      expect(error).toMatchObject({exitCode: ExitCode.recoveryFailed, code: 'JOURNAL_UNREADABLE'});
      expect((error as Error).message).not.toMatch(/[\u0000-\u001f\u007f]/);
    }
  });
});
