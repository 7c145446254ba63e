/**
 * Where things are on a host, in one place (as mdevctl's `Environment`): every reader and
 * writer asks this object for a path instead of spelling `sys/bus/...` itself. Paths are
 * relative to the sysfs root (`--sysfs-root`), except the `/dev/vfio/...` names, which are what
 * `/proc/<pid>/fd` links point to on the host and are compared, never opened.
 *
 * Names passed in must already be checked (UUID, BDF, sysfs name, parameter name); this
 * object only joins them.
 */
export class HostLayout {
  /** Parents of mdev types: one directory (or link) per parent device. */
  readonly mdevBus = 'sys/class/mdev_bus';
  readonly mdevDevices = 'sys/bus/mdev/devices';
  readonly pciDevices = 'sys/bus/pci/devices';
  /** The host name file read for inventories and reports. */
  readonly hostnameFile = 'proc/sys/kernel/hostname';
  readonly proc = 'proc';
  /** VFIO's character devices on the host (`<group>`, `devices/vfio<N>`). */
  readonly vfioDevRoot = 'dev/vfio';
  /** The VFIO container of the group interface (CONFIG_VFIO_CONTAINER). */
  readonly vfioContainer = 'dev/vfio/vfio';
  /** The iommufd a device cdev is bound to (CONFIG_IOMMUFD). */
  readonly iommufd = 'dev/iommu';
  /** Loaded kernel modules (`<name>/version`, `<name>/srcversion`). */
  readonly modules = 'sys/module';
  /** The host's own compatibility rule sets (`*.yaml`), as mdevctl keeps `/etc/mdevctl.d`. */
  readonly userRulesDir = 'etc/vfio-mig/rules.d';
  /** Per-device prepare locks (`<id>.lock`). */
  readonly lockDir = 'run/vfio-mig';

  /** An mdev parent device (a link to its real directory). */
  mdevParent(parent: string): string {
    return `${this.mdevBus}/${parent}`;
  }

  /** A module's directory; `-` in a driver name is `_` in its module's. */
  module(name: string): string {
    return `${this.modules}/${name.replace(/-/g, '_')}`;
  }

  typesDir(parent: string): string {
    return `${this.mdevBus}/${parent}/mdev_supported_types`;
  }

  typeDir(parent: string, typeId: string): string {
    return `${this.typesDir(parent)}/${typeId}`;
  }

  /** A type directory's (or a variant-driver device's) RFC metadata. */
  migrationInfo(dir: string): string {
    return `${dir}/migration_info.json`;
  }

  /** A vfio-user (RFC v4) type's or device's model list. */
  deviceModels(dir: string): string {
    return `${dir}/migration_device_models`;
  }

  /** Writing a new UUID here creates an mdev of the type. */
  typeCreate(parent: string, typeId: string): string {
    return `${this.typeDir(parent, typeId)}/create`;
  }

  mdevDevice(uuid: string): string {
    return `${this.mdevDevices}/${uuid}`;
  }

  /** Writing `1` here removes the mdev. */
  mdevRemove(uuid: string): string {
    return `${this.mdevDevice(uuid)}/remove`;
  }

  pciDevice(bdf: string): string {
    return `${this.pciDevices}/${bdf}`;
  }

  /** A device's directory by kind: `sys/bus/mdev/devices/<uuid>` or `sys/bus/pci/devices/<bdf>`. */
  device(kind: 'mdev' | 'pci', id: string): string {
    return kind === 'mdev' ? this.mdevDevice(id) : this.pciDevice(id);
  }

  /** The directory of a device's migration parameters, and one parameter's file. */
  migrationDir(deviceDir: string): string {
    return `${deviceDir}/migration`;
  }

  migrationFile(deviceDir: string, name: string): string {
    return `${this.migrationDir(deviceDir)}/${name}`;
  }

  /** A device's `iommu_group` link (its target's last component is the group number). */
  iommuGroupLink(deviceDir: string): string {
    return `${deviceDir}/iommu_group`;
  }

  /** A device's `vfio-dev/` directory: one `vfio<N>` entry when the kernel offers the cdev. */
  vfioDevDir(deviceDir: string): string {
    return `${deviceDir}/vfio-dev`;
  }

  procFdDir(pid: string): string {
    return `${this.proc}/${pid}/fd`;
  }

  /** The host path a process's fd link shows for an open VFIO group. */
  vfioGroup(group: number): string {
    return `/${this.vfioDevRoot}/${group}`;
  }

  /** The host path a process's fd link shows for an open VFIO device cdev (`vfio3`). */
  vfioCdev(name: string): string {
    return `/${this.vfioDevRoot}/devices/${name}`;
  }

  /** The group node below the root, as opened (`dev/vfio/<group>`). */
  vfioGroupNode(group: number): string {
    return this.vfioGroup(group).slice(1);
  }

  /** The cdev node below the root, as opened (`dev/vfio/devices/vfio<N>`). */
  vfioCdevNode(name: string): string {
    return this.vfioCdev(name).slice(1);
  }

  lockFile(deviceId: string): string {
    return `${this.lockDir}/${deviceId}.lock`;
  }
}

/** The layout every host has; one instance, no state. */
export const layout = new HostLayout();
