import {allows, cachedRange, checkCompat, checkMetadata, type Destination, sortedParamNames} from '../../src/lib/compat/index.js';
import {inventoryDestination, inventoryDestinations, liveDestination, resolveSource} from '../../src/lib/compat/resolve.js';
import type {Inventory, MdevDevice, ParamList, ParamValue, TypeMigration} from '../../src/lib/model/types.js';
import {
  clone,
  fixtureList,
  GPU_A_8GB_DEV,
  GPU_B_8GB_DEV,
  hostRoot,
  inventoryOf,
  V4_4GB_DEV,
  V4_LEGACY_DEV,
  VF_DST,
  schemaValid,
} from './helpers.js';

let invA: Inventory;
let invB: Inventory;
let invV4: Inventory;
let invVF: Inventory;

beforeAll(async () => {
  [invA, invB, invV4, invVF] = (await Promise.all(['gpu-a', 'gpu-b', 'v4-host', 'pci-vf'].map((h) => inventoryOf(h)))) as [Inventory, Inventory, Inventory, Inventory];
});

function typeDest(inv: Inventory, typeId: string): Destination {
  return inventoryDestination([inv], typeId);
}

function v3(params: Record<string, ParamValue>, model = 'vendor-a.com/gfx'): ParamList {
  return {apiVersion: 'vfio-mig/v1', kind: 'ParamList', scheme: 'v3', model, params, source: {host: 'src', device: 'dev'}};
}

function v4(model: string, version: string): ParamList {
  return {apiVersion: 'vfio-mig/v1', kind: 'ParamList', scheme: 'v4', model, version, source: {host: 'src', device: 'dev'}};
}

function codes(list: ParamList, dest: Destination): string[] {
  return checkCompat(list, dest).reasons.map((r) => r.code);
}

