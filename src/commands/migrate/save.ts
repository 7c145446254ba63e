import {Args, Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {exitCodes} from '../../cli/help.js';
import {fields, plural} from '../../cli/render.js';
import {withEvents} from '../../cli/progress.js';
import {requireDevice} from '../../lib/enumerate/index.js';
import {saveDevice, type SaveResult} from '../../lib/migrate/save.js';

export default class MigrateSave extends BaseCommand<typeof MigrateSave, SaveResult> {
  static override summary = "Save a device's migration state to a file or stdout.";
  static override description =
    'RUNNING [-> PRE_COPY rounds] -> STOP_COPY, the state streamed by the engine in checksummed chunks ' +
    '(or bare bytes with --raw), then STOP (or RUNNING with --resume). A file is written under a temporary ' +
    'name and renamed when complete. On any failure the source goes back to RUNNING (or is reset if it went ' +
    'to ERROR) and no file is left behind. With --out - the state goes to stdout and every message to stderr.' + exitCodes({0: 'saved', 3: 'runtime failure: the source is back in RUNNING, no file left behind', 4: 'the source went to ERROR and was reset', 5: 'recovery failed: the device needs attention'});

  static override examples = [
    '<%= config.bin %> migrate save 50042111-191b-421a-9586-d94555853d83 --out gpu.state',
    '<%= config.bin %> migrate save 50042111-191b-421a-9586-d94555853d83 --out - --precopy-rounds 4 | ssh dst vfio-mig migrate load 0e352e90-823f-4f5d-9221-86e662934044 --in -',
  ];

  static override args = {device: Args.string({required: true, description: 'mdev UUID or PCI address of the source'})};
  protected override jsonLines = true;

  static override flags = {
    out: Flags.string({required: true, description: 'file to write, or - for stdout'}),
    raw: Flags.boolean({description: 'write the bare device bytes (no header, chunks or checksums)'}),
    'precopy-rounds': Flags.integer({description: 'PRE_COPY rounds before STOP_COPY when the device offers PRE_COPY', default: 0, min: 0, max: 1000}),
    resume: Flags.boolean({description: 'return the source to RUNNING after the save (a snapshot) instead of STOP'}),
  };

  protected async execute(): Promise<Outcome<SaveResult>> {
    this.stdoutIsData = this.flags.out === '-';
    // A missing device is a usage error (exit 2), found before the engine starts.
    await requireDevice(this.sysfs(), this.args.device);
    const result = await withEvents({json: this.jsonEnabled(), stream: this.stdoutIsData ? process.stderr : process.stdout}, (onEvent) =>
      saveDevice({
        sysfs: this.sysfs(),
        device: this.args.device,
        output: this.flags.out === '-' ? {fd: 1} : {path: this.flags.out},
        raw: this.flags.raw,
        precopyRounds: this.flags['precopy-rounds'],
        resume: this.flags.resume,
        onEvent,
      }),
    );
    return {
      result,
      exitCode: 0,
      human: () =>
        fields([
          ['saved', `${result.device} -> ${result.output}`],
          ['payload', `${result.payload_bytes} bytes${result.raw ? ' (raw)' : ` in ${plural(result.chunks, 'chunk')}, stream ${result.stream_bytes} bytes`}`],
          ['pre-copy rounds', result.precopy_rounds.length || undefined],
          ['stop-copy time', `${result.stop_copy_ms} ms`],
          ['source now', result.final_state],
        ]),
    };
  }
}
