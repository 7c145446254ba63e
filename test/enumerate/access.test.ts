/**
 * How a device is opened (enumerate/access.ts): the group and container, or the VFIO device
 * cdev and iommufd; the choice, the paths handed to the engine, and the one-line errors that
 * name the missing node and kernel option. And in-use detection through either node.
 * Trees: fixtures/hosts/mtty (Debian's kernels: groups only) and
 * test/fixtures/hosts/mtty-cdev (a VFIO_GROUP=n kernel: vfio-dev/vfioN, /dev/iommu, no groups).
 */
import {readFileSync} from 'node:fs';
import {cp, mkdir, mkdtemp, rm, symlink, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {deviceInterfaces, NoDeviceInterfaceError, resolveDeviceAccess} from '../../src/lib/enumerate/access.js';
import {readDevice, readDevices} from '../../src/lib/enumerate/index.js';
import {ExitCode} from '../../src/lib/errors.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {fixtureHost, parseEnvelope, repoRoot, runCli} from '../helpers/cli.js';

const CDEV_HOST = path.join(repoRoot, 'test/fixtures/hosts/mtty-cdev');
// mtty: A (mtty-2) held by pid 8120, B (mtty-2) and C (mtty-1) free; groups 0/1/2 or cdevs vfio0/1/2.
const A = '1e4c93a6-6a3f-4b8e-9c2d-5f7a8b9c0d1e';
const B = '2b5da4b7-7b40-4c9f-8d3e-6a8b9cad1e2f';
const MDEV_DIR = 'sys/devices/virtual/mtty/mtty';

const copies: string[] = [];
async function copyOf(src: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'vfio-mig-access-'));
  copies.push(dir);
  await cp(src, dir, {recursive: true, verbatimSymlinks: true});
  return dir;
}
afterAll(async () => {
  for (const d of copies) await rm(d, {recursive: true, force: true});
});

async function failure(p: Promise<unknown>): Promise<NoDeviceInterfaceError> {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(NoDeviceInterfaceError);
  const e = error as NoDeviceInterfaceError;
  expect(e.exitCode).toBe(ExitCode.runtime);
  expect(e.code).toBe('NO_DEVICE_INTERFACE');
  expect(e.message).not.toContain('\n');
  return e;
}

describe('which way a device is opened', () => {
  it("Debian's kernels (group only): auto opens the group, with the container; the paths are the root's", async () => {
    const sysfs = new SysfsRoot(fixtureHost('mtty'));
    const access = await resolveDeviceAccess(sysfs, B.toUpperCase());
    expect(access).toEqual({
      device: B,
      interface: 'group',
      paths: {group_path: `${sysfs.root}/dev/vfio/1`, container_path: `${sysfs.root}/dev/vfio/vfio`},
      interfaces: {iommu_group: 1, vfio_dev: null, offered: ['group'], auto: 'group'},
    });
  });

  it('a cdev-only kernel (VFIO_GROUP=n): auto opens vfio-dev/vfioN with /dev/iommu', async () => {
    const sysfs = new SysfsRoot(CDEV_HOST);
    const access = await resolveDeviceAccess(sysfs, B, 'auto');
    expect(access).toEqual({
      device: B,
      interface: 'cdev',
      paths: {cdev_path: `${sysfs.root}/dev/vfio/devices/vfio1`, iommufd_path: `${sysfs.root}/dev/iommu`},
      interfaces: {iommu_group: null, vfio_dev: 'vfio1', offered: ['cdev'], auto: 'cdev'},
    });
  });

  it('both offered (IOMMUFD, VFIO_DEVICE_CDEV and VFIO_GROUP): auto takes the group, the flag forces the cdev', async () => {
    const root = await copyOf(CDEV_HOST);
    await mkdir(path.join(root, 'sys/kernel/iommu_groups/1'), {recursive: true});
    await symlink('../../../../../kernel/iommu_groups/1', path.join(root, MDEV_DIR, B, 'iommu_group'));
    await writeFile(path.join(root, 'dev/vfio/1'), '');
    await writeFile(path.join(root, 'dev/vfio/vfio'), '');
    const sysfs = new SysfsRoot(root);
    expect(await deviceInterfaces(sysfs, B)).toEqual({iommu_group: 1, vfio_dev: 'vfio1', offered: ['group', 'cdev'], auto: 'group'});
    expect((await resolveDeviceAccess(sysfs, B)).paths).toEqual({group_path: `${root}/dev/vfio/1`, container_path: `${root}/dev/vfio/vfio`});
    expect((await resolveDeviceAccess(sysfs, B, 'group')).interface).toBe('group');
    expect((await resolveDeviceAccess(sysfs, B, 'cdev')).paths).toEqual({cdev_path: `${root}/dev/vfio/devices/vfio1`, iommufd_path: `${root}/dev/iommu`});
  });

  it('an IOMMU group without its /dev/vfio node (a PCI device on a VFIO_GROUP=n kernel): auto takes the cdev', async () => {
    const root = await copyOf(CDEV_HOST);
    await mkdir(path.join(root, 'sys/kernel/iommu_groups/1'), {recursive: true});
    await symlink('../../../../../kernel/iommu_groups/1', path.join(root, MDEV_DIR, B, 'iommu_group'));
    const sysfs = new SysfsRoot(root);
    expect(await deviceInterfaces(sysfs, B)).toEqual({iommu_group: 1, vfio_dev: 'vfio1', offered: ['cdev'], auto: 'cdev'});
    expect((await resolveDeviceAccess(sysfs, B)).interface).toBe('cdev');
    expect((await failure(resolveDeviceAccess(sysfs, B, 'group'))).message).toBe(
      `${B}: ${root}/dev/vfio/1 is missing: no VFIO group interface (kernel option VFIO_GROUP), or the device is not bound to a VFIO driver`,
    );
  });
});

