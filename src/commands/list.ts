import {BaseCommand, type Outcome} from '../cli/base-command.js';
import {exitCodes} from '../cli/help.js';
import {plural, showValue, table} from '../cli/render.js';
import {readDevices} from '../lib/enumerate/index.js';
import type {VfioDevice} from '../lib/model/types.js';

export interface ListResult {
  devices: VfioDevice[];
}

export function migrationSummary(device: VfioDevice): string {
  const m = device.migration;
  if (m?.scheme === 'v3') {
    return `${m.model} ${Object.entries(m.values)
      .map(([k, v]) => `${k}=${showValue(v)}`)
      .join(' ')}`;
  }
  if (m?.scheme === 'v4') return `${m.model} version ${m.version}`;
  if (device.kind === 'pci' && device.nvidia) {
    const current = device.nvidia.current_vgpu_type;
    return current ? `vGPU ${current.id} (${current.name})` : `no vGPU type set (${device.nvidia.creatable_vgpu_types.length} creatable)`;
  }
  return '-';
}

export default class List extends BaseCommand<typeof List, ListResult> {
  static override summary = 'List VFIO device instances and their current migration settings.';
  static override description =
    'mdev devices (sys/bus/mdev/devices) with their type and current migration/<param> values or ' +
    'migration/device_model and version; PCI devices bound to vfio-pci or a vfio-pci variant driver ' +
    '(mlx5_vfio_pci, hisi_acc_vfio_pci, ...) with their IOMMU group and vfio-dev cdev; NVIDIA vGPU 17+ VFs ' +
    'with their creatable and current vGPU types. A device whose VFIO group is open is shown as in use.' + exitCodes({0: 'the devices listed'});

  static override examples = ['<%= config.bin %> list', '<%= config.bin %> list --yaml --sysfs-root fixtures/hosts/pci-vf'];

  protected async execute(): Promise<Outcome<ListResult>> {
    const devices = await readDevices(this.sysfs());
    return {
      result: {devices},
      exitCode: 0,
      human: () => {
        if (devices.length === 0) return 'no VFIO devices';
        const rows = devices.map((d) => [
          d.kind === 'mdev' ? d.uuid : d.bdf,
          d.kind === 'mdev' ? `mdev ${d.type_id}` : `pci ${d.driver}`,
          d.iommu_group === undefined ? '-' : String(d.iommu_group),
          d.in_use ? `pid ${d.in_use.pids.join(',')}` : 'free',
          migrationSummary(d) + (d.problems.length > 0 ? ` [${plural(d.problems.length, 'problem')}]` : ''),
        ]);
        return table(['DEVICE', 'KIND', 'GROUP', 'USE', 'MIGRATION'], rows);
      },
    };
  }
}
