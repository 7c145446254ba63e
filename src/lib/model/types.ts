/**
 * The data model shared by enumeration, inventories, compatibility and preparation.
 * Field names here are the names in every JSON/YAML output and file format (schemas/).
 */

export type ParamType = 'bool' | 'int' | 'str';
export type ParamValue = boolean | number | string;

/** One `allowed_values` entry: a plain value, or for `int` a `"<min>-<max>"` range string. */
export type AllowedValue = ParamValue;

/** A migration parameter as `migration_info.json` (RFC v3) declares it. */
export interface ParamSpec {
  type: ParamType;
  init_value: ParamValue;
  /** Absent when the parameter cannot be disabled. */
  off_value?: ParamValue;
  allowed_values?: AllowedValue[];
  description?: string;
}

/** The contents of `migration_info.json`: v3 parameters or v4 (vfio-user) version lists. */
export interface MigrationInfoFile {
  models: Record<string, {params?: Record<string, ParamSpec>; versions?: string[]}>;
}

/** What a type (or a non-mdev device) says about migration. */
export type TypeMigration =
  | {scheme: 'v3'; model: string; params: Record<string, ParamSpec>}
  | {scheme: 'v4'; models: {model: string; versions: string[]}[]};

/**
 * What the kernel says a device (or a type's would-be device) is, read from sysfs: the facts
 * rule sets compare when no vendor metadata exists. Every field is a string as sysfs shows it
 * (`0x10de`, `550.54.14`); an absent field is unknown or does not apply (an mdev has no PCI
 * ids of its own; mtty's parent is a virtual device with no PCI ids at all).
 */
export interface DeviceIdentity {
  bus: 'mdev' | 'pci';
  /** mdev: the parent's driver (or its class for a virtual parent, as the kernel names types); PCI: the bound (variant) driver. */
  driver?: string;
  /** `sys/module/<module>/version`, else its `srcversion`. */
  driver_version?: string;
  driver_version_from?: 'version' | 'srcversion';
  mdev_type?: string;
  mdev_type_name?: string;
  device_api?: string;
  parent_vendor?: string;
  parent_device?: string;
  parent_subsystem_vendor?: string;
  parent_subsystem_device?: string;
  parent_revision?: string;
  pci_vendor?: string;
  pci_device?: string;
  pci_subsystem_vendor?: string;
  pci_subsystem_device?: string;
  pci_revision?: string;
  /** NVIDIA per-VF vGPU: `nvidia/current_vgpu_type` and its name from `creatable_vgpu_types`. */
  vgpu_type?: string;
  vgpu_type_name?: string;
  /** `sys/module/nvidia_vgpu_vfio/version` (what KubeVirt labels nodes with), else `nvidia`'s. */
  vgpu_driver_version?: string;
}

export type IdentityField = Exclude<keyof DeviceIdentity, 'driver_version_from'>;

/** An mdev type under a parent's `mdev_supported_types/`. */
export interface MdevType {
  /** The type directory name, e.g. `nvidia-35` or `vgfx-4GB`. */
  id: string;
  parent: string;
  name?: string;
  description?: string;
  device_api?: string;
  available_instances?: number;
  migration: TypeMigration | null;
  /** Why migration metadata could not be used (bad vendor data), one line each. */
  problems: string[];
  /** The identity a device of this type has (absent in inventories of format v1). */
  identity?: DeviceIdentity;
}

/** A device's current migration settings as read from `<device>/migration/`. */
export type DeviceMigration =
  | {scheme: 'v3'; model: string; values: Record<string, ParamValue>}
  | {scheme: 'v4'; model: string; version: string};

/** Who holds the device's VFIO group or cdev open (found through proc/<pid>/fd). */
export interface DeviceUse {
  pids: number[];
}

export interface MdevDevice {
  kind: 'mdev';
  uuid: string;
  parent: string;
  type_id: string;
  iommu_group?: number;
  /** `vfioN` when the kernel offers the cdev interface (`vfio-dev/vfioN`, VFIO_DEVICE_CDEV). */
  vfio_dev?: string;
  driver?: string;
  migration: DeviceMigration | null;
  in_use: DeviceUse | null;
  problems: string[];
  /** Absent in inventories of format v1. */
  identity?: DeviceIdentity;
}

