import {Flags} from '@oclif/core';

import {requireDevice} from '../../lib/enumerate/index.js';
import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {exitCodes} from '../../cli/help.js';
import {fields} from '../../cli/render.js';
import {withEvents} from '../../cli/progress.js';
import {runMigration, type RunResult} from '../../lib/migrate/run.js';

export default class MigrateRun extends BaseCommand<typeof MigrateRun, RunResult> {
  static override summary = 'Migrate a device to another on this host, through a pipe between two engines.';
  static override description =
    'Checks the destination against the source (model, parameters, prepared values), then saves from the ' +
    'source while loading into the destination. On any failure the source goes back to RUNNING and the ' +
    'destination is reset; the source is left in STOP only once the destination runs.' + exitCodes({0: 'migrated', 3: 'runtime failure: the source is back in RUNNING, the destination reset', 4: 'a device went to ERROR and was reset', 5: 'recovery failed: a device needs attention'});

  static override examples = [
    '<%= config.bin %> migrate run --source 50042111-191b-421a-9586-d94555853d83 --dest 0e352e90-823f-4f5d-9221-86e662934044',
  ];

  protected override jsonLines = true;

  static override flags = {
    source: Flags.string({required: true, description: 'mdev UUID or PCI address of the source'}),
    dest: Flags.string({required: true, description: 'mdev UUID or PCI address of the destination'}),
    'precopy-rounds': Flags.integer({description: 'PRE_COPY rounds before STOP_COPY when the source offers PRE_COPY', default: 0, min: 0, max: 1000}),
  };

  protected async execute(): Promise<Outcome<RunResult>> {
    // Missing devices are usage errors (exit 2), found before the engine starts.
    await requireDevice(this.sysfs(), this.flags.source);
    await requireDevice(this.sysfs(), this.flags.dest);
    const result = await withEvents({json: this.jsonEnabled(), stream: process.stdout}, (onEvent) =>
      runMigration({
        sysfs: this.sysfs(),
        source: this.flags.source,
        dest: this.flags.dest,
        precopyRounds: this.flags['precopy-rounds'],
        onEvent,
      }),
    );
    return {
      result,
      exitCode: 0,
      human: () =>
        fields([
          ['migrated', `${result.source} -> ${result.dest}`],
          ['payload', `${result.payload_bytes} bytes`],
          ['pre-copy rounds', result.precopy_rounds.length || undefined],
          ['stop-copy time', `${result.stop_copy_ms} ms`],
          ['source now', result.source_state],
          ['destination now', result.dest_state],
        ]),
    };
  }
}