describe('a way that is not there: one line naming the node and the kernel option, exit 3', () => {
  it('--device-interface group on a cdev-only kernel: VFIO_GROUP', async () => {
    const sysfs = new SysfsRoot(CDEV_HOST);
    expect((await failure(resolveDeviceAccess(sysfs, B, 'group'))).message).toBe(
      `${B}: ${CDEV_HOST}/sys/bus/mdev/devices/${B}/iommu_group is missing: no VFIO group interface (kernel option VFIO_GROUP); try --device-interface cdev`,
    );
  });

  it("--device-interface cdev on Debian's kernels: VFIO_DEVICE_CDEV", async () => {
    const root = fixtureHost('mtty');
    expect((await failure(resolveDeviceAccess(new SysfsRoot(root), B, 'cdev'))).message).toBe(
      `${B}: ${root}/sys/bus/mdev/devices/${B}/vfio-dev has no vfio<N>: no VFIO device cdev (kernel option VFIO_DEVICE_CDEV)`,
    );
  });

  it('no /dev/iommu: IOMMUFD; no cdev node: devtmpfs', async () => {
    const root = await copyOf(CDEV_HOST);
    await rm(path.join(root, 'dev/iommu'));
    expect((await failure(resolveDeviceAccess(new SysfsRoot(root), B))).message).toBe(`${B}: ${root}/dev/iommu is missing: no iommufd (kernel option IOMMUFD)`);
    await rm(path.join(root, 'dev/vfio/devices/vfio1'));
    expect((await failure(resolveDeviceAccess(new SysfsRoot(root), B))).message).toBe(
      `${B}: ${root}/dev/vfio/devices/vfio1 is missing though sysfs has vfio1: is devtmpfs mounted on ${root}/dev?`,
    );
  });

  it('no /dev/vfio/vfio: VFIO_CONTAINER', async () => {
    const root = await copyOf(fixtureHost('mtty'));
    await rm(path.join(root, 'dev/vfio/vfio'));
    expect((await failure(resolveDeviceAccess(new SysfsRoot(root), B))).message).toBe(`${B}: ${root}/dev/vfio/vfio is missing: no VFIO container (kernel option VFIO_CONTAINER)`);
  });

  it('neither way: both nodes and both options named', async () => {
    const root = await copyOf(fixtureHost('mtty'));
    await rm(path.join(root, 'dev/vfio/1'));
    expect((await failure(resolveDeviceAccess(new SysfsRoot(root), B))).message).toBe(
      `${B}: neither a VFIO group node nor a device cdev: ${root}/sys/bus/mdev/devices/${B}/iommu_group points to group 1 but ${root}/dev/vfio/1 is missing ` +
        `(kernel option VFIO_GROUP, or the device is not bound to a VFIO driver) and ${root}/sys/bus/mdev/devices/${B}/vfio-dev is missing (kernel option VFIO_DEVICE_CDEV)`,
    );
  });

  it('an unknown device is still bad input (exit 2), before any interface is looked at', async () => {
    const error = await resolveDeviceAccess(new SysfsRoot(CDEV_HOST), '00000000-0000-0000-0000-000000000000').catch((e: unknown) => e);
    expect(error).toMatchObject({exitCode: ExitCode.input, code: 'NO_DEVICE'});
  });
});

