import {mkdir, mkdtemp, readFile, symlink, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {InputError} from '../../src/lib/errors.js';
import {SysfsRoot, SysfsWriteError} from '../../src/lib/sysfs/root.js';
import {fixtureHost, runCli} from '../helpers/cli.js';

/** A tree with every hostile thing a vendor or an attacker can put in sysfs. */
async function hostileTree(): Promise<string> {
  const root = await mkdtemp(path.join(tmpdir(), 'vfio-mig-hostile-'));
  const outside = await mkdtemp(path.join(tmpdir(), 'vfio-mig-outside-'));
  await writeFile(path.join(outside, 'secret'), 'do not read\n');
  const typeDir = path.join(root, 'sys/devices/p0/mdev_supported_types');
  await mkdir(path.join(typeDir, 'big'), {recursive: true});
  await mkdir(path.join(typeDir, 'latin1'), {recursive: true});
  await mkdir(path.join(typeDir, 'escape'), {recursive: true});
  await mkdir(path.join(typeDir, 'absolute'), {recursive: true});
  await mkdir(path.join(root, 'sys/class/mdev_bus'), {recursive: true});
  await symlink('../../devices/p0', path.join(root, 'sys/class/mdev_bus/p0'));
  await writeFile(path.join(typeDir, 'big/migration_info.json'), Buffer.alloc(10 * 1024 * 1024, 0x20));
  await writeFile(path.join(typeDir, 'big/name'), 'Big\n');
  await writeFile(path.join(typeDir, 'latin1/name'), Buffer.from([0x47, 0x50, 0xd5, 0x0a]));
  await symlink(path.relative(path.join(typeDir, 'escape'), path.join(outside, 'secret')), path.join(typeDir, 'escape/migration_info.json'));
  await symlink('/etc/hostname', path.join(typeDir, 'absolute/description'));
  return root;
}

describe('SysfsRoot', () => {
  let root: string;
  let sysfs: SysfsRoot;
  beforeAll(async () => {
    root = await hostileTree();
    sysfs = new SysfsRoot(root);
  });

  it('follows the kernel-style links inside the root', async () => {
    const gpu = new SysfsRoot(fixtureHost('gpu-a'));
    const entries = await gpu.list('sys/class/mdev_bus/0000:65:00.0/mdev_supported_types');
    expect(entries.map((e) => e.name)).toEqual(['vgfx-4GB', 'vgfx-8GB']);
    expect(await gpu.readText('sys/class/mdev_bus/0000:65:00.0/mdev_supported_types/vgfx-4GB/name')).toBe('VGFX 4GB');
    expect(await gpu.linkName('sys/bus/mdev/devices/50042111-191b-421a-9586-d94555853d83/iommu_group')).toBe('41');
  });

  it('refuses a link that leaves the root, naming the path', async () => {
    await expect(sysfs.readText('sys/class/mdev_bus/p0/mdev_supported_types/escape/migration_info.json')).rejects.toThrow(
      /escape\/migration_info\.json: links out of the sysfs root to .*secret; refusing to follow/,
    );
    await expect(sysfs.readText('sys/class/mdev_bus/p0/mdev_supported_types/absolute/description')).rejects.toThrow(
      /links out of the sysfs root/,
    );
  });

  it('caps attribute size', async () => {
    const error = await sysfs.readText('sys/class/mdev_bus/p0/mdev_supported_types/big/migration_info.json').catch((e) => e);
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toMatch(/big\/migration_info\.json: larger than 65536 bytes; not a sysfs attribute/);
  });

  it('refuses text that is not UTF-8', async () => {
    await expect(sysfs.readText('sys/class/mdev_bus/p0/mdev_supported_types/latin1/name')).rejects.toThrow(/latin1\/name: not UTF-8 text/);
  });

  it('refuses `..` in a relative path before touching the filesystem', () => {
    expect(() => sysfs.pathOf('../../etc/passwd')).toThrow(/path leaves the sysfs root/);
  });

  it('names the missing path', async () => {
    await expect(sysfs.readText('sys/nothing/here')).rejects.toThrow(/sys\/nothing\/here: does not exist/);
    expect(await sysfs.readOptional('sys/nothing/here')).toBeUndefined();
  });

  it('writes a value in one write, replacing the old one', async () => {
    const file = path.join(root, 'sys/devices/p0/attr');
    await writeFile(file, '8192\n');
    await sysfs.writeText('sys/devices/p0/attr', '16');
    expect(await readFile(file, 'utf8')).toBe('16');
    await expect(sysfs.writeText('sys/devices/p0/missing', '1')).rejects.toThrow(/p0\/missing: does not exist/);
    // A directory cannot be opened for writing: the refusal carries the errno.
    const error = await sysfs.writeText('sys/devices/p0', '1').catch((e) => e);
    expect(error).toBeInstanceOf(SysfsWriteError);
    expect(error.errnoName).toBe('EISDIR');
  });

  it('the CLI lists a hostile tree with a one-line problem per type and no stack trace', () => {
    const run = runCli(['types', '--sysfs-root', root]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/type:\s+big[\s\S]*problem: .*larger than 65536 bytes/);
    expect(run.stdout).toMatch(/type:\s+escape[\s\S]*problem: .*links out of the sysfs root/);
    expect(run.stdout).toMatch(/type:\s+latin1[\s\S]*problem: .*not UTF-8 text/);
    expect(run.stdout + run.stderr).not.toMatch(/\n\s+at /);
    const validate = runCli(['validate', '--sysfs-root', root]);
    expect(validate.code).toBe(1);
    expect(validate.stdout).toMatch(/big\/migration_info\.json: .*larger than 65536 bytes/);
  });

  it('a missing root is a usage error (exit 2) naming the root', () => {
    const run = runCli(['types', '--sysfs-root', '/nonexistent/root']);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('vfio-mig: sysfs root /nonexistent/root: does not exist; pass --sysfs-root DIR\n');
  });
});
