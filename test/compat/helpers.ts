import {cp, mkdtemp, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import type {ValidateFunction} from 'ajv';

import {readInventory} from '../../src/lib/enumerate/index.js';
import * as outputValidators from '../../src/lib/schema/generated/output-validators.js';
import {inventory} from '../../src/lib/schema/generated/inventory.js';
import {migrationInfo} from '../../src/lib/schema/generated/migration-info.js';
import {paramList} from '../../src/lib/schema/generated/param-list.js';
import {streamHeader} from '../../src/lib/schema/generated/stream-header.js';

const inputValidators = {inventory, migrationInfo, paramList, streamHeader};
import type {Inventory, ParamList} from '../../src/lib/model/types.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HOSTS = path.join(REPO, 'fixtures/hosts');
export const PARAMS = path.join(REPO, 'fixtures/params');

export const GPU_A_8GB_DEV = 'cb422412-cf4b-4ce8-b578-bf742f23d32d'; // vgfx-8GB, in use (pid 4242)
export const GPU_A_4GB_DEV = '50042111-191b-421a-9586-d94555853d83'; // vgfx-4GB, free
export const GPU_B_8GB_DEV = 'f5c5eb08-e0c4-4af1-9f9b-533fdc15ae19'; // vgfx-8GB, free
export const GPU_B_4GB_DEV = '0e352e90-823f-4f5d-9221-86e662934044'; // vgfx-4GB, free
export const GPU_B_16GB_DEV = '53855a71-05db-469b-a0c8-32f60480c57b'; // vgfx-16GB, in use (pid 7310)
export const V4_8GB_DEV = 'b934bc0b-2aab-4568-88a7-5b0736a39ed0'; // graphics-card 8GB-v2, in use
export const V4_LEGACY_DEV = '67c74ed7-48c8-43a9-8bf6-f36f3b915c62'; // vgfx-8GB, legacy model, free
export const V4_4GB_DEV = 'debe0509-b332-40d5-bfb8-9382a90a2557'; // vgfx-4GB 4GB-v1, free
export const VF_SRC = '0000:01:00.1'; // mlx5 VF, in use
export const VF_DST = '0000:01:00.2'; // mlx5 VF, free

export function hostRoot(name: string): SysfsRoot {
  return new SysfsRoot(path.join(HOSTS, name));
}

export async function fixtureList(name: string): Promise<ParamList> {
  return JSON.parse(await readFile(path.join(PARAMS, name), 'utf8')) as ParamList;
}

export async function inventoryOf(name: string): Promise<Inventory> {
  return readInventory(hostRoot(name), name);
}

/** A writable copy of a fixture host in a tmp dir (fixtures/ is never written). */
export async function copyHost(name: string): Promise<{root: string; sysfs: SysfsRoot; cleanup: () => Promise<void>}> {
  const dir = await mkdtemp(path.join(tmpdir(), `vfio-mig-${name}-`));
  const root = path.join(dir, name);
  await cp(path.join(HOSTS, name), root, {recursive: true, verbatimSymlinks: true});
  return {root, sysfs: new SysfsRoot(root), cleanup: () => rm(dir, {recursive: true, force: true})};
}

export function mdevMigrationDir(uuid: string): string {
  return `sys/bus/mdev/devices/${uuid}/migration`;
}

/** Every file of a device's migration/ dir, as text. */
export async function migrationValues(sysfs: SysfsRoot, dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await sysfs.list(dir)) out[e.name] = await sysfs.readText(`${dir}/${e.name}`);
  return out;
}

export function clone<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Check data against a generated output schema (`output_select`, ...) or a file format schema. */
export function schemaValid(name: string, data: unknown): boolean {
  const validate = (outputValidators as Record<string, ValidateFunction>)[name] ?? (inputValidators as Record<string, ValidateFunction>)[name];
  if (!validate) throw new Error(`no schema ${name}`);
  const ok = validate(data) === true;
  if (!ok) console.error(name, JSON.stringify(validate.errors, null, 1));
  return ok;
}
