import {Args, Flags} from '@oclif/core';

import {requireDevice} from '../../lib/enumerate/index.js';
import {checkInputFile} from '../../lib/format/input.js';
import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {deviceInterfaceFlag} from '../../cli/device-interface.js';
import {exitCodes} from '../../cli/help.js';
import {fields} from '../../cli/render.js';
import {interruptible} from '../../cli/interrupt.js';
import {withEvents} from '../../cli/progress.js';
import {loadDevice, loadGroup, type LoadGroupResult, type LoadResult} from '../../lib/migrate/load.js';

export default class MigrateLoad extends BaseCommand<typeof MigrateLoad, LoadResult | LoadGroupResult> {
  static override summary = 'Load a saved migration state into a prepared destination device.';
  static override description =
    "Reads the stream's header and checks it against the destination (model, parameters, prepared values) " +
    'before touching the device; then RESUMING, each chunk verified before it reaches the device, STOP (the ' +
    'driver validates the state) and RUNNING. A corrupt or truncated stream, or state the driver rejects, ' +
    "resets the device and exits 3 (\"stream corrupt at byte N\"). SIGINT/SIGTERM/SIGHUP cancel the load and " +
    'reset the device; if this process is killed the engine resets it on its own. A group stream file (not --in -; migrate save of ' +
    'several devices) takes one destination per device, in stream order: every one is checked against its device ' +
    'before any is touched and must offer P2P; all go to RESUMING, the devices are loaded one after the other, then ' +
    'all STOP, RUNNING_P2P and RUNNING together; any failure resets every destination. Every destination first has ' +
    'an interrupted prepare rolled back.' + exitCodes({0: 'loaded, the device running', 3: 'a corrupt stream or a refused load: the destination was reset', 4: 'the destination went to ERROR and was reset', 5: 'recovery failed: the device needs attention', interrupted: 'interrupted by SIGHUP, SIGINT or SIGTERM: the destination was reset'});

  static override examples = [
    '<%= config.bin %> migrate load 0e352e90-823f-4f5d-9221-86e662934044 --in gpu.state',
    '<%= config.bin %> migrate load 0e352e90-823f-4f5d-9221-86e662934044 53855a71-05db-469b-a0c8-32f60480c57b --in vm.state',
    'ssh src vfio-mig migrate save 50042111-191b-421a-9586-d94555853d83 --out - | <%= config.bin %> migrate load 0e352e90-823f-4f5d-9221-86e662934044 --in -',
  ];

  static override args = {device: Args.string({required: true, description: 'mdev UUID or PCI address of the destination; a group stream: one per device, in stream order'})};
  // More destinations after the first: a group stream (checked in execute).
  static override strict = false;
  protected override jsonLines = true;

  static override flags = {
    'device-interface': deviceInterfaceFlag,
    'trust-driver': Flags.boolean({description: "skip vfio-mig's compatibility check of the stream header; the destination driver alone decides (at RESUMING)"}),
    rules: Flags.string({multiple: true, description: 'rule-set files or directories, before <root>/etc/vfio-mig/rules.d and the shipped ones'}),
    in: Flags.string({required: true, description: 'file to read, or - for stdin'}),
    raw: Flags.boolean({description: 'the input is bare device bytes (no header: nothing is checked before loading)'}),
  };

  protected async execute(): Promise<Outcome<LoadResult | LoadGroupResult>> {
    // Usage errors (exit 2) found before the engine starts: a missing device, an input that is
    // not a regular file (a FIFO would block the engine's read).
    const {argv} = await this.parse(MigrateLoad);
    const devices = argv as string[];
    for (const d of devices) await requireDevice(this.sysfs(), d);
    if (this.flags.in !== '-') await checkInputFile(this.flags.in, 'state stream');
    const result = await interruptible((signal) => withEvents({json: this.jsonEnabled(), stream: process.stdout}, (onEvent): Promise<LoadResult | LoadGroupResult> =>
    {
      const common = {
        signal,
        sysfs: this.sysfs(),
        deviceInterface: this.flags['device-interface'],
        input: this.flags.in === '-' ? {fd: 0} : {path: this.flags.in},
        raw: this.flags.raw,
        headerCheck: {trustDriver: this.flags['trust-driver'], ...(this.flags.rules ? {rules: this.flags.rules} : {})},
        onEvent,
      };
      return devices.length > 1 ? loadGroup({...common, devices}) : loadDevice({...common, device: devices[0]!});
    }));
    if ('members' in result) {
      return {
        result,
        exitCode: 0,
        human: () =>
          fields(
            result.members.flatMap((m): [string, string | undefined][] => [
              ['loaded', `${result.input} -> ${m.device}`],
              ['from', m.source ? `${m.source.host}/${m.source.device}` : undefined],
              ['payload', `${m.payload_bytes} bytes`],
              ['rolled back', m.recovered_prepare ? `an interrupted prepare (pid ${m.recovered_prepare.pid})` : undefined],
              ['device now', m.final_state],
            ]),
          ),
      };
    }
    return {
      result,
      exitCode: 0,
      human: () =>
        fields([
          ['loaded', `${result.input} -> ${result.device}`],
          ['from', result.source ? `${result.source.host}/${result.source.device}` : undefined],
          ['payload', `${result.payload_bytes} bytes`],
          ['rolled back', result.recovered_prepare ? `an interrupted prepare (pid ${result.recovered_prepare.pid}): ${result.recovered_prepare.restored.map((r) => r.param).join(', ')}` : undefined],
          ['device now', result.final_state],
        ]),
    };
  }
}
