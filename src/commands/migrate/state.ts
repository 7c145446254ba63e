import {Args, Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {deviceInterfaceFlag} from '../../cli/device-interface.js';
import {exitCodes} from '../../cli/help.js';
import {InputError} from '../../lib/errors.js';
import {parseState, stateName} from '../../lib/fsm/states.js';
import {resolveDeviceAccess} from '../../lib/enumerate/access.js';
import {DeviceControl, type StepRecord} from '../../lib/migrate/control.js';
import {startEngine} from '../../lib/migrate/session.js';

export interface StateResult {
  device: string;
  state: string;
  steps: StepRecord[];
}

export default class MigrateState extends BaseCommand<typeof MigrateState, StateResult> {
  static override summary = "Read a device's migration state, or move it (arc by arc) or reset it.";
  static override description =
    'Without flags: the current state. --set walks the kernel\'s arcs one SET at a time (so a failure ' +
    'names its arc) and refuses transitions the kernel refuses; --reset issues VFIO_DEVICE_RESET, the only ' +
    'way out of ERROR. What a device does when its last user closes it is up to its driver (the upstream ' +
    'mtty sample on 6.12 keeps STOP, for one): nothing is assumed, the state shown is read from the device. ' +
    'A source left in STOP can be brought back with --set running (or --reset).' + exitCodes({0: 'the state (after --set or --reset)', 3: 'runtime failure: a transition refused by the driver, the device usable', 4: 'the device went to ERROR and was reset', 5: 'recovery failed: the device needs attention'});

  static override examples = [
    '<%= config.bin %> migrate state 0000:01:00.1',
    '<%= config.bin %> migrate state 0000:01:00.1 --set stop_copy',
    '<%= config.bin %> migrate state 0000:01:00.1 --reset',
  ];

  static override args = {device: Args.string({required: true, description: 'mdev UUID or PCI address'})};
  static override flags = {
    'device-interface': deviceInterfaceFlag,
    set: Flags.string({description: 'target state (STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P)', exclusive: ['reset']}),
    reset: Flags.boolean({description: 'VFIO_DEVICE_RESET: back to RUNNING from any state, ERROR included'}),
  };

  protected async execute(): Promise<Outcome<StateResult>> {
    const target = this.flags.set === undefined ? undefined : parseState(this.flags.set);
    if (target !== undefined && stateName(target) === 'ERROR') throw new InputError('ERROR cannot be set; it is where a failing device goes', 'BAD_STATE');
    const {device} = await resolveDeviceAccess(this.sysfs(), this.args.device, this.flags['device-interface']);
    const engine = await startEngine();
    try {
      const control = await DeviceControl.open(engine, device, this.sysfs(), this.flags['device-interface']);
      if (this.flags.reset) await control.reset();
      else if (target !== undefined) await control.stepTo(target);
      const state = stateName(await control.state());
      const result = {device, state, steps: control.steps};
      return {
        result,
        exitCode: 0,
        human: () =>
          [...control.steps.map((s) => `${s.from} -> ${s.to}`), `${device}: ${state}`].join('\n'),
      };
    } finally {
      await engine.close();
    }
  }
}
