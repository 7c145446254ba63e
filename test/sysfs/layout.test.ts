/** The host layout has one owner (src/lib/sysfs/layout.ts); the engine's copy is pinned here. */
import {readFileSync} from 'node:fs';
import path from 'node:path';

import {layout} from '../../src/lib/sysfs/layout.js';
import {repoRoot} from '../helpers/cli.js';

describe('host layout', () => {
  it("the engine builds a device's iommu_group path as layout does (the engine takes sysfs_root, not resolved paths)", () => {
    const engine = readFileSync(path.join(repoRoot, 'engine/src/main.c'), 'utf8');
    expect(engine).toContain('"%s/sys/bus/%s/devices/%s/iommu_group"');
    for (const bus of ['mdev', 'pci'] as const) {
      expect(`${layout.device(bus, 'X')}/iommu_group`).toBe(`sys/bus/${bus}/devices/X/iommu_group`);
    }
  });

  it('paths are joined from checked names only, below the root', () => {
    expect(layout.typeDir('0000:65:00.0', 'vgfx-4GB')).toBe('sys/class/mdev_bus/0000:65:00.0/mdev_supported_types/vgfx-4GB');
    expect(layout.migrationFile('sys/bus/mdev/devices/u', 'memory')).toBe('sys/bus/mdev/devices/u/migration/memory');
    expect(layout.vfioGroup(12)).toBe('/dev/vfio/12');
    expect(layout.vfioCdev('vfio3')).toBe('/dev/vfio/devices/vfio3');
    expect(layout.procFdDir('42')).toBe('proc/42/fd');
    expect(layout.lockFile('0000:01:00.1')).toBe('run/vfio-mig/0000:01:00.1.lock');
  });
});