describe('compat rules (RFC v3)', () => {
  it('takes a compatible list, and the result validates against output/compat', async () => {
    const result = checkCompat(await fixtureList('gpu-a-8GB.json'), typeDest(invB, 'vgfx-8GB'));
    expect(result).toMatchObject({compatible: true, reasons: [], warnings: []});
    expect(result.destination).toEqual({host: 'gpu-b', kind: 'type', type_id: 'vgfx-8GB', parent: '0000:65:00.0'});
    expect(Object.keys(result)).toEqual(['compatible', 'basis', 'source', 'destination', 'reasons', 'warnings']);
    expect(result.basis).toEqual({kind: 'vendor_metadata'});
    expect(schemaValid('output_compat', result)).toBe(true);
  });

  it('MODEL_MISMATCH', () => {
    const r = checkCompat(v3({memory: 4096}, 'vendor-z.com/gfx'), typeDest(invA, 'vgfx-4GB'));
    expect(r.reasons).toEqual([expect.objectContaining({code: 'MODEL_MISMATCH', offered: ['vendor-a.com/gfx']})]);
  });

  it('PARAM_MISSING: a parameter the destination does not have (older driver)', async () => {
    const r = checkCompat(await fixtureList('gpu-b-16GB.json'), typeDest(invA, 'vgfx-8GB'));
    expect(r.reasons).toContainEqual(expect.objectContaining({code: 'PARAM_MISSING', param: 'hdr', value: true}));
    const u = checkCompat(await fixtureList('unknown-param.json'), typeDest(invA, 'vgfx-8GB'));
    expect(u.reasons.map((x) => [x.code, x.param])).toEqual([['PARAM_MISSING', 'turbo']]);
  });

  it('reports every reason, not the first', async () => {
    // gpu-b-16GB on gpu-a 8GB: memory 12288 not allowed, profile v3 not allowed, encoder 6 not allowed, queues 12 not allowed, hdr missing.
    const r = checkCompat(await fixtureList('gpu-b-16GB.json'), typeDest(invA, 'vgfx-8GB'));
    expect(r.reasons.map((x) => `${x.code}:${x.param}`).sort()).toEqual(
      ['NOT_ALLOWED:encoder', 'NOT_ALLOWED:memory', 'NOT_ALLOWED:profile', 'NOT_ALLOWED:queues', 'PARAM_MISSING:hdr'].sort(),
    );
  });

  it('names that exist on Object.prototype are not parameters', () => {
    const list = JSON.parse('{"apiVersion":"vfio-mig/v1","kind":"ParamList","scheme":"v3","model":"vendor-a.com/gfx","params":{"constructor":1,"toString":"x","__proto__":2},"source":{"host":"h","device":"d"}}') as ParamList;
    expect(codes(list, typeDest(invA, 'vgfx-8GB'))).toEqual(['PARAM_MISSING', 'PARAM_MISSING', 'PARAM_MISSING']);
  });

  it.each([
    ['"8192" for an int', {memory: '8192'}, 'int', 'str'],
    ['1 for a bool', {ecc: 1}, 'bool', 'int'],
    ['"true" for a bool', {ecc: 'true'}, 'bool', 'str'],
    ['2 for a str', {profile: 2}, 'str', 'int'],
    ['true for an int', {queues: true}, 'int', 'bool'],
  ])('WRONG_TYPE: %s', (_what, params, expected, actual) => {
    const r = checkCompat(v3(params as Record<string, ParamValue>), typeDest(invA, 'vgfx-8GB'));
    expect(r.reasons).toEqual([expect.objectContaining({code: 'WRONG_TYPE', expected_type: expected, actual_type: actual})]);
  });

  it('WRONG_TYPE from the fixture list: "8192" is not 8192', async () => {
    const r = checkCompat(await fixtureList('wrong-value-type.json'), typeDest(invA, 'vgfx-8GB'));
    expect(r.reasons).toEqual([expect.objectContaining({code: 'WRONG_TYPE', param: 'memory', value: '8192'})]);
    expect(r.reasons[0]?.message).toBe('memory: "8192" is a str, not an int');
  });

  describe('NOT_ALLOWED at the edges of ranges', () => {
    it.each([
      // gpu-a vgfx-4GB memory: ["1024-4096"]
      ['gpu-a', 'vgfx-4GB', 'memory', 1023, false],
      ['gpu-a', 'vgfx-4GB', 'memory', 1024, true],
      ['gpu-a', 'vgfx-4GB', 'memory', 4096, true],
      ['gpu-a', 'vgfx-4GB', 'memory', 4097, false],
      // gpu-a vgfx-8GB memory: ["1024-8192", 16384]: a range and a plain value
      ['gpu-a', 'vgfx-8GB', 'memory', 8192, true],
      ['gpu-a', 'vgfx-8GB', 'memory', 8193, false],
      ['gpu-a', 'vgfx-8GB', 'memory', 16383, false],
      ['gpu-a', 'vgfx-8GB', 'memory', 16384, true],
      ['gpu-a', 'vgfx-8GB', 'memory', 16385, false],
      // gpu-b changed ranges: vgfx-8GB memory ["2048-8192"], vgfx-16GB ["8192-16384"]
      ['gpu-b', 'vgfx-8GB', 'memory', 2047, false],
      ['gpu-b', 'vgfx-8GB', 'memory', 2048, true],
      ['gpu-b', 'vgfx-8GB', 'memory', 16384, false],
      ['gpu-b', 'vgfx-16GB', 'memory', 8191, false],
      ['gpu-b', 'vgfx-16GB', 'memory', 16384, true],
      ['gpu-a', 'vgfx-8GB', 'encoder', 4, true],
      ['gpu-a', 'vgfx-8GB', 'encoder', 5, false],
      ['gpu-a', 'vgfx-8GB', 'encoder', -1, false],
    ])('%s %s %s=%d allowed=%s', (host, type, param, value, allowed) => {
      const inv = host === 'gpu-a' ? invA : invB;
      const r = checkCompat(v3({[param]: value}), typeDest(inv, type));
      expect(r.compatible).toBe(allowed);
      if (!allowed) {
        const spec = (typeDest(inv, type).migration as Extract<TypeMigration, {scheme: 'v3'}>).params[param];
        expect(r.reasons).toEqual([expect.objectContaining({code: 'NOT_ALLOWED', param, value, allowed: spec?.allowed_values})]);
      }
    });

    it('shows the allowed set, ranges included', () => {
      const r = checkCompat(v3({memory: 9000}), typeDest(invA, 'vgfx-8GB'));
      expect(r.reasons[0]?.message).toBe('memory: 9000 is not in allowed_values [1024-8192, 16384]');
      expect(r.reasons[0]?.allowed).toEqual(['1024-8192', 16384]);
    });

    it('several disjoint ranges and a plain value (mlx5 mtu)', () => {
      const dest = inventoryDestination([invVF], VF_DST);
      const ok = (mtu: number) => checkCompat(v3({mtu}, 'nvidia.com/mlx5-vf'), dest).reasons.filter((x) => x.code === 'NOT_ALLOWED').length === 0;
      expect([67, 68, 1500, 1501, 9000, 9001, 9215, 9216, 9217].map(ok)).toEqual([false, true, true, true, true, false, false, true, false]);
    });

    it('str allowed values (profile v3 only on the newer driver)', () => {
      expect(checkCompat(v3({profile: 'v3'}), typeDest(invA, 'vgfx-8GB')).reasons[0]).toMatchObject({code: 'NOT_ALLOWED', allowed: ['v1', 'v2']});
      expect(checkCompat(v3({profile: 'v3'}), typeDest(invB, 'vgfx-8GB')).compatible).toBe(true);
    });

    it('a parameter without allowed_values takes any value of its type (bool)', () => {
      expect(checkCompat(v3({ecc: false}), typeDest(invA, 'vgfx-8GB')).compatible).toBe(true);
      expect(checkCompat(v3({ecc: true}), typeDest(invA, 'vgfx-8GB')).compatible).toBe(true);
    });
  });

  it('SCHEME_MISMATCH between a v3 list and a v4 type', async () => {
    expect(codes(await fixtureList('gpu-a-8GB.json'), typeDest(invV4, 'vgfx-8GB'))).toEqual(['SCHEME_MISMATCH']);
    expect(codes(await fixtureList('v4-8GB.json'), typeDest(invA, 'vgfx-8GB'))).toEqual(['SCHEME_MISMATCH']);
  });

  it('NO_METADATA for a type whose migration_info.json is broken, with the vendor problem', async () => {
    const broken = await inventoryOf('broken');
    const dest = inventoryDestination([broken], 'bgfx-bad-range-min-gt-max');
    const r = checkCompat(v3({memory: 4096}, 'vendor-b.com/gfx'), dest);
    expect(r.reasons).toEqual([expect.objectContaining({code: 'NO_METADATA', message: expect.stringContaining('min > max')})]);
  });
});

