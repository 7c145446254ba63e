import type {Inventory, MdevDevice, MdevType, ParamList} from '../../src/lib/model/types.js';
import {selectDestinations} from '../../src/lib/select/index.js';
import {clone, fixtureList, GPU_A_4GB_DEV, GPU_B_4GB_DEV, GPU_B_8GB_DEV, inventoryOf, V4_LEGACY_DEV, VF_DST, schemaValid
} from './helpers.js';

let invA: Inventory;
let invB: Inventory;
let invV4: Inventory;
let invVF: Inventory;
let invBroken: Inventory;

beforeAll(async () => {
  [invA, invB, invV4, invVF, invBroken] = (await Promise.all(['gpu-a', 'gpu-b', 'v4-host', 'pci-vf', 'broken'].map((h) => inventoryOf(h)))) as [Inventory, Inventory, Inventory, Inventory, Inventory];
});

const brief = (r: ReturnType<typeof selectDestinations>) => r.candidates.map((c) => `${c.host}/${c.type_id}/${c.device ?? 'new'}/${c.writes}`);

describe('select', () => {
  it('4GB vs 8GB: a 4 GiB source creates vgfx-4GB, not vgfx-8GB (the RFC open question)', async () => {
    const r = selectDestinations(await fixtureList('gpu-a-4GB.json'), [invA]);
    // The free vgfx-4GB device on gpu-a is the source itself: excluded.
    expect(brief(r)).toEqual(['gpu-a/vgfx-4GB/new/0', 'gpu-a/vgfx-8GB/new/1']);
    expect(r.candidates[0]).toMatchObject({rank: 1, init_matches: 5, params: 5, available_instances: 3, planned_writes: []});
    expect(r.candidates[1]).toMatchObject({rank: 2, planned_writes: [{param: 'memory', from: 8192, to: 4096}]});
    expect(r.candidates[1]?.reason).toMatch(/^more writes than #1 \(1 vs 0\)/);
    expect(schemaValid('output_select', r)).toBe(true);
  });

  it('an 8 GiB source fits only vgfx-8GB; the 4GB type is rejected with its reason', async () => {
    const r = selectDestinations(await fixtureList('gpu-a-8GB.json'), [invA], {includeRejected: true});
    expect(brief(r)).toEqual(['gpu-a/vgfx-8GB/new/2']);
    expect(r.rejected).toContainEqual(expect.objectContaining({type_id: 'vgfx-4GB', device: null, reasons: [expect.objectContaining({code: 'NOT_ALLOWED', param: 'memory'})]}));
    expect(r.rejected).toContainEqual(expect.objectContaining({device: 'cb422412-cf4b-4ce8-b578-bf742f23d32d', reasons: [expect.objectContaining({code: 'IS_SOURCE'}), expect.objectContaining({code: 'DEVICE_IN_USE'})]}));
    expect(schemaValid('output_select', r)).toBe(true);
  });

  it('ranks across hosts: fewest writes, then init_value matches, existing device before a new one on ties', async () => {
    const r = selectDestinations(await fixtureList('gpu-a-8GB.json'), [invB, invA]);
    expect(brief(r)).toEqual([
      'gpu-a/vgfx-8GB/new/2',
      `gpu-b/vgfx-8GB/${GPU_B_8GB_DEV}/3`,
      'gpu-b/vgfx-8GB/new/3',
      'gpu-b/vgfx-16GB/new/5',
    ]);
    expect(r.candidates.map((c) => c.reason.split(';')[0])).toEqual([
      'best: new vgfx-8GB (vendor metadata): 2 writes (ecc, encoder), 3/5 values at init_value, 1 free instance',
      'more writes than #1 (3 vs 2)',
      'ties with #2, which reuses an existing device',
      'more writes than #3 (5 vs 3)',
    ]);
    expect(r.considered).toEqual({hosts: 2, types: 5, devices: 5, candidates: 4});
  });

  it('an existing free device needing no writes ranks first, even against a new device with no writes', async () => {
    // A source whose list equals gpu-b's free vgfx-4GB device (0e352e90): memory 4096, ecc 1, hdr 1, profile v2, encoder 0, queues 4.
    const list: ParamList = {...(await fixtureList('gpu-a-4GB.json')), source: {host: 'elsewhere', device: 'x'}};
    if (list.scheme !== 'v3') throw new Error('v3');
    list.params.hdr = true;
    const r = selectDestinations(list, [invA, invB]);
    expect(r.candidates[0]).toMatchObject({host: 'gpu-b', device: GPU_B_4GB_DEV, writes: 0});
    expect(r.candidates[0]?.reason).toMatch(/^best: existing free device needing no writes/);
    // gpu-b's new 4GB device also needs no writes (all init), but ranks below the existing one.
    expect(r.candidates[1]).toMatchObject({host: 'gpu-b', device: null, type_id: 'vgfx-4GB', writes: 0});
    expect(r.candidates[1]?.reason).toMatch(/^below #1, which is an existing free device needing no writes/);
    // gpu-a's free 4GB device is now a candidate (the source is elsewhere), but has no hdr: PARAM_MISSING for all gpu-a types.
    expect(r.candidates.some((c) => c.host === 'gpu-a')).toBe(false);
  });

  it('breaks ties on free instances (more first)', async () => {
    const a = clone(invB);
    const b = clone(invB);
    a.host = 'b1';
    b.host = 'b2';
    (b.types.find((t) => t.id === 'vgfx-16GB') as MdevType).available_instances = 7;
    const r = selectDestinations(await fixtureList('gpu-b-16GB.json'), [a, b]);
    expect(brief(r)).toEqual(['b2/vgfx-16GB/new/5', 'b1/vgfx-16GB/new/5']);
    expect(r.candidates[1]?.reason).toMatch(/^fewer free instances than #1 \(1 vs 7\)/);
  });

  it('breaks ties on values at init_value before free instances', async () => {
    const list: ParamList = {...(await fixtureList('gpu-a-4GB.json'))};
    if (list.scheme !== 'v3') throw new Error('v3');
    delete list.params.ecc; // ecc -> off_value false: one write everywhere
    const r = selectDestinations(list, [invA]);
    expect(r.candidates.map((c) => [c.type_id, c.writes, c.init_matches])).toEqual([
      ['vgfx-4GB', 1, 4],
      ['vgfx-8GB', 2, 3],
    ]);
  });

  it('RFC v4: a free device of a type offering the version; no new device without instances', async () => {
    const r = selectDestinations(await fixtureList('v4-8GB.json'), [invV4], {includeRejected: true});
    expect(r.candidates).toEqual([
      expect.objectContaining({
        device: V4_LEGACY_DEV,
        writes: 2,
        planned_writes: [
          {param: 'device_model', from: 'org.project/graphics-card-legacy', to: 'org.project/graphics-card'},
          {param: 'version', from: 'legacy-8G', to: '8GB-v2'},
        ],
      }),
    ]);
    expect(r.rejected?.map((x) => x.reasons[0]?.code).sort()).toEqual(['IS_SOURCE', 'NO_AVAILABLE_INSTANCES', 'VERSION_NOT_OFFERED']);
  });

  it('PCI variant-driver devices are candidates too', async () => {
    const r = selectDestinations(await fixtureList('pci-vf-mlx5.json'), [invVF, invA, invBroken]);
    expect(brief(r)).toEqual([`pci-vf/null/${VF_DST}/2`]);
    expect(r.candidates[0]?.planned_writes).toEqual([
      {param: 'mtu', from: 1500, to: 9000},
      {param: 'num_queues', from: 32, to: 16},
    ]);
  });

  it('memory=16384 fits only gpu-a vgfx-8GB (a plain allowed value) and gpu-b vgfx-16GB', async () => {
    const r = selectDestinations(await fixtureList('gpu-a-8GB-mem16384.json'), [invA, invB]);
    expect([...new Set(r.candidates.map((c) => `${c.host}/${c.type_id}`))].sort()).toEqual(['gpu-a/vgfx-8GB', 'gpu-b/vgfx-16GB']);
  });

  it('gpu-a 4GB -> gpu-b: the free 4GB instance (1 write) ranks above the free 8GB one (2 writes)', async () => {
    const r = selectDestinations(await fixtureList('gpu-a-4GB.json'), [invB]);
    const at = (dev: string) => r.candidates.find((c) => c.device === dev);
    expect(at(GPU_B_4GB_DEV)).toMatchObject({rank: 1, writes: 1, planned_writes: [{param: 'hdr', from: true, to: false}]});
    expect(at(GPU_B_8GB_DEV)).toMatchObject({writes: 2, planned_writes: [{param: 'hdr', from: true, to: false}, {param: 'memory', from: 8192, to: 4096}]});
    expect(r.candidates.some((c) => c.type_id === 'vgfx-16GB')).toBe(false);
  });

  it('broken vendor data: unreadable devices and bad types are rejected, the valid ones stay', () => {
    const list: ParamList = {apiVersion: 'vfio-mig/v1', kind: 'ParamList', scheme: 'v3', model: 'vendor-b.com/gfx', params: {memory: 4096, ecc: true}, source: {host: 'x', device: 'y'}};
    const r = selectDestinations(list, [invBroken], {includeRejected: true});
    expect(brief(r)).toEqual(['broken/bgfx-valid/c497cf62-6426-4ca3-9328-b1402ed22218/0', 'broken/bgfx-valid/new/0']);
    const rejectedDevices = Object.fromEntries((r.rejected ?? []).filter((x) => x.device).map((x) => [x.device, x.reasons.map((y) => y.code)]));
    expect(rejectedDevices).toEqual({
      '3a47db1d-d438-4ea2-a566-a61bf00289d8': ['DEVICE_UNREADABLE'],
      '594e7a2c-f140-47b4-a232-72da973135bc': ['DEVICE_UNREADABLE'],
    });
    // Every bgfx type but the valid one is rejected for its metadata.
    const badTypes = (r.rejected ?? []).filter((x) => !x.device && x.reasons[0]?.code === 'NO_METADATA').map((x) => x.type_id);
    expect(badTypes).toHaveLength(14);
  });

  it('in-use devices are not free', async () => {
    const inv = clone(invB);
    (inv.devices.find((d) => d.kind === 'mdev' && d.uuid === GPU_B_8GB_DEV) as MdevDevice).in_use = {pids: [99]};
    const r = selectDestinations(await fixtureList('gpu-a-8GB.json'), [inv], {includeRejected: true});
    expect(r.candidates.some((c) => c.device === GPU_B_8GB_DEV)).toBe(false);
    expect(r.rejected).toContainEqual(expect.objectContaining({device: GPU_B_8GB_DEV, reasons: [expect.objectContaining({code: 'DEVICE_IN_USE', pids: [99]})]}));
  });

  it('limit keeps the best N; no candidate at all is an empty list', async () => {
    const list = await fixtureList('gpu-a-8GB.json');
    const one = selectDestinations(list, [invA, invB], {limit: 1});
    expect(one.candidates).toHaveLength(1);
    expect(one.considered.candidates).toBe(4);
    const none = selectDestinations({...list, model: 'nobody.org/x'} as ParamList, [invA, invB]);
    expect(none.candidates).toEqual([]);
    expect(none.rejected).toBeUndefined();
  });

  it('has a stable order', async () => {
    const list = await fixtureList('gpu-a-4GB.json');
    expect(brief(selectDestinations(list, [invB, invA]))).toEqual(brief(selectDestinations(list, [invA, invB])));
    expect(GPU_A_4GB_DEV).toBeDefined();
  });
});
