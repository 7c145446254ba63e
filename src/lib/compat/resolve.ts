/**
 * Turning `--source` and `--dest` arguments into a parameter list and a destination: on the
 * live host (below the sysfs root) or in inventory files (offline).
 */
import {deviceType, deviceTypeMigration, findTypes, hostName, normalizeDeviceId, readDevice, readTypes} from '../enumerate/index.js';
import {InputError} from '../errors.js';
import type {Inventory, ParamList} from '../model/types.js';
import {buildParamList, paramListFromDevice, readParamListFile} from '../paramlist/index.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {type Destination, deviceIdOf} from './index.js';

/** A destination on the host below `sysfs`: a device (UUID/BDF) or a type id (`[<parent>/]<type>`). */
export async function liveDestination(sysfs: SysfsRoot, id: string, options: {host?: string} = {}): Promise<Destination> {
  const host = options.host ?? (await hostName(sysfs));
  const types = await readTypes(sysfs);
  if (normalizeDeviceId(id)) {
    const device = await readDevice(sysfs, id, types);
    const type = deviceType(device, types);
    return {host, type, device, migration: deviceTypeMigration(device, types)};
  }
  const matches = findTypes(types, id);
  if (matches.length === 0) throw new InputError(`${id}: no such device or mdev type on ${host}`, 'NOT_FOUND');
  if (matches.length > 1) {
    throw new InputError(
      `${id}: ambiguous; give one of ${matches.map((t) => `${t.parent}/${t.id}`).join(', ')}`,
      'AMBIGUOUS',
    );
  }
  const type = matches[0]!;
  return {host, type, device: null, migration: type.migration};
}

/** Every destination named `id` in the inventories (optionally of one host). */
export function inventoryDestinations(inventories: Inventory[], id: string, host?: string): Destination[] {
  const found: Destination[] = [];
  const norm = normalizeDeviceId(id);
  for (const inv of inventories) {
    if (host !== undefined && inv.host !== host) continue;
    if (norm) {
      for (const device of inv.devices) {
        if (deviceIdOf(device) !== norm.id) continue;
        found.push({host: inv.host, type: deviceType(device, inv.types), device, migration: deviceTypeMigration(device, inv.types)});
      }
    } else {
      for (const type of findTypes(inv.types, id)) found.push({host: inv.host, type, device: null, migration: type.migration});
    }
  }
  return found;
}

/** Exactly one destination from inventories; InputError when none or several match. */
export function inventoryDestination(inventories: Inventory[], id: string, host?: string): Destination {
  const found = inventoryDestinations(inventories, id, host);
  if (found.length === 0) {
    throw new InputError(`${id}: no such device or type in the inventories${host === undefined ? '' : ` of ${host}`}`, 'NOT_FOUND');
  }
  if (found.length > 1) {
    const names = found.map((d) => `${d.host}:${d.type ? `${d.type.parent}/${d.type.id}` : ''}${d.device ? ` ${deviceIdOf(d.device)}` : ''}`);
    throw new InputError(`${id}: ambiguous (${names.join(', ')}); pick one with --host and <parent>/<type>`, 'AMBIGUOUS');
  }
  return found[0]!;
}

/**
 * The parameter list named by `--source`: `-` (stdin) or a file; a device id is looked up in
 * the inventories first, then on the live host.
 */
export async function resolveSource(
  source: string,
  options: {sysfs?: SysfsRoot; inventories?: Inventory[]; host?: string} = {},
): Promise<ParamList> {
  const norm = source === '-' ? undefined : normalizeDeviceId(source);
  if (!norm) return readParamListFile(source);
  for (const inv of options.inventories ?? []) {
    const device = inv.devices.find((d) => deviceIdOf(d) === norm.id);
    if (device) return paramListFromDevice(device, deviceTypeMigration(device, inv.types), inv.host, deviceType(device, inv.types)?.problems);
  }
  if (!options.sysfs) throw new InputError(`${source}: no such device in the inventories`, 'NOT_FOUND');
  return buildParamList(options.sysfs, norm.id, options.host === undefined ? {} : {host: options.host});
}
