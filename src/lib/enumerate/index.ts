import {hostname} from 'node:os';
import path from 'node:path';

import {InputError} from '../errors.js';
import {parseDeviceModels, parseMigrationInfo, typeMigrationFromInfo} from '../model/metadata.js';
import {isSafeParamName, parseSysfsValue, setOwn, withArticle} from '../model/params.js';
import {DOCUMENT_API_VERSION} from '../model/types.js';
import type {
  DeviceMigration,
  DeviceUse,
  Inventory,
  MdevDevice,
  MdevType,
  NvidiaVgpuType,
  ParamValue,
  PciVfioDevice,
  TypeMigration,
  VfioDevice,
} from '../model/types.js';
import {mdevTypeIdentity, parentIdentity, pciIdentity} from '../rules/identity.js';
import type {Problem} from '../schema/index.js';
import {layout} from '../sysfs/layout.js';
import {SysfsRoot} from '../sysfs/root.js';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const BDF = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
/** Type ids and parent names as sysfs names them (`nvidia-35`, `0000:65:00.0`, `mtty`). */
const SYSFS_NAME = /^[A-Za-z0-9_.:+-]{1,255}$/;

const {mdevDevices: MDEV_DEVICES, pciDevices: PCI_DEVICES} = layout;

/** Device identifiers as users type them: UUIDs in any case, BDFs with or without domain. */
export function normalizeDeviceId(id: string): {kind: 'mdev' | 'pci'; id: string} | undefined {
  const lower = id.trim().toLowerCase();
  if (UUID.test(lower)) return {kind: 'mdev', id: lower};
  const bdf = /^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(lower) ? `0000:${lower}` : lower;
  if (BDF.test(bdf)) return {kind: 'pci', id: bdf};
  return undefined;
}

export function isSysfsName(name: string): boolean {
  return SYSFS_NAME.test(name) && name !== '.' && name !== '..';
}

/** The host's name: `proc/sys/kernel/hostname` below the root, else this machine's. */
export async function hostName(sysfs: SysfsRoot): Promise<string> {
  const name = await sysfs.readOptional(layout.hostnameFile).catch(() => undefined);
  return name?.trim() || hostname();
}

function intOrUndefined(text: string | undefined): number | undefined {
  if (text === undefined || !/^\s*\d+\s*$/.test(text)) return undefined;
  return Number(text);
}

export type MetadataFile = 'migration_info.json' | 'migration_device_models';

/**
 * A metadata file's problem as a type or device carries it: `<file> <pointer>: <message>`. A
 * pointer that would not read back (white space, `: `, a quote: a hostile name) is written as
 * a JSON string, so validate's host mode recovers the very pointer and message its file mode
 * gives (parseMetadataProblem).
 */
