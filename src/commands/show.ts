import {Args} from '@oclif/core';

import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {escapeField, fields, showValue} from '../cli/render.js';
import {deviceType, findTypes, isSysfsName, normalizeDeviceId, readDevice, readDevices, readTypes} from '../lib/enumerate/index.js';
import {deviceInterfaces, type DeviceInterfaces} from '../lib/enumerate/access.js';
import {InputError} from '../lib/errors.js';
import type {MdevType, VfioDevice} from '../lib/model/types.js';
import {describeType, describeTypeMigration} from './types.js';

export type ShowResult =
  | {kind: 'device'; device: VfioDevice; type: MdevType | null; interfaces: DeviceInterfaces}
  | {kind: 'type'; types: MdevType[]; devices: VfioDevice[]};

function describeDevice(device: VfioDevice, type: MdevType | null, ifs: DeviceInterfaces): string {
  const lines = [
    fields([
      ['device', device.kind === 'mdev' ? device.uuid : device.bdf],
      ['kind', device.kind],
      ['parent', device.kind === 'mdev' ? device.parent : device.physfn],
      ['type', device.kind === 'mdev' ? device.type_id : undefined],
      ['driver', device.driver],
      ['iommu_group', device.iommu_group],
      ['vfio_dev', device.vfio_dev],
      ['opens through', ifs.offered.length ? `${ifs.offered.join(', ')} (auto: ${ifs.auto})` : 'nothing (no /dev/vfio group node, no vfio-dev cdev)'],
      ['vendor:device', device.kind === 'pci' && device.vendor_id ? `${device.vendor_id}:${device.device_id ?? ''}` : undefined],
      ['in use', device.in_use ? `yes, by pid ${device.in_use.pids.join(', ')}` : 'no'],
    ]),
  ];
  const m = device.migration;
  if (m?.scheme === 'v3') {
    lines.push(`model: ${escapeField(m.model)}`, 'migration parameters:');
    for (const [k, v] of Object.entries(m.values)) lines.push(`  ${escapeField(k)} = ${showValue(v)}`);
  } else if (m?.scheme === 'v4') {
    lines.push(`model: ${escapeField(m.model)}`, `version: ${escapeField(m.version)}`);
  }
  if (device.kind === 'pci' && device.nvidia) {
    const cur = device.nvidia.current_vgpu_type;
    lines.push(`current vGPU type: ${cur ? escapeField(`${cur.id} (${cur.name})`) : 'none'}`, 'creatable vGPU types:');
    for (const t of device.nvidia.creatable_vgpu_types) lines.push(`  ${t.id}  ${escapeField(t.name)}`);
  }
  const meta = type ?? (device.kind === 'pci' && device.type_migration ? {migration: device.type_migration, problems: []} : null);
  if (meta) lines.push('type metadata:', describeTypeMigration(meta));
  for (const p of device.problems) lines.push(`problem: ${escapeField(p)}`);
  return lines.join('\n');
}

export default class Show extends BaseCommand<typeof Show, ShowResult> {
  static override summary = 'Show everything about one device (UUID or BDF) or mdev type.';
  static override description = exitCodes({0: 'shown'}).trimStart();
  static override examples = [
    '<%= config.bin %> show 0000:01:00.1',
    '<%= config.bin %> show vgfx-8GB --sysfs-root fixtures/hosts/gpu-a',
  ];

  static override args = {
    id: Args.string({required: true, description: 'an mdev UUID, a PCI address, or a type id (optionally <parent>/<type>)'}),
  };

  protected async execute(): Promise<Outcome<ShowResult>> {
    const sysfs = this.sysfs();
    const id = this.args.id;
    const types = await readTypes(sysfs);
    if (normalizeDeviceId(id)) {
      const device = await readDevice(sysfs, id, types);
      const type = deviceType(device, types);
      const interfaces = await deviceInterfaces(sysfs, id);
      return {result: {kind: 'device', device, type, interfaces}, exitCode: 0, human: () => describeDevice(device, type, interfaces)};
    }
    const matches = findTypes(types, id);
    if (matches.length === 0) {
      const hint = isSysfsName(id.replace('/', '')) ? "see 'vfio-mig types' for the type ids" : 'not a device or type id';
      throw new InputError(`${id}: no such device or mdev type; ${hint}`, 'NOT_FOUND');
    }
    const devices = (await readDevices(sysfs, types)).filter(
      (d) => d.kind === 'mdev' && matches.some((t) => t.id === d.type_id && t.parent === d.parent),
    );
    return {
      result: {kind: 'type', types: matches, devices},
      exitCode: 0,
      human: () => {
        const blocks = matches.map(describeType);
        const instances = devices.map((d) => `  ${d.kind === 'mdev' ? d.uuid : d.bdf}${d.in_use ? ' (in use)' : ''}`);
        return `${blocks.join('\n\n')}\ninstances:${instances.length === 0 ? ' none' : `\n${instances.join('\n')}`}`;
      },
    };
  }
}
