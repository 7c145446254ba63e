import {Args, Flags} from '@oclif/core';

import {requireDevice} from '../../lib/enumerate/index.js';
import {checkInputFile} from '../../lib/format/input.js';
import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {exitCodes} from '../../cli/help.js';
import {fields} from '../../cli/render.js';
import {interruptible} from '../../cli/interrupt.js';
import {withEvents} from '../../cli/progress.js';
import {loadDevice, type LoadResult} from '../../lib/migrate/load.js';

export default class MigrateLoad extends BaseCommand<typeof MigrateLoad, LoadResult> {
  static override summary = 'Load a saved migration state into a prepared destination device.';
  static override description =
    "Reads the stream's header and checks it against the destination (model, parameters, prepared values) " +
    'before touching the device; then RESUMING, each chunk verified before it reaches the device, STOP (the ' +
    'driver validates the state) and RUNNING. A corrupt or truncated stream, or state the driver rejects, ' +
    "resets the device and exits 3 (\"stream corrupt at byte N\"). SIGINT/SIGTERM/SIGHUP cancel the load and " +
    'reset the device; if this process is killed the engine resets it on its own.' + exitCodes({0: 'loaded, the device running', 3: 'a corrupt stream or a refused load: the destination was reset', 4: 'the destination went to ERROR and was reset', 5: 'recovery failed: the device needs attention', interrupted: 'interrupted by SIGHUP, SIGINT or SIGTERM: the destination was reset'});

  static override examples = [
    '<%= config.bin %> migrate load 0e352e90-823f-4f5d-9221-86e662934044 --in gpu.state',
    'ssh src vfio-mig migrate save 50042111-191b-421a-9586-d94555853d83 --out - | <%= config.bin %> migrate load 0e352e90-823f-4f5d-9221-86e662934044 --in -',
  ];

  static override args = {device: Args.string({required: true, description: 'mdev UUID or PCI address of the destination'})};
  protected override jsonLines = true;

  static override flags = {
    'trust-driver': Flags.boolean({description: "skip vfio-mig's compatibility check of the stream header; the destination driver alone decides (at RESUMING)"}),
    rules: Flags.string({multiple: true, description: 'rule-set files or directories, before <root>/etc/vfio-mig/rules.d and the shipped ones'}),
    in: Flags.string({required: true, description: 'file to read, or - for stdin'}),
    raw: Flags.boolean({description: 'the input is bare device bytes (no header: nothing is checked before loading)'}),
  };

  protected async execute(): Promise<Outcome<LoadResult>> {
    // Usage errors (exit 2) found before the engine starts: a missing device, an input that is
    // not a regular file (a FIFO would block the engine's read).
    await requireDevice(this.sysfs(), this.args.device);
    if (this.flags.in !== '-') await checkInputFile(this.flags.in, 'state stream');
    const result = await interruptible((signal) => withEvents({json: this.jsonEnabled(), stream: process.stdout}, (onEvent) =>
      loadDevice({
        signal,
        sysfs: this.sysfs(),
        device: this.args.device,
        input: this.flags.in === '-' ? {fd: 0} : {path: this.flags.in},
        raw: this.flags.raw,
        headerCheck: {trustDriver: this.flags['trust-driver'], ...(this.flags.rules ? {rules: this.flags.rules} : {})},
        onEvent,
      }),
    ));
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
