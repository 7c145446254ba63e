import {hostName, normalizeDeviceId, parseVgpuTypes, readDevice, readDevices, readInventory, readTypes} from '../../src/lib/enumerate/index.js';
import {inventory as inventorySchema} from '../../src/lib/schema/generated/inventory.js';
import {schemaProblems} from '../../src/lib/schema/index.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {fixtureHost} from '../helpers/cli.js';

const host = (name: string) => new SysfsRoot(fixtureHost(name));

describe('enumeration of the fixture hosts', () => {
  it('gpu-a: two types of one v3 model, with parameters and free instances', async () => {
    const types = await readTypes(host('gpu-a'));
    expect(types.map((t) => [t.parent, t.id, t.available_instances])).toEqual([
      ['0000:65:00.0', 'vgfx-4GB', 3],
      ['0000:65:00.0', 'vgfx-8GB', 1],
    ]);
    const eight = types[1]!;
    expect(eight.problems).toEqual([]);
    expect(eight.migration).toMatchObject({scheme: 'v3', model: 'vendor-a.com/gfx'});
    if (eight.migration?.scheme !== 'v3') throw new Error('v3 expected');
    expect(eight.migration.params.memory).toEqual({
      type: 'int',
      init_value: 8192,
      allowed_values: ['1024-8192', 16384],
      description: expect.any(String),
    });
    expect(eight.migration.params.ecc).toMatchObject({type: 'bool', init_value: true, off_value: false});
  });

  it('gpu-a: devices with typed values and in-use detection through proc/<pid>/fd', async () => {
    const devices = await readDevices(host('gpu-a'));
    expect(devices).toHaveLength(2);
    const [four, eight] = devices;
    expect(four).toMatchObject({
      kind: 'mdev',
      uuid: '50042111-191b-421a-9586-d94555853d83',
      type_id: 'vgfx-4GB',
      parent: '0000:65:00.0',
      iommu_group: 41,
      in_use: null,
      migration: {scheme: 'v3', values: {memory: 4096, ecc: true, profile: 'v2', encoder: 0, queues: 4}},
    });
    expect(eight).toMatchObject({type_id: 'vgfx-8GB', in_use: {pids: [4242]}, migration: {values: {ecc: false, encoder: 2}}});
  });

  it('v4-host: version strings per model, several models on one type', async () => {
    const types = await readTypes(host('v4-host'));
    const eight = types.find((t) => t.id === 'vgfx-8GB');
    expect(eight?.migration).toEqual({
      scheme: 'v4',
      models: [
        {model: 'org.project/graphics-card', versions: ['8GB-v1', '8GB-v2']},
        {model: 'org.project/graphics-card-legacy', versions: ['legacy-8G']},
      ],
    });
    const device = await readDevice(host('v4-host'), 'B934BC0B-2AAB-4568-88A7-5B0736A39ED0');
    expect(device.migration).toEqual({scheme: 'v4', model: 'org.project/graphics-card', version: '8GB-v2'});
  });

  it('pci-vf: variant-driver VFs, plain vfio-pci, NVIDIA vGPU VFs; not the NVMe or the PFs', async () => {
    const devices = await readDevices(host('pci-vf'));
    expect(devices.map((d) => (d.kind === 'pci' ? `${d.bdf} ${d.driver}` : d.uuid))).toEqual([
      '0000:01:00.1 mlx5_vfio_pci',
      '0000:01:00.2 mlx5_vfio_pci',
      '0000:02:00.1 hisi_acc_vfio_pci',
      '0000:03:00.0 vfio-pci',
      '0000:05:00.4 nvidia',
      '0000:05:00.5 nvidia',
    ]);
    const mlx = devices[0];
    expect(mlx).toMatchObject({
      physfn: '0000:01:00.0',
      vfio_dev: 'vfio0',
      iommu_group: 11,
      in_use: {pids: [5150]},
      migration: {scheme: 'v3', model: 'nvidia.com/mlx5-vf', values: {mtu: 9000, roce: true}},
    });
    const l4 = devices[4];
    expect(l4?.kind === 'pci' && l4.nvidia).toEqual({
      creatable_vgpu_types: [
        {id: 558, name: 'NVIDIA L4-2B'},
        {id: 560, name: 'NVIDIA L4-2Q'},
        {id: 574, name: 'NVIDIA L4-2A'},
      ],
      current_vgpu_type: {id: 560, name: 'NVIDIA L4-2Q'},
    });
    expect(devices[5]?.kind === 'pci' && devices[5].nvidia?.current_vgpu_type).toBeNull();
  });

  it('broken: every bad type carries a problem; the valid one none', async () => {
    const types = await readTypes(host('broken'));
    const byId = Object.fromEntries(types.map((t) => [t.id, t]));
    expect(byId['bgfx-valid']?.problems).toEqual([]);
    for (const t of types.filter((x) => x.id !== 'bgfx-valid')) {
      expect(t.migration).toBeNull();
      expect(t.problems.length).toBeGreaterThan(0);
    }
    expect(byId['bgfx-hostile-name-dotdot']?.problems.join()).toMatch(/invalid name "\.\.\/x"/);
  });

  it('an inventory of every host matches the inventory schema, with the host name from proc', async () => {
    for (const name of ['gpu-a', 'gpu-b', 'pci-vf', 'v4-host', 'broken']) {
      const inventory = await readInventory(host(name));
      expect(inventory.host).toBe(name);
      expect(schemaProblems(inventorySchema, inventory)).toEqual([]);
    }
    expect(await hostName(host('gpu-b'))).toBe('gpu-b');
  });

  it('device ids: UUIDs in any case, BDFs with or without a domain, nothing else', async () => {
    expect(normalizeDeviceId('65:00.0')).toEqual({kind: 'pci', id: '0000:65:00.0'});
    expect(normalizeDeviceId('../x')).toBeUndefined();
    await expect(readDevice(host('gpu-a'), '../../etc')).rejects.toThrow(/not an mdev UUID or a PCI address/);
    await expect(readDevice(host('gpu-a'), '00000000-0000-0000-0000-000000000000')).rejects.toThrow(
      /no such mdev device under .*sys\/bus\/mdev\/devices; see 'vfio-mig list'/,
    );
    await expect(readDevice(host('pci-vf'), '0000:04:00.0')).rejects.toThrow(/not bound to vfio-pci/);
  });

  it("parses NVIDIA's creatable_vgpu_types table", () => {
    expect(parseVgpuTypes('ID    : vGPU Name\n557   : NVIDIA L4-1B\n')).toEqual([{id: 557, name: 'NVIDIA L4-1B'}]);
  });
});
