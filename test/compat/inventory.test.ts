import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {InputError} from '../../src/lib/errors.js';
import {readInventory as takeInventory} from '../../src/lib/enumerate/index.js';
import {parseInventory, readInventoryFiles, validateInventory} from '../../src/lib/inventory/index.js';
import type {Inventory} from '../../src/lib/model/types.js';
import {serializeDocument} from '../../src/lib/paramlist/index.js';
import {clone, hostRoot, schemaValid
} from './helpers.js';

let dir: string;
let invA: Inventory;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vfio-mig-inv-'));
  invA = await takeInventory(hostRoot('gpu-a'), 'gpu-a');
});
afterAll(() => rm(dir, {recursive: true, force: true}));

describe('inventories', () => {
  it.each(['gpu-a', 'gpu-b', 'v4-host', 'pci-vf', 'broken'])('the snapshot of %s validates and round-trips (JSON and YAML)', async (host) => {
    const inv = await takeInventory(hostRoot(host), host);
    expect(schemaValid('inventory', inv)).toBe(true);
    expect(schemaValid('output_inventory', inv)).toBe(true);
    expect(await parseInventory(await serializeDocument(inv, 'json'))).toEqual(inv);
    expect(await parseInventory(await serializeDocument(inv, 'yaml'))).toEqual(inv);
  });

  it('holds types, models, parameter metadata, free instances, devices and their values', () => {
    const t8 = invA.types.find((t) => t.id === 'vgfx-8GB');
    expect(t8).toMatchObject({available_instances: 1, migration: {scheme: 'v3', model: 'vendor-a.com/gfx'}});
    const dev = invA.devices.find((d) => d.kind === 'mdev' && d.uuid === 'cb422412-cf4b-4ce8-b578-bf742f23d32d');
    expect(dev).toMatchObject({in_use: {pids: [4242]}, migration: {values: {memory: 8192, ecc: false, profile: 'v2'}}});
  });

  it('refuses an unsafe parameter name in a type', () => {
    const bad = clone(invA) as unknown as {types: {migration: {params: Record<string, unknown>}}[]};
    bad.types[0]!.migration.params['../x'] = {type: 'int', init_value: 1};
    expect(() => validateInventory(bad)).toThrow(/invalid name "..\/x"/);
  });

  it('refuses metadata that breaks the RFC rules (init_value of the wrong type, bad range)', () => {
    const bad = clone(invA) as unknown as {types: {migration: {params: Record<string, {init_value: unknown; allowed_values?: unknown[]}>}}[]};
    bad.types[0]!.migration.params.memory!.init_value = '4096';
    expect(() => validateInventory(bad)).toThrow(/types\/0\/migration\/params\/memory\/init_value: "4096" is not a int|is not an int/);
    const bad2 = clone(invA) as unknown as typeof bad;
    bad2.types[0]!.migration.params.memory!.allowed_values = ['8-2'];
    expect(() => validateInventory(bad2)).toThrow(InputError);
  });

  it('refuses bad files with exit 2 naming the file, and two files for one host', async () => {
    const good = path.join(dir, 'a.json');
    const twin = path.join(dir, 'a2.json');
    const broken = path.join(dir, 'broken.json');
    const dup = path.join(dir, 'dup.yaml');
    await writeFile(good, await serializeDocument(invA, 'json'));
    await writeFile(twin, await serializeDocument(invA, 'json'));
    await writeFile(broken, '{"apiVersion": ');
    await writeFile(dup, 'host: a\nhost: b\n');
    await expect(readInventoryFiles([good])).resolves.toHaveLength(1);
    await expect(readInventoryFiles([good, twin])).rejects.toMatchObject({exitCode: 2, code: 'DUPLICATE_HOST'});
    await expect(readInventoryFiles([broken])).rejects.toThrow(/broken.json: not valid JSON/);
    await expect(readInventoryFiles([dup])).rejects.toMatchObject({exitCode: 2});
    await expect(readInventoryFiles([path.join(dir, 'none.json')])).rejects.toMatchObject({exitCode: 2});
  });
});