/** A vGPU type line of NVIDIA's per-VF `creatable_vgpu_types`. */
export interface NvidiaVgpuType {
  id: number;
  name: string;
}

export interface PciVfioDevice {
  kind: 'pci';
  bdf: string;
  driver: string;
  vendor_id?: string;
  device_id?: string;
  /** The PF's BDF when this is an SR-IOV VF. */
  physfn?: string;
  iommu_group?: number;
  /** `vfioN` when the kernel offers the cdev interface (`vfio-dev/vfioN`, 6.2+). */
  vfio_dev?: string;
  /** Metadata of a variant driver that follows the RFC on the device itself. */
  type_migration: TypeMigration | null;
  migration: DeviceMigration | null;
  /** NVIDIA vGPU 17+ per-VF sysfs (`nvidia/`). */
  nvidia?: {creatable_vgpu_types: NvidiaVgpuType[]; current_vgpu_type: NvidiaVgpuType | null};
  in_use: DeviceUse | null;
  problems: string[];
  /** Absent in inventories of format v1. */
  identity?: DeviceIdentity;
}

export type VfioDevice = MdevDevice | PciVfioDevice;

/** A host snapshot: what `inventory` writes and `compat`/`select` read (schemas/inventory). */
/**
 * Document format versions: v2 adds device identities (and parameter lists of devices with no
 * vendor metadata, `scheme: none`); v1 files still read.
 */
export type DocumentApiVersion = 'vfio-mig/v1' | 'vfio-mig/v2';
export const DOCUMENT_API_VERSION = 'vfio-mig/v2';

export interface Inventory {
  apiVersion: DocumentApiVersion;
  kind: 'Inventory';
  host: string;
  taken_at: string;
  types: MdevType[];
  devices: VfioDevice[];
}

/**
 * Inventory format v3, what `inventory` writes: each distinct type metadata once in
 * `metadata`, named by a digest of its content; types and variant-driver PCI devices name
 * their block (null: no metadata). Readers resolve it into an `Inventory` (format v2 layout,
 * types of equal metadata sharing one object). Hosts of one model publish identical metadata
 * for every type, so this is a fraction of the size and is validated once per block.
 */
export const INVENTORY_API_VERSION = 'vfio-mig/v3';

export interface InventoryDocument {
  apiVersion: typeof INVENTORY_API_VERSION;
  kind: 'Inventory';
  host: string;
  taken_at: string;
  metadata: Record<string, TypeMigration>;
  types: (Omit<MdevType, 'migration'> & {migration: string | null})[];
  devices: (MdevDevice | (Omit<PciVfioDevice, 'type_migration'> & {type_migration: string | null}))[];
}

/** Where a parameter list came from. */
export interface ParamListSource {
  host: string;
  device: string;
  type?: string;
  parent?: string;
}

/** The migration parameter list exchanged between hosts (schemas/param-list). */
export type ParamList =
  | {
      apiVersion: DocumentApiVersion;
      kind: 'ParamList';
      scheme: 'v3';
      model: string;
      params: Record<string, ParamValue>;
      source: ParamListSource;
      identity?: DeviceIdentity;
    }
  | {
      apiVersion: DocumentApiVersion;
      kind: 'ParamList';
      scheme: 'v4';
      model: string;
      version: string;
      source: ParamListSource;
      identity?: DeviceIdentity;
    }
  | {
      /** A device with no vendor metadata: rule sets decide on its identity (v2 only). */
      apiVersion: 'vfio-mig/v2';
      kind: 'ParamList';
      scheme: 'none';
      /** No model: absent, so code reading `list.model` sees undefined. */
      model?: never;
      source: ParamListSource;
      identity: DeviceIdentity;
    };

/** A parameter list that carries vendor metadata (RFC v3 parameters or v4 version). */
export type MetadataParamList = Exclude<ParamList, {scheme: 'none'}>;