describe('compat rules (RFC v4)', () => {
  it('takes an offered model and version', () => {
    expect(checkCompat(v4('org.project/graphics-card', '8GB-v1'), typeDest(invV4, 'vgfx-8GB')).compatible).toBe(true);
    expect(checkCompat(v4('org.project/graphics-card-legacy', 'legacy-8G'), typeDest(invV4, 'vgfx-8GB')).compatible).toBe(true);
  });

  it('VERSION_NOT_OFFERED lists the offered versions', async () => {
    const r = checkCompat(await fixtureList('v4-8GB.json'), typeDest(invV4, 'vgfx-4GB'));
    expect(r.reasons).toEqual([expect.objectContaining({code: 'VERSION_NOT_OFFERED', value: '8GB-v2', offered: ['4GB-v1', '4GB-v2']})]);
  });

  it('a version of another model is not offered (versions are per model)', () => {
    const r = checkCompat(v4('org.project/graphics-card-legacy', '8GB-v2'), typeDest(invV4, 'vgfx-8GB'));
    expect(r.reasons.map((x) => x.code)).toEqual(['VERSION_NOT_OFFERED']);
  });

  it('MODEL_MISMATCH lists the offered models', () => {
    const r = checkCompat(v4('org.project/other', '8GB-v2'), typeDest(invV4, 'vgfx-8GB'));
    expect(r.reasons).toEqual([expect.objectContaining({code: 'MODEL_MISMATCH', offered: ['org.project/graphics-card', 'org.project/graphics-card-legacy']})]);
  });

  it('warns that a type without available instances cannot create a device', async () => {
    const r = checkCompat(await fixtureList('v4-8GB.json'), typeDest(invV4, 'vgfx-8GB'));
    expect(r).toMatchObject({compatible: true, warnings: [{code: 'NO_AVAILABLE_INSTANCES'}]});
  });

  it('a free device of a type offering the version is compatible (prepare rewrites its model)', async () => {
    expect(checkCompat(await fixtureList('v4-8GB.json'), inventoryDestination([invV4], V4_LEGACY_DEV)).compatible).toBe(true);
    expect(codes(await fixtureList('v4-8GB.json'), inventoryDestination([invV4], V4_4GB_DEV))).toEqual(['VERSION_NOT_OFFERED']);
  });
});

