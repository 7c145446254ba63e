/**
 * How a device is opened: through its IOMMU group and a VFIO container (every kernel with
 * VFIO_GROUP) or through its VFIO device cdev bound to an iommufd (6.6+ with
 * VFIO_DEVICE_CDEV and IOMMUFD; the only way in when VFIO_GROUP=n). The policy lives here;
 * the engine opens the resolved paths it is given. Paths come from the host layout.
 */
import {RuntimeFailure} from '../errors.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {normalizeDeviceId, readVfioUsers, requireDevice, vfioIds} from './index.js';

export const DEVICE_INTERFACES = ['group', 'cdev'] as const;
export type DeviceInterface = (typeof DEVICE_INTERFACES)[number];
export const DEVICE_INTERFACE_CHOICES = ['auto', ...DEVICE_INTERFACES] as const;
export type DeviceInterfaceChoice = (typeof DEVICE_INTERFACE_CHOICES)[number];

/** What a device offers on this host: a group node to open, a cdev the kernel created. */
export interface DeviceInterfaces {
  iommu_group: number | null;
  vfio_dev: string | null;
  /** `group`: `/dev/vfio/<group>` exists; `cdev`: sysfs has `vfio-dev/vfio<N>`. */
  offered: DeviceInterface[];
  /** What `--device-interface auto` opens: the group when offered, else the cdev. */
  auto: DeviceInterface | null;
}

/** The engine's `open` arguments: absolute paths, resolved here. */
export type OpenPaths = {group_path: string; container_path: string} | {cdev_path: string; iommufd_path: string};

export interface DeviceAccess {
  device: string;
  interface: DeviceInterface;
  paths: OpenPaths;
  interfaces: DeviceInterfaces;
}

/** The host cannot open the device the way asked: names the node and the kernel option (exit 3). */
export class NoDeviceInterfaceError extends RuntimeFailure {
  constructor(message: string, details: Record<string, unknown>) {
    super(message, 'NO_DEVICE_INTERFACE', details);
  }
}

/**
 * Another process holding the node: the kernel would refuse the open (EBUSY on a group, EINVAL
 * from VFIO_DEVICE_BIND_IOMMUFD on a cdev, which says nothing); say who holds it instead.
 */
async function refuseHeld(sysfs: SysfsRoot, id: string, hostNode: string): Promise<void> {
  const pids = (await readVfioUsers(sysfs, [hostNode])).get(hostNode);
  if (pids?.length) {
    throw new RuntimeFailure(`${id}: in use: ${hostNode} is held by pid ${pids.join(', ')}`, 'DEVICE_IN_USE', {device: id, node: hostNode, pids});
  }
}

export async function deviceInterfaces(sysfs: SysfsRoot, device: string): Promise<DeviceInterfaces> {
  const parsed = normalizeDeviceId(device);
  if (!parsed) throw new Error(`deviceInterfaces: ${device} is not a checked device id`);
  const ids = await vfioIds(sysfs, sysfs.layout.device(parsed.kind, parsed.id));
  const offered: DeviceInterface[] = [];
  if (ids.group !== undefined && (await sysfs.exists(sysfs.layout.vfioGroupNode(ids.group)))) offered.push('group');
  if (ids.vfioDev !== undefined) offered.push('cdev');
  return {iommu_group: ids.group ?? null, vfio_dev: ids.vfioDev ?? null, offered, auto: offered[0] ?? null};
}

/**
 * The paths to open `device` through `choice`, each checked to exist: a missing one is
 * reported with the kernel option that provides it, before any engine is started.
 */
export async function resolveDeviceAccess(sysfs: SysfsRoot, device: string, choice: DeviceInterfaceChoice = 'auto'): Promise<DeviceAccess> {
  const id = await requireDevice(sysfs, device);
  const ifs = await deviceInterfaces(sysfs, id);
  const L = sysfs.layout;
  const dir = L.device(normalizeDeviceId(id)!.kind, id);
  const fail = (message: string, node: string): never => {
    throw new NoDeviceInterfaceError(`${id}: ${message}`, {device: id, interface: choice, node});
  };
  const want = choice === 'auto' ? ifs.auto : choice;
  if (want === null) {
    fail(
      `neither a VFIO group node nor a device cdev: ${sysfs.pathOf(L.iommuGroupLink(dir))}${ifs.iommu_group === null ? ' is missing' : ` points to group ${ifs.iommu_group} but ${sysfs.pathOf(L.vfioGroupNode(ifs.iommu_group))} is missing`} (kernel option VFIO_GROUP, or the device is not bound to a VFIO driver) and ${sysfs.pathOf(L.vfioDevDir(dir))} is missing (kernel option VFIO_DEVICE_CDEV)`,
      sysfs.pathOf(L.vfioDevDir(dir)),
    );
  }
  if (want === 'group') {
    if (ifs.iommu_group === null) {
      fail(`${sysfs.pathOf(L.iommuGroupLink(dir))} is missing: no VFIO group interface (kernel option VFIO_GROUP); try --device-interface cdev`, sysfs.pathOf(L.iommuGroupLink(dir)));
    }
    const group = L.vfioGroupNode(ifs.iommu_group!);
    if (!ifs.offered.includes('group')) {
      fail(`${sysfs.pathOf(group)} is missing: no VFIO group interface (kernel option VFIO_GROUP), or the device is not bound to a VFIO driver`, sysfs.pathOf(group));
    }
    if (!(await sysfs.exists(L.vfioContainer))) {
      fail(`${sysfs.pathOf(L.vfioContainer)} is missing: no VFIO container (kernel option VFIO_CONTAINER)`, sysfs.pathOf(L.vfioContainer));
    }
    await refuseHeld(sysfs, id, L.vfioGroup(ifs.iommu_group!));
    return {device: id, interface: 'group', paths: {group_path: sysfs.pathOf(group), container_path: sysfs.pathOf(L.vfioContainer)}, interfaces: ifs};
  }
  if (ifs.vfio_dev === null) {
    fail(`${sysfs.pathOf(L.vfioDevDir(dir))} has no vfio<N>: no VFIO device cdev (kernel option VFIO_DEVICE_CDEV)`, sysfs.pathOf(L.vfioDevDir(dir)));
  }
  const cdev = L.vfioCdevNode(ifs.vfio_dev!);
  if (!(await sysfs.exists(cdev))) {
    fail(`${sysfs.pathOf(cdev)} is missing though sysfs has ${ifs.vfio_dev}: is devtmpfs mounted on ${sysfs.pathOf('dev')}?`, sysfs.pathOf(cdev));
  }
  if (!(await sysfs.exists(L.iommufd))) {
    fail(`${sysfs.pathOf(L.iommufd)} is missing: no iommufd (kernel option IOMMUFD)`, sysfs.pathOf(L.iommufd));
  }
  await refuseHeld(sysfs, id, L.vfioCdev(ifs.vfio_dev!));
  return {device: id, interface: 'cdev', paths: {cdev_path: sysfs.pathOf(cdev), iommufd_path: sysfs.pathOf(L.iommufd)}, interfaces: ifs};
}
