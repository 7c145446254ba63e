/**
 * Hostile trees for prepare: a writable copy of a fixture host with one part of a device
 * replaced by a link, as an attacker controlling the tree (or a confused driver) would.
 */
import {rm, symlink} from 'node:fs/promises';
import path from 'node:path';

import {copyHost} from '../compat/helpers.js';

export type HostileHost = Awaited<ReturnType<typeof copyHost>>;

/** The real directory of an mdev device in a fixture tree (its bus entry is a link). */
export function realDeviceDir(h: HostileHost, uuid: string): string {
  return h.sysfs.pathOf(`sys/devices/pci0000:64/0000:64:00.0/0000:65:00.0/${uuid}`);
}

/** Replace `<device>/migration` (a real directory) by a link to `<victim>/migration`. */
export async function linkMigrationDir(h: HostileHost, uuid: string, victim: string): Promise<void> {
  const dir = path.join(realDeviceDir(h, uuid), 'migration');
  await rm(dir, {recursive: true});
  await symlink(`../${victim}/migration`, dir);
}

/** Replace one attribute of `<device>/migration/` by a link to the victim's attribute. */
export async function linkMigrationAttr(h: HostileHost, uuid: string, name: string, victim: string): Promise<void> {
  const file = path.join(realDeviceDir(h, uuid), 'migration', name);
  await rm(file);
  await symlink(`../../${victim}/migration/${name}`, file);
}
