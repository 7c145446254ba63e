import {Args} from '@oclif/core';

import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {deviceInterfaceFlag} from '../../cli/device-interface.js';
import {exitCodes} from '../../cli/help.js';
import {fields} from '../../cli/render.js';
import {EngineError} from '../../lib/engine/errors.js';
import {resolveDeviceAccess, type DeviceInterface, type DeviceInterfaces} from '../../lib/enumerate/access.js';
import {flagNames, MigFlag, stateName, type MigStateValue} from '../../lib/fsm/states.js';
import {startEngine} from '../../lib/migrate/session.js';

export interface CapsResult {
  device: string;
  /** How the device was opened. */
  interface: DeviceInterface;
  /** What the device offers on this host (group node, cdev) and what auto picks. */
  interfaces: DeviceInterfaces;
  migration_supported: boolean;
  migration_flags: number;
  migration_flag_names: string[];
  state: string | null;
  stop_copy_length: number | null;
  error: string | null;
}

export default class MigrateCaps extends BaseCommand<typeof MigrateCaps, CapsResult> {
  static override summary = "A device's VFIO migration capabilities: flags, state, data size.";
  static override description =
    'Opens the device through the engine (its IOMMU group on a Type1v2 container, or its VFIO device cdev ' +
    'bound to an iommufd: see --device-interface) and reads ' +
    'VFIO_DEVICE_FEATURE_MIGRATION (STOP_COPY, P2P, PRE_COPY), the current state and, where the ' +
    'kernel and driver offer it, MIG_DATA_SIZE. Needs root and the device not in use.' + exitCodes({0: 'the capabilities read', 3: 'runtime failure: the engine could not open or query the device'});

  static override examples = ['<%= config.bin %> migrate caps 50042111-191b-421a-9586-d94555853d83'];
  static override args = {device: Args.string({required: true, description: 'mdev UUID or PCI address'})};
  static override flags = {'device-interface': deviceInterfaceFlag};

  protected async execute(): Promise<Outcome<CapsResult>> {
    const access = await resolveDeviceAccess(this.sysfs(), this.args.device, this.flags['device-interface']);
    const {device} = access;
    const engine = await startEngine();
    try {
      const opened = await engine.request('open', {device, ...access.paths});
      let state: string | null = null;
      let length: number | null = null;
      if (opened.migration_supported) {
        state = stateName((await engine.request('get_state', {})).state as MigStateValue);
        try {
          length = (await engine.request('data_size', {})).stop_copy_length;
        } catch (error) {
          if (!(error instanceof EngineError && error.notSupported)) throw error;
        }
      }
      const result: CapsResult = {
        device,
        interface: access.interface,
        interfaces: access.interfaces,
        migration_supported: opened.migration_supported,
        migration_flags: opened.migration_flags,
        migration_flag_names: flagNames(opened.migration_flags & (MigFlag.STOP_COPY | MigFlag.P2P | MigFlag.PRE_COPY)),
        state,
        stop_copy_length: length,
        error: opened.migration_error ?? null,
      };
      return {
        result,
        exitCode: 0,
        human: () =>
          fields([
            ['device', device],
            ['opened through', `${access.interface} (offered: ${access.interfaces.offered.join(', ')})`],
            ['migration', result.migration_supported ? 'supported' : `not supported${result.error ? ` (${result.error})` : ''}`],
            ['flags', result.migration_flag_names.join(', ') || undefined],
            ['state', result.state],
            ['stop-copy size', result.stop_copy_length === null ? (result.migration_supported ? 'not reported (MIG_DATA_SIZE unsupported)' : undefined) : `${result.stop_copy_length} bytes`],
          ]),
      };
    } finally {
      await engine.close();
    }
  }
}
