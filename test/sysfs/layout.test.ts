/** The host layout has one owner (src/lib/sysfs/layout.ts); the engine's copy is pinned here. */
import {readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';

import {layout} from '../../src/lib/sysfs/layout.js';
import {repoRoot} from '../helpers/cli.js';

describe('host layout', () => {
  it('the engine spells no host path: it opens the paths it is given (no sysfs_root, no sys/ or dev/ literal)', () => {
    const engine = readFileSync(path.join(repoRoot, 'engine/src/main.c'), 'utf8');
    expect(engine).not.toMatch(/"[^"\n]*(sys\/bus|sys\/class|dev\/vfio|dev\/iommu|iommu_group|vfio-dev)[^"\n]*"/);
    expect(engine).not.toContain('sysfs_root');
    for (const key of ['group_path', 'container_path', 'cdev_path', 'iommufd_path']) expect(engine).toContain(`"${key}"`);
  });

  it('paths are joined from checked names only, below the root', () => {
    expect(layout.typeDir('0000:65:00.0', 'vgfx-4GB')).toBe('sys/class/mdev_bus/0000:65:00.0/mdev_supported_types/vgfx-4GB');
    expect(layout.migrationFile('sys/bus/mdev/devices/u', 'memory')).toBe('sys/bus/mdev/devices/u/migration/memory');
    expect(layout.vfioGroup(12)).toBe('/dev/vfio/12');
    expect(layout.vfioCdev('vfio3')).toBe('/dev/vfio/devices/vfio3');
    expect(layout.vfioGroupNode(12)).toBe('dev/vfio/12');
    expect(layout.vfioCdevNode('vfio3')).toBe('dev/vfio/devices/vfio3');
    expect([layout.vfioContainer, layout.iommufd]).toEqual(['dev/vfio/vfio', 'dev/iommu']);
    expect(layout.iommuGroupLink(layout.mdevDevice('u'))).toBe('sys/bus/mdev/devices/u/iommu_group');
    expect(layout.vfioDevDir(layout.pciDevice('0000:01:00.1'))).toBe('sys/bus/pci/devices/0000:01:00.1/vfio-dev');
    expect(layout.procFdDir('42')).toBe('proc/42/fd');
    expect(layout.lockFile('0000:01:00.1')).toBe('run/vfio-mig/0000:01:00.1.lock');
  });
});

describe('host layout: no other source spells a host path', () => {
  it('no src/ file but layout.ts holds a sys/, proc/, dev/, run/, etc/ path, a migration/ dir, create/remove or migration_info.json', () => {
    const files = listTs(path.join(repoRoot, 'src'));
    expect(files.length).toBeGreaterThan(50);
    const spelled: string[] = [];
    for (const file of files) {
      if (file.endsWith(path.join('sysfs', 'layout.ts'))) continue;
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // Comments may name paths; code asks layout.
          if (/^\s*(\*|\/\/|\/\*)/.test(line)) return;
          if (/[`'"](sys|proc|dev|run|etc)\/|\/migration[`'/]|\/(create|remove|migration_info\.json|migration_device_models)[`']/.test(line)) spelled.push(`${path.relative(repoRoot, file)}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(spelled).toEqual([]);
  });

  it('the scratch mdev and migration paths', () => {
    expect(layout.typeCreate('0000:65:00.0', 'vgfx-4GB')).toBe('sys/class/mdev_bus/0000:65:00.0/mdev_supported_types/vgfx-4GB/create');
    expect(layout.mdevRemove('u')).toBe('sys/bus/mdev/devices/u/remove');
    expect(layout.migrationDir(layout.device('pci', '0000:01:00.1'))).toBe('sys/bus/pci/devices/0000:01:00.1/migration');
    expect(layout.migrationInfo('x')).toBe('x/migration_info.json');
  });
});

function listTs(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) =>
    e.isDirectory() ? (e.name === 'generated' ? [] : listTs(path.join(dir, e.name))) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : [],
  );
}