describe('in use: who holds the group node or the cdev (from /proc)', () => {
  it('a cdev-only host: the device whose vfio-dev cdev a process holds is in use; mdevs report vfio_dev', async () => {
    const devices = await readDevices(new SysfsRoot(CDEV_HOST));
    const byId = new Map(devices.map((d) => [d.kind === 'mdev' ? d.uuid : d.bdf, d]));
    expect(byId.get(A)).toMatchObject({vfio_dev: 'vfio0', in_use: {pids: [8120]}, problems: []});
    expect(byId.get(A)?.iommu_group).toBeUndefined();
    expect(byId.get(B)).toMatchObject({vfio_dev: 'vfio1', in_use: null});
  });

  it('a device offering both: held through either node, it is in use', async () => {
    const root = await copyOf(CDEV_HOST);
    await mkdir(path.join(root, 'sys/kernel/iommu_groups/1'), {recursive: true});
    await symlink('../../../../../kernel/iommu_groups/1', path.join(root, MDEV_DIR, B, 'iommu_group'));
    await writeFile(path.join(root, 'dev/vfio/1'), '');
    await mkdir(path.join(root, 'proc/9000/fd'), {recursive: true});
    await symlink('/dev/vfio/1', path.join(root, 'proc/9000/fd/5'));
    await mkdir(path.join(root, 'proc/9001/fd'), {recursive: true});
    await symlink('/dev/vfio/devices/vfio1', path.join(root, 'proc/9001/fd/7'));
    expect((await readDevice(new SysfsRoot(root), B)).in_use).toEqual({pids: [9000, 9001]});
  });

  it('no VFIO node on the host: no /proc scan at all', async () => {
    const root = await copyOf(CDEV_HOST);
    await rm(path.join(root, 'dev/vfio'), {recursive: true});
    const sysfs = new SysfsRoot(root);
    const device = await readDevice(sysfs, A);
    expect(device.in_use).toBeNull();
    // No process directory was listed (a scan lists proc/ and each proc/<pid>/fd).
    expect(sysfs.dirReads).toBeLessThan(10);
  });
});

describe('the CLI', () => {
  it('show reports the vfio-dev cdev and which ways the device offers (schema-checked --json)', () => {
    const run = runCli(['show', A, '--sysfs-root', CDEV_HOST, '--json']);
    expect(run.code).toBe(0);
    const env = parseEnvelope(run, 'show');
    expect(env.result.interfaces).toEqual({iommu_group: null, vfio_dev: 'vfio0', offered: ['cdev'], auto: 'cdev'});
    const human = runCli(['show', A, '--sysfs-root', CDEV_HOST]);
    expect(human.stdout).toMatch(/^vfio_dev: +vfio0$/m);
    expect(human.stdout).toMatch(/^opens through: cdev \(auto: cdev\)$/m);
    expect(human.stdout).toMatch(/^in use: +yes, by pid 8120$/m);
  });

  it('migrate caps --device-interface group on a cdev-only host: exit 3, one line naming the node and VFIO_GROUP', () => {
    const run = runCli(['migrate', 'caps', B, '--device-interface', 'group', '--sysfs-root', CDEV_HOST]);
    expect(run.code).toBe(3);
    expect(run.stderr).toBe(
      `vfio-mig: ${B}: ${CDEV_HOST}/sys/bus/mdev/devices/${B}/iommu_group is missing: no VFIO group interface (kernel option VFIO_GROUP); try --device-interface cdev\n`,
    );
  });

  it('every command that opens a device takes --device-interface auto|group|cdev', () => {
    const bad = runCli(['migrate', 'state', B, '--device-interface', 'iommufd', '--sysfs-root', CDEV_HOST]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Expected --device-interface=iommufd to be one of: auto, group, cdev/);
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {flags: Record<string, {options?: string[]; default?: string}>}>};
    for (const id of ['migrate:caps', 'migrate:save', 'migrate:load', 'migrate:run', 'migrate:state', 'probe']) {
      expect(manifest.commands[id]?.flags['device-interface']).toMatchObject({options: ['auto', 'group', 'cdev'], default: 'auto'});
    }
  });
});

describe('a device held by another process is refused before the engine opens it (exit 3, who holds it)', () => {
  it.each([
    ['cdev', CDEV_HOST, '/dev/vfio/devices/vfio0'],
    ['group', fixtureHost('mtty'), '/dev/vfio/0'],
  ])('%s', async (_way, root, node) => {
    const error = await resolveDeviceAccess(new SysfsRoot(root), A).catch((e: unknown) => e);
    expect(error).toMatchObject({exitCode: ExitCode.runtime, code: 'DEVICE_IN_USE', message: `${A}: in use: ${node} is held by pid 8120`});
  });
});