export function metadataProblemText(file: MetadataFile, p: Problem): string {
  if (!p.pointer) return `${file}: ${p.message}`;
  const plain = /^(\/[^\s"]*|line \d+)$/.test(p.pointer) && !p.pointer.includes(': ');
  return `${file} ${plain ? p.pointer : JSON.stringify(p.pointer)}: ${p.message}`;
}

/** The file, pointer and message of a metadataProblemText string; undefined for other problems. */
export function parseMetadataProblem(text: string): {file: MetadataFile; problem: Problem} | undefined {
  const match = /^(migration_info\.json|migration_device_models)(?: (\/[^\s"]*|line \d+|"(?:[^"\\]|\\.)*"))?: ([\s\S]*)$/.exec(text);
  if (!match) return undefined;
  const pointer = match[2] ?? '';
  return {file: match[1] as MetadataFile, problem: {pointer: pointer.startsWith('"') ? (JSON.parse(pointer) as string) : pointer, message: match[3] ?? ''}};
}

/** Read a type directory's (or a variant-driver device's) RFC metadata. */
async function readTypeMigration(sysfs: SysfsRoot, dir: string): Promise<{migration: TypeMigration | null; problems: string[]}> {
  const json = await sysfs.readOptional(layout.migrationInfo(dir), undefined, true);
  if (json !== undefined) {
    const parsed = parseMigrationInfo(json);
    if (!parsed.info) {
      return {migration: null, problems: parsed.problems.map((p) => metadataProblemText('migration_info.json', p))};
    }
    return typeMigrationFromInfo(parsed.info);
  }
  const models = await sysfs.readOptional(layout.deviceModels(dir));
  if (models !== undefined) {
    const parsed = parseDeviceModels(models);
    if (!parsed.models) {
      return {migration: null, problems: parsed.problems.map((p) => metadataProblemText('migration_device_models', p))};
    }
    return {migration: {scheme: 'v4', models: parsed.models}, problems: []};
  }
  return {migration: null, problems: []};
}

/** Errors of one attribute become a problem of its object instead of failing the listing. */
async function guarded<T>(problems: string[], fallback: T, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof InputError) {
      problems.push(error.message);
      return fallback;
    }
    throw error;
  }
}

async function readType(sysfs: SysfsRoot, parent: string, id: string, parentId: Awaited<ReturnType<typeof parentIdentity>>): Promise<MdevType> {
  const dir = layout.typeDir(parent, id);
  const problems: string[] = [];
  const attr = (name: string) => guarded(problems, undefined, () => sysfs.readOptional(`${dir}/${name}`));
  const [name, description, deviceApi, available] = await Promise.all([
    attr('name'),
    attr('description'),
    attr('device_api'),
    attr('available_instances'),
  ]);
  const meta = await guarded(problems, {migration: null, problems: []}, () => readTypeMigration(sysfs, dir));
  problems.push(...meta.problems);
  const type: MdevType = {id, parent, migration: meta.migration, problems};
  if (name !== undefined) type.name = name.trim();
  if (description !== undefined) type.description = description.trim();
  if (deviceApi !== undefined) type.device_api = deviceApi.trim();
  const instances = intOrUndefined(available);
  if (instances !== undefined) type.available_instances = instances;
  type.identity = mdevTypeIdentity(parentId, type);
  return type;
}

/** Every mdev parent's supported types, sorted by parent then type id. */
export async function readTypes(sysfs: SysfsRoot): Promise<MdevType[]> {
  await sysfs.checkHost();
  const parents = (await sysfs.listOptional(layout.mdevBus)).filter((e) => isSysfsName(e.name));
  const perParent = await Promise.all(
    parents.map(async (parent): Promise<MdevType[]> => {
      let ids;
      try {
        ids = (await sysfs.listOptional(layout.typesDir(parent.name))).filter((e) => e.isDirectory && isSysfsName(e.name));
      } catch (error) {
        // A parent that cannot be listed (a link loop) is that parent's problem, not the host's:
        // it is shown as one unreadable entry so the problem is not lost.
        if (!(error instanceof InputError)) throw error;
        return [{id: UNREADABLE_TYPE, parent: parent.name, migration: null, problems: [error.message]}];
      }
      const parentId = await parentIdentity(sysfs, parent.name);
      return Promise.all(ids.map((t) => readType(sysfs, parent.name, t.name, parentId)));
    }),
  );
  return perParent.flat();
}

/** The type id shown for a parent whose mdev_supported_types cannot be listed. */
export const UNREADABLE_TYPE = '(unreadable)';

/** Current values of a device's `migration/` files, parsed by the type's declared parameters. */
async function readDeviceMigration(
  sysfs: SysfsRoot,
  dir: string,
  meta: TypeMigration | null,
  problems: string[],
): Promise<DeviceMigration | null> {
  if (meta === null) return null;
  const files = (await guarded(problems, [], () => sysfs.listOptional(layout.migrationDir(dir)))).map((e) => e.name);
  if (meta.scheme === 'v4') {
    const model = await guarded(problems, undefined, () => sysfs.readOptional(layout.migrationFile(dir, 'device_model')));
    const version = await guarded(problems, undefined, () => sysfs.readOptional(layout.migrationFile(dir, 'version')));
    if (model === undefined || version === undefined) {
      problems.push('migration/device_model or migration/version missing');
      return null;
    }
    return {scheme: 'v4', model: model.trim(), version: version.trim()};
  }
  const values: Record<string, ParamValue> = {};
  for (const [name, spec] of Object.entries(meta.params)) {
    if (!isSafeParamName(name)) continue;
    const text = await guarded(problems, undefined, () => sysfs.readOptional(layout.migrationFile(dir, name)));
    if (text === undefined) {
      problems.push(`migration/${name}: declared by the type but missing on the device`);
      continue;
    }
    const value = parseSysfsValue(spec.type, text);
    if (value === undefined) problems.push(`migration/${name}: ${JSON.stringify(text)} is not ${withArticle(spec.type)}`);
    // defineProperty, not `values[name] =`: a parameter named `__proto__` stays a value.
    else setOwn(values, name, value);
  }
  for (const file of files) {
    // Own names only: `toString` is not declared just because every object inherits it.
    if (!Object.hasOwn(meta.params, file)) problems.push(`migration/${file}: not declared in migration_info.json`);
  }
  return {scheme: 'v3', model: meta.model, values};
}

/** The `/dev/vfio/...` nodes a device is reached through: its group, and its cdev if any. */
function vfioNodes(group: number | undefined, vfioDev?: string): string[] {
  return [...(group === undefined ? [] : [layout.vfioGroup(group)]), ...(vfioDev === undefined ? [] : [layout.vfioCdev(vfioDev)])];
}

/**
 * Which processes hold one of `wanted` (`/dev/vfio/<group>`, `/dev/vfio/devices/vfioN`) open:
 * `proc/<pid>/fd/*` links. Reading every fd of every process costs seconds on a busy host, so
 * there is no scan at all unless one of the wanted nodes exists under the root's dev/vfio.
 */
export async function readVfioUsers(sysfs: SysfsRoot, wanted?: Iterable<string>): Promise<Map<string, number[]>> {
  const users = new Map<string, number[]>();
  const look = new Set<string>();
  for (const node of wanted ?? []) {
    if (node.startsWith(`/${layout.vfioDevRoot}/`) && (await sysfs.exists(node.slice(1)))) look.add(node);
  }
  if (look.size === 0) return users;
  const pids = (await sysfs.names(layout.proc)).filter((n) => /^\d+$/.test(n));
  await Promise.all(
    pids.map(async (pid) => {
      const fdDir = layout.procFdDir(pid);
      for (const fd of await sysfs.names(fdDir)) {
        const target = (await sysfs.linkTarget(`${fdDir}/${fd}`)) ?? '';
        if (!look.has(target)) continue;
        const list = users.get(target) ?? [];
        if (!list.includes(Number(pid))) list.push(Number(pid));
        users.set(target, list);
      }
    }),
  );
  for (const list of users.values()) list.sort((a, b) => a - b);
  return users;
}

/** Fill in `in_use` of devices read with `in_use: null`, with one scan for all of them. */
async function markUsers(sysfs: SysfsRoot, devices: VfioDevice[]): Promise<void> {
  const nodes = devices.flatMap((d) => vfioNodes(d.iommu_group, d.vfio_dev));
  if (nodes.length === 0) return;
  const users = await readVfioUsers(sysfs, nodes);
  if (users.size === 0) return;
  for (const d of devices) d.in_use = useOf(users, d.iommu_group, d.vfio_dev);
}

function useOf(users: Map<string, number[]>, group: number | undefined, vfioDev?: string): DeviceUse | null {
  const pids = vfioNodes(group, vfioDev).flatMap((node) => users.get(node) ?? []);
  return pids.length === 0 ? null : {pids: [...new Set(pids)].sort((a, b) => a - b)};
}

async function groupOf(sysfs: SysfsRoot, dir: string): Promise<number | undefined> {
  return intOrUndefined(await sysfs.linkName(layout.iommuGroupLink(dir)));
}

/** `vfio<N>` from a device's `vfio-dev/` (the kernel has VFIO_DEVICE_CDEV), or undefined. */
async function vfioDevOf(sysfs: SysfsRoot, dir: string): Promise<string | undefined> {
  return (await sysfs.listOptional(layout.vfioDevDir(dir))).find((e) => /^vfio\d+$/.test(e.name))?.name;
}

/** A device's IOMMU group (`iommu_group` link) and its VFIO cdev (`vfio-dev/vfio<N>`), where present. */
export async function vfioIds(sysfs: SysfsRoot, dir: string): Promise<{group?: number; vfioDev?: string}> {
  const [group, vfioDev] = await Promise.all([groupOf(sysfs, dir), vfioDevOf(sysfs, dir)]);
  return {...(group === undefined ? {} : {group}), ...(vfioDev === undefined ? {} : {vfioDev})};
}

async function readMdevDevice(sysfs: SysfsRoot, uuid: string, types: MdevType[]): Promise<MdevDevice> {
  const dir = layout.mdevDevice(uuid);
  const problems: string[] = [];
  let real: string;
  try {
    real = await sysfs.resolve(dir);
  } catch (error) {
    // A device directory that cannot be followed (a link loop) is that device's problem only.
    if (!(error instanceof InputError)) throw error;
    return {kind: 'mdev', uuid, parent: '', type_id: '', migration: null, in_use: null, problems: [error.message]};
  }
  const parent = path.posix.basename(path.posix.dirname(real));
  const typeId = (await sysfs.linkName(`${dir}/mdev_type`)) ?? '';
  if (typeId === '') problems.push('mdev_type link missing');
  const type = types.find((t) => t.id === typeId && t.parent === parent);
  const group = await groupOf(sysfs, dir);
  const vfioDev = await guarded(problems, undefined, () => vfioDevOf(sysfs, dir));
  const driver = await sysfs.linkName(`${dir}/driver`);
  const migration = await readDeviceMigration(sysfs, dir, type?.migration ?? null, problems);
  const device: MdevDevice = {kind: 'mdev', uuid, parent, type_id: typeId, migration, in_use: null, problems};
  if (group !== undefined) device.iommu_group = group;
  if (vfioDev !== undefined) device.vfio_dev = vfioDev;
  if (driver !== undefined) device.driver = driver;
  device.identity = type?.identity ?? mdevTypeIdentity(await parentIdentity(sysfs, parent), {id: typeId});
  return device;
}

/** vfio-pci and its variant drivers (mlx5_vfio_pci, hisi_acc_vfio_pci, pds_vfio_pci, ...). */
export function isVfioPciDriver(driver: string | undefined): boolean {
  return driver !== undefined && (driver === 'vfio-pci' || /vfio[_-]pci$/.test(driver));
}

/** NVIDIA's `creatable_vgpu_types` table: a header line, then `<id> : <name>` lines. */
export function parseVgpuTypes(text: string): NvidiaVgpuType[] {
  const types: NvidiaVgpuType[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*(\d+)\s*:\s*(.+?)\s*$/.exec(line);
    if (match) types.push({id: Number(match[1]), name: match[2] ?? ''});
  }
  return types;
}

async function readPciDevice(sysfs: SysfsRoot, bdf: string): Promise<PciVfioDevice | undefined> {
  const dir = layout.pciDevice(bdf);
  const driver = await sysfs.linkName(`${dir}/driver`);
  const vgpuTypes = await sysfs.readOptional(`${dir}/nvidia/creatable_vgpu_types`).catch(() => undefined);
  if (!isVfioPciDriver(driver) && vgpuTypes === undefined) return undefined;
  const problems: string[] = [];
  const group = await groupOf(sysfs, dir);
  const vfioDev = await guarded(problems, undefined, () => vfioDevOf(sysfs, dir));
  const meta = await guarded(problems, {migration: null, problems: []}, () => readTypeMigration(sysfs, dir));
  problems.push(...meta.problems);
  const migration = await readDeviceMigration(sysfs, dir, meta.migration, problems);
  const device: PciVfioDevice = {
    kind: 'pci',
    bdf,
    driver: driver ?? '',
    type_migration: meta.migration,
    migration,
    in_use: null,
    problems,
  };
  const vendor = await sysfs.readOptional(`${dir}/vendor`).catch(() => undefined);
  const deviceId = await sysfs.readOptional(`${dir}/device`).catch(() => undefined);
  if (vendor !== undefined) device.vendor_id = vendor.trim();
  if (deviceId !== undefined) device.device_id = deviceId.trim();
  const physfn = await sysfs.linkName(`${dir}/physfn`);
  if (physfn !== undefined) device.physfn = physfn;
  if (group !== undefined) device.iommu_group = group;
  if (vfioDev !== undefined) device.vfio_dev = vfioDev;
  if (vgpuTypes !== undefined) {
    const creatable = parseVgpuTypes(vgpuTypes);
    const current = intOrUndefined(await sysfs.readOptional(`${dir}/nvidia/current_vgpu_type`).catch(() => undefined));
    device.nvidia = {
      creatable_vgpu_types: creatable,
      current_vgpu_type:
        current === undefined || current === 0 ? null : (creatable.find((t) => t.id === current) ?? {id: current, name: ''}),
    };
  }
  device.identity = await pciIdentity(sysfs, dir, device.nvidia === undefined ? undefined : device.nvidia.current_vgpu_type);
  return device;
}

/** mdev instances and PCI devices bound to vfio-pci (or a variant driver) or offering vGPU sysfs. */
export async function readDevices(sysfs: SysfsRoot, types?: MdevType[]): Promise<VfioDevice[]> {
  await sysfs.checkHost();
  const knownTypes = types ?? (await readTypes(sysfs));
  const uuids = (await sysfs.listOptional(MDEV_DEVICES)).map((e) => e.name).filter((n) => UUID.test(n));
  const bdfs = (await sysfs.listOptional(PCI_DEVICES)).map((e) => e.name).filter((n) => BDF.test(n));
  const mdevs = await Promise.all(uuids.map((u) => readMdevDevice(sysfs, u, knownTypes)));
  const pcis = (await Promise.all(bdfs.map((b) => readPciDevice(sysfs, b)))).filter(
    (d): d is PciVfioDevice => d !== undefined,
  );
  const devices = [...mdevs, ...pcis];
  await markUsers(sysfs, devices);
  return devices;
}

/**
 * A device id as typed, checked to exist on the host before anything opens it (the engine
 * would report a missing device as a runtime failure): the normalized id, or InputError (exit 2).
 */
export async function requireDevice(sysfs: SysfsRoot, id: string): Promise<string> {
  const parsed = normalizeDeviceId(id);
  if (!parsed) throw new InputError(`${id}: not an mdev UUID or a PCI address (0000:65:00.0)`, 'BAD_DEVICE_ID');
  await sysfs.checkHost();
  if (!(await sysfs.exists(layout.device(parsed.kind, parsed.id)))) {
    const where = sysfs.pathOf(parsed.kind === 'mdev' ? MDEV_DEVICES : PCI_DEVICES);
    throw new InputError(`${parsed.id}: no such ${parsed.kind === 'mdev' ? 'mdev' : 'PCI'} device under ${where}; see 'vfio-mig list'`, 'NO_DEVICE');
  }
  return parsed.id;
}

/** One device by UUID or BDF; InputError naming the device when there is none. */
export async function readDevice(sysfs: SysfsRoot, id: string, types?: MdevType[]): Promise<VfioDevice> {
  const parsed = normalizeDeviceId(id);
  if (!parsed) throw new InputError(`${id}: not an mdev UUID or a PCI address (0000:65:00.0)`, 'BAD_DEVICE_ID');
  await requireDevice(sysfs, id);
  if (parsed.kind === 'mdev') {
    const knownTypes = types ?? (await readTypes(sysfs));
    const device = await readMdevDevice(sysfs, parsed.id, knownTypes);
    await markUsers(sysfs, [device]);
    return device;
  }
  const device = await readPciDevice(sysfs, parsed.id);
  if (!device) throw new InputError(`${parsed.id}: not bound to vfio-pci or a vfio-pci variant driver`, 'NOT_VFIO');
  await markUsers(sysfs, [device]);
  return device;
}

/** The sysfs directory of a device (root-relative), for reading and writing `migration/`. */
export function deviceDir(device: VfioDevice): string {
  return device.kind === 'mdev' ? layout.mdevDevice(device.uuid) : layout.pciDevice(device.bdf);
}

export function deviceId(device: VfioDevice): string {
  return device.kind === 'mdev' ? device.uuid : device.bdf;
}

/** An mdev device's type (a type id is unique only within its parent); null for PCI. */
export function deviceType(device: VfioDevice, types: MdevType[]): MdevType | null {
  if (device.kind !== 'mdev') return null;
  return types.find((t) => t.id === device.type_id && t.parent === device.parent) ?? null;
}

/** The migration metadata governing a device: its mdev type's, or a variant driver's own. */
export function deviceTypeMigration(device: VfioDevice, types: MdevType[]): TypeMigration | null {
  return device.kind === 'pci' ? device.type_migration : (deviceType(device, types)?.migration ?? null);
}

/** Types whose id matches (a type id can exist under several parents). */
export function findTypes(types: MdevType[], id: string): MdevType[] {
  return types.filter((t) => t.id === id || `${t.parent}/${t.id}` === id);
}

/** A whole-host snapshot. */
export async function readInventory(sysfs: SysfsRoot, host?: string): Promise<Inventory> {
  const types = await readTypes(sysfs);
  const devices = await readDevices(sysfs, types);
  return {
    apiVersion: DOCUMENT_API_VERSION,
    kind: 'Inventory',
    host: host ?? (await hostName(sysfs)),
    taken_at: new Date().toISOString(),
    types,
    devices,
  };
}
