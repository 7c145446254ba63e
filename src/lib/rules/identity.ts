/**
 * A device's identity, read from sysfs below one root: the facts rule sets compare when a
 * driver publishes no migration metadata (none in the kernel does). See DeviceIdentity.
 */
import type {DeviceIdentity, IdentityField, NvidiaVgpuType} from '../model/types.js';
import {layout} from '../sysfs/layout.js';
import type {SysfsRoot} from '../sysfs/root.js';

/** Every identity field, in the order people read them (and rule sets list them). */
export const IDENTITY_FIELDS: readonly IdentityField[] = [
  'bus',
  'driver',
  'driver_version',
  'mdev_type',
  'mdev_type_name',
  'device_api',
  'parent_vendor',
  'parent_device',
  'parent_subsystem_vendor',
  'parent_subsystem_device',
  'parent_revision',
  'pci_vendor',
  'pci_device',
  'pci_subsystem_vendor',
  'pci_subsystem_device',
  'pci_revision',
  'vgpu_type',
  'vgpu_type_name',
  'vgpu_driver_version',
];

const PCI_ID_FILES = ['vendor', 'device', 'subsystem_vendor', 'subsystem_device', 'revision'] as const;

async function attr(sysfs: SysfsRoot, rel: string): Promise<string | undefined> {
  const text = await sysfs.readOptional(rel).catch(() => undefined);
  const t = text?.trim();
  return t === undefined || t === '' ? undefined : t;
}

/** A kernel module's version: `version` (MODULE_VERSION), else `srcversion` (every module has one). */
export async function moduleVersion(sysfs: SysfsRoot, module: string): Promise<{version: string; from: 'version' | 'srcversion'} | undefined> {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(module)) return undefined;
  const dir = layout.module(module);
  const version = await attr(sysfs, `${dir}/version`);
  if (version !== undefined) return {version, from: 'version'};
  const src = await attr(sysfs, `${dir}/srcversion`);
  return src === undefined ? undefined : {version: src, from: 'srcversion'};
}

/** The driver bound to a device dir and the module behind it (`driver/module`, else the driver's own name). */
async function driverOf(sysfs: SysfsRoot, dir: string): Promise<{driver?: string; version?: {version: string; from: 'version' | 'srcversion'}}> {
  let driver = await sysfs.linkName(`${dir}/driver`).catch(() => undefined);
  // The driver dir's `module` link names the module (vfio-pci -> vfio_pci); resolved inside the root.
  const driverDir = driver === undefined ? undefined : await sysfs.resolve(`${dir}/driver`).catch(() => undefined);
  let module = driverDir === undefined ? undefined : await sysfs.linkName(`${driverDir}/module`).catch(() => undefined);
  if (driver === undefined) {
    // A virtual mdev parent (mtty) has no driver: the kernel names its types after its class.
    driver = await sysfs.linkName(`${dir}/subsystem`).catch(() => undefined);
    if (driver === 'pci' || driver === 'platform') driver = undefined;
  }
  module ??= driver;
  const version = module === undefined ? undefined : await moduleVersion(sysfs, module);
  return {...(driver === undefined ? {} : {driver}), ...(version === undefined ? {} : {version})};
}

async function pciIds(sysfs: SysfsRoot, dir: string, prefix: 'parent' | 'pci'): Promise<Partial<DeviceIdentity>> {
  const out: Partial<Record<IdentityField, string>> = {};
  const values = await Promise.all(PCI_ID_FILES.map((f) => attr(sysfs, `${dir}/${f}`)));
  PCI_ID_FILES.forEach((f, i) => {
    const v = values[i];
    if (v !== undefined) out[`${prefix}_${f}` as IdentityField] = v.toLowerCase();
  });
  return out as Partial<DeviceIdentity>;
}

/** An mdev parent's share of its types' identity; read once per parent. */
export async function parentIdentity(sysfs: SysfsRoot, parent: string): Promise<Omit<DeviceIdentity, 'bus'>> {
  const dir = layout.mdevParent(parent);
  const [drv, ids] = await Promise.all([driverOf(sysfs, dir), pciIds(sysfs, dir, 'parent')]);
  return {
    ...(drv.driver === undefined ? {} : {driver: drv.driver}),
    ...(drv.version === undefined ? {} : {driver_version: drv.version.version, driver_version_from: drv.version.from}),
    ...ids,
  };
}

/** The identity of a device of an mdev type (every instance of a type shares it). */
export function mdevTypeIdentity(
  parent: Omit<DeviceIdentity, 'bus'>,
  type: {id: string; name?: string; device_api?: string},
): DeviceIdentity {
  return {
    bus: 'mdev',
    ...parent,
    mdev_type: type.id,
    ...(type.name === undefined ? {} : {mdev_type_name: type.name}),
    ...(type.device_api === undefined ? {} : {device_api: type.device_api}),
  };
}

/** A PCI function's identity: its own ids, its (variant) driver, and NVIDIA per-VF vGPU facts. */
export async function pciIdentity(
  sysfs: SysfsRoot,
  dir: string,
  vgpu?: NvidiaVgpuType | null,
): Promise<DeviceIdentity> {
  const [drv, ids] = await Promise.all([driverOf(sysfs, dir), pciIds(sysfs, dir, 'pci')]);
  const identity: DeviceIdentity = {
    bus: 'pci',
    ...(drv.driver === undefined ? {} : {driver: drv.driver}),
    ...(drv.version === undefined ? {} : {driver_version: drv.version.version, driver_version_from: drv.version.from}),
    ...ids,
  };
  if (vgpu !== undefined) {
    if (vgpu !== null) {
      identity.vgpu_type = String(vgpu.id);
      if (vgpu.name !== '') identity.vgpu_type_name = vgpu.name;
    }
    // A srcversion hash has no branch: only a real version string counts here.
    const vfio = await moduleVersion(sysfs, 'nvidia_vgpu_vfio');
    const host = vfio?.from === 'version' ? vfio : await moduleVersion(sysfs, 'nvidia');
    if (host?.from === 'version') identity.vgpu_driver_version = host.version;
  }
  return identity;
}
