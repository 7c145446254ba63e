import {Flags} from '@oclif/core';

import {resolveDeviceAccess} from '../../lib/enumerate/access.js';
import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {deviceInterfaceFlag} from '../../cli/device-interface.js';
import {exitCodes} from '../../cli/help.js';
import {fields} from '../../cli/render.js';
import {interruptible} from '../../cli/interrupt.js';
import {withEvents} from '../../cli/progress.js';
import {DEFAULT_MAX_DOWNTIME_MS, DEFAULT_PRECOPY_ROUNDS} from '../../lib/migrate/precopy.js';
import {runMigration, type RunResult} from '../../lib/migrate/run.js';

export default class MigrateRun extends BaseCommand<typeof MigrateRun, RunResult> {
  static override summary = 'Migrate a device to another on this host, through a pipe between two engines.';
  static override description =
    'Checks the destination against the source (model, parameters, prepared values), then saves from the ' +
    'source while loading into the destination. When the source offers PRE_COPY, rounds go on while they ' +
    'shrink what is left, until it fits --max-downtime at the measured rate (or --precopy-rounds); then ' +
    'STOP_COPY. The first failure of either side, --timeout, or SIGINT/SIGTERM/SIGHUP cancels both transfers ' +
    'at once: the source goes back to RUNNING and the destination is reset. The source is left in STOP only ' +
    'once the destination runs. If this process is killed, the engines do the same on their own.' +
    exitCodes({0: 'migrated', 1: 'not compatible with, or not prepared for, the source', 3: 'runtime failure (or --timeout): the source is back in RUNNING, the destination reset', 4: 'a device went to ERROR and was reset', 5: 'recovery failed: a device needs attention', interrupted: 'interrupted by SIGHUP, SIGINT or SIGTERM: source RUNNING, destination reset'});

  static override examples = [
    '<%= config.bin %> migrate run --source 50042111-191b-421a-9586-d94555853d83 --dest 0e352e90-823f-4f5d-9221-86e662934044',
  ];

  protected override jsonLines = true;

  static override flags = {
    'device-interface': deviceInterfaceFlag,
    'trust-driver': Flags.boolean({description: "skip vfio-mig's compatibility check of the stream header; the destination driver alone decides (at RESUMING)"}),
    rules: Flags.string({multiple: true, description: 'rule-set files or directories, before <root>/etc/vfio-mig/rules.d and the shipped ones'}),
    source: Flags.string({required: true, description: 'mdev UUID or PCI address of the source'}),
    dest: Flags.string({required: true, description: 'mdev UUID or PCI address of the destination'}),
    'precopy-rounds': Flags.integer({description: 'at most this many PRE_COPY rounds when the source offers PRE_COPY (0: none)', default: DEFAULT_PRECOPY_ROUNDS, min: 0, max: 1000}),
    'max-downtime': Flags.integer({description: 'PRE_COPY rounds go on until what is left fits this many ms at the measured rate', default: DEFAULT_MAX_DOWNTIME_MS, min: 0}),
    timeout: Flags.integer({description: 'abort a STOP_COPY (until the destination runs) still going after this many ms', min: 1}),
  };

  protected async execute(): Promise<Outcome<RunResult>> {
    // Missing devices are usage errors (exit 2), found before the engine starts.
    await resolveDeviceAccess(this.sysfs(), this.flags.source, this.flags['device-interface']);
    await resolveDeviceAccess(this.sysfs(), this.flags.dest, this.flags['device-interface']);
    const result = await interruptible((signal) => withEvents({json: this.jsonEnabled(), stream: process.stdout}, (onEvent) =>
      runMigration({
        signal,
        sysfs: this.sysfs(),
        deviceInterface: this.flags['device-interface'],
        source: this.flags.source,
        dest: this.flags.dest,
        headerCheck: {trustDriver: this.flags['trust-driver'], ...(this.flags.rules ? {rules: this.flags.rules} : {})},
        precopyRounds: this.flags['precopy-rounds'],
        maxDowntimeMs: this.flags['max-downtime'],
        ...(this.flags.timeout === undefined ? {} : {timeoutMs: this.flags.timeout}),
        onEvent,
      }),
    ));
    return {
      result,
      exitCode: 0,
      human: () =>
        fields([
          ['migrated', `${result.source} -> ${result.dest}`],
          ['payload', `${result.payload_bytes} bytes`],
          ['pre-copy rounds', result.precopy_rounds.length ? `${result.precopy_rounds.length} (switch-over: ${result.precopy.switchover})` : undefined],
          ['downtime', `${result.stop_copy_ms} ms (expected ${result.precopy.expected_downtime_ms ?? '?'} ms, budget ${result.max_downtime_ms} ms)`],
          ['source now', result.source_state],
          ['destination now', result.dest_state],
        ]),
    };
  }
}