describe('device destinations', () => {
  it('DEVICE_IN_USE with the pids holding it', async () => {
    const list = await fixtureList('gpu-a-4GB.json');
    const r = checkCompat(list, inventoryDestination([invA], GPU_A_8GB_DEV));
    expect(r.reasons).toEqual([expect.objectContaining({code: 'DEVICE_IN_USE', pids: [4242]})]);
    expect(r.destination).toMatchObject({kind: 'device', device: GPU_A_8GB_DEV, type_id: 'vgfx-8GB'});
  });

  it('IS_SOURCE when the destination is the source device', async () => {
    const list = await fixtureList('gpu-a-8GB.json');
    expect(codes(list, inventoryDestination([invA], GPU_A_8GB_DEV))).toEqual(['IS_SOURCE', 'DEVICE_IN_USE']);
  });

  it('KEEPS_NON_INIT_VALUE: a parameter without off_value, not in the list, not at init_value', () => {
    const inv = clone(invB);
    const dev = inv.devices.find((d) => d.kind === 'mdev' && d.uuid === GPU_B_8GB_DEV) as MdevDevice;
    if (dev.migration?.scheme !== 'v3') throw new Error('v3');
    dev.migration.values.queues = 6; // init_value 4, no off_value
    const list = v3({memory: 8192, profile: 'v2'}); // an older source type without "queues"
    const r = checkCompat(list, inventoryDestination([inv], GPU_B_8GB_DEV));
    expect(r.compatible).toBe(true);
    expect(r.warnings).toEqual([
      expect.objectContaining({code: 'KEEPS_NON_INIT_VALUE', param: 'queues', value: 6, init_value: 4}),
    ]);
    // At init_value, or listed: no warning.
    dev.migration.values.queues = 4;
    expect(checkCompat(list, inventoryDestination([inv], GPU_B_8GB_DEV)).warnings).toEqual([]);
    dev.migration.values.queues = 6;
    expect(checkCompat(v3({memory: 8192, queues: 2}), inventoryDestination([inv], GPU_B_8GB_DEV)).warnings).toEqual([]);
  });

  it('DEVICE_UNREADABLE when a declared parameter cannot be read', () => {
    const inv = clone(invB);
    const dev = inv.devices.find((d) => d.kind === 'mdev' && d.uuid === GPU_B_8GB_DEV) as MdevDevice;
    if (dev.migration?.scheme !== 'v3') throw new Error('v3');
    delete dev.migration.values.hdr;
    expect(codes(v3({memory: 8192}), inventoryDestination([inv], GPU_B_8GB_DEV))).toEqual(['DEVICE_UNREADABLE']);
  });

  it('PCI variant-driver devices carry their own metadata', async () => {
    const r = checkCompat(await fixtureList('pci-vf-mlx5.json'), inventoryDestination([invVF], VF_DST));
    expect(r).toMatchObject({compatible: true, destination: {host: 'pci-vf', kind: 'device', device: VF_DST}});
  });
});

describe('resolving --source and --dest', () => {
  it('live: a type id, <parent>/<type>, or a device', async () => {
    const sysfs = hostRoot('gpu-a');
    expect((await liveDestination(sysfs, 'vgfx-8GB', {host: 'gpu-a'})).type?.id).toBe('vgfx-8GB');
    expect((await liveDestination(sysfs, '0000:65:00.0/vgfx-4GB')).type?.id).toBe('vgfx-4GB');
    const d = await liveDestination(sysfs, GPU_A_8GB_DEV, {host: 'gpu-a'});
    expect(d.device?.kind).toBe('mdev');
    await expect(liveDestination(sysfs, 'vgfx-99GB')).rejects.toMatchObject({exitCode: 2, code: 'NOT_FOUND'});
  });

  it('offline: ambiguous names across inventories are refused unless a host is given', () => {
    expect(inventoryDestinations([invA, invB], 'vgfx-8GB')).toHaveLength(2);
    expect(() => inventoryDestination([invA, invB], 'vgfx-8GB')).toThrow(/ambiguous/);
    expect(inventoryDestination([invA, invB], 'vgfx-8GB', 'gpu-b').host).toBe('gpu-b');
  });

  it('a source device is found in the inventories first, then live', async () => {
    const fromInv = await resolveSource(GPU_A_8GB_DEV, {inventories: [invA]});
    expect(fromInv).toEqual(await fixtureList('gpu-a-8GB.json'));
    const live = await resolveSource(GPU_A_8GB_DEV, {sysfs: hostRoot('gpu-a'), host: 'gpu-a'});
    expect(live).toEqual(fromInv);
  });
});

describe('metadata lookups', () => {
  it('sorts names once per object (the write order); ranges are parsed once per string', () => {
    const meta = typeDest(invB, 'vgfx-8GB').migration as Extract<TypeMigration, {scheme: 'v3'}>;
    const names = sortedParamNames(meta.params);
    expect(sortedParamNames(meta.params)).toBe(names);
    expect(names).toEqual(['ecc', 'encoder', 'hdr', 'memory', 'profile', 'queues']);
    expect(cachedRange('-5-5')).toEqual({min: -5, max: 5});
    expect(cachedRange('1-x')).toBeUndefined();
    expect(allows({type: 'int', init_value: 0, allowed_values: ['-5-5']}, -5)).toBe(true);
    expect(allows({type: 'int', init_value: 0, allowed_values: ['-5-5']}, -6)).toBe(false);
    expect(allows({type: 'str', init_value: '1-2', allowed_values: ['1-2']}, '1-2')).toBe(true);
    expect(checkMetadata(v3({memory: 8192}), null)[0]?.code).toBe('NO_METADATA');
  });
});
