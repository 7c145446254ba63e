import {Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {deviceInterfaceFlag} from '../../cli/device-interface.js';
import {exitCodes} from '../../cli/help.js';
import {fields} from '../../cli/render.js';
import {interruptible} from '../../cli/interrupt.js';
import {withEvents} from '../../cli/progress.js';
import {resolveDeviceAccess} from '../../lib/enumerate/access.js';
import {requireDevice} from '../../lib/enumerate/index.js';
import {DEFAULT_MAX_DOWNTIME_MS, DEFAULT_PRECOPY_ROUNDS} from '../../lib/migrate/precopy.js';
import {InputError} from '../../lib/errors.js';
import {runMigration, type RunPair, type RunResult} from '../../lib/migrate/run.js';

/** `--pair SRC=DST`, or the single pair of --source/--dest. */
function pairsOf(flags: {source?: string; dest?: string; pair?: string[]}): RunPair[] {
  if (flags.pair) {
    return flags.pair.map((text) => {
      const [source, dest, ...rest] = text.split('=');
      if (!source || !dest || rest.length > 0) throw new InputError(`--pair ${text}: not SOURCE=DEST (two device ids joined by =)`, 'BAD_PAIR');
      return {source, dest};
    });
  }
  if (!flags.source || !flags.dest) throw new InputError('name the devices: --source DEV --dest DEV, or --pair SOURCE=DEST (repeated for several)', 'NO_PAIRS');
  return [{source: flags.source, dest: flags.dest}];
}

export default class MigrateRun extends BaseCommand<typeof MigrateRun, RunResult> {
  static override summary = 'Migrate a device (or several, all or nothing) to another on this host, through a pipe between two engines per pair.';
  static override description =
    'Checks the destination against the source (model, parameters, prepared values), then saves from the ' +
    'source while loading into the destination. When the source offers PRE_COPY, rounds go on while they ' +
    'shrink what is left, until it fits --max-downtime at the measured rate (or --precopy-rounds); then ' +
    'STOP_COPY. The first failure of either side, --timeout, or SIGINT/SIGTERM/SIGHUP cancels both transfers ' +
    'at once: the source goes back to RUNNING and the destination is reset. The source is left in STOP only ' +
    'once the destination runs. If this process is killed, the engines do the same on their own. ' +
    'Several pairs (--pair SOURCE=DEST, repeated) move together in QEMU\'s order: every device must offer P2P; every source ' +
    'to RUNNING_P2P (PRE_COPY_P2P), then every source to STOP_COPY with the transfers side by side, then every destination ' +
    'RESUMING -> STOP -> RUNNING_P2P, then RUNNING. A failure of any device unwinds every device; the report names each one. ' +
    '--timeout, --max-downtime and signals apply to the whole group.' +
    exitCodes({0: 'migrated (every pair)', 1: 'not compatible with, or not prepared for, the source', 3: 'runtime failure (or --timeout): the source is back in RUNNING, the destination reset', 4: 'a device went to ERROR and was reset', 5: 'recovery failed: a device needs attention', interrupted: 'interrupted by SIGHUP, SIGINT or SIGTERM: source RUNNING, destination reset'});

  static override examples = [
    '<%= config.bin %> migrate run --source 50042111-191b-421a-9586-d94555853d83 --dest 0e352e90-823f-4f5d-9221-86e662934044',
    '<%= config.bin %> migrate run --pair 50042111-191b-421a-9586-d94555853d83=0e352e90-823f-4f5d-9221-86e662934044 --pair cb422412-cf4b-4ce8-b578-bf742f23d32d=53855a71-05db-469b-a0c8-32f60480c57b',
  ];

  protected override jsonLines = true;

  static override flags = {
    'device-interface': deviceInterfaceFlag,
    'trust-driver': Flags.boolean({description: "skip vfio-mig's compatibility check of the stream header; the destination driver alone decides (at RESUMING)"}),
    rules: Flags.string({multiple: true, description: 'rule-set files or directories, before <root>/etc/vfio-mig/rules.d and the shipped ones'}),
    source: Flags.string({description: 'mdev UUID or PCI address of the source', exclusive: ['pair'], dependsOn: ['dest']}),
    dest: Flags.string({description: 'mdev UUID or PCI address of the destination', exclusive: ['pair'], dependsOn: ['source']}),
    pair: Flags.string({multiple: true, description: 'SOURCE=DEST; repeat for several devices migrated all or nothing (each must offer P2P)', exclusive: ['source', 'dest']}),
    'precopy-rounds': Flags.integer({description: 'at most this many PRE_COPY rounds when the source offers PRE_COPY (0: none)', default: DEFAULT_PRECOPY_ROUNDS, min: 0, max: 1000}),
    'max-downtime': Flags.integer({description: 'PRE_COPY rounds go on until what is left fits this many ms at the measured rate', default: DEFAULT_MAX_DOWNTIME_MS, min: 0}),
    timeout: Flags.integer({description: 'abort a STOP_COPY (until the destination runs) still going after this many ms', min: 1}),
  };

  protected async execute(): Promise<Outcome<RunResult>> {
    // Missing devices are usage errors (exit 2), found before the engine starts; then each
    // device's way in (a missing node or a device in use: exit 3).
    const pairs = pairsOf(this.flags);
    const devices = pairs.flatMap((p) => [p.source, p.dest]);
    for (const d of devices) await requireDevice(this.sysfs(), d);
    for (const d of devices) await resolveDeviceAccess(this.sysfs(), d, this.flags['device-interface']);
    const result = await interruptible((signal) => withEvents({json: this.jsonEnabled(), stream: process.stdout}, (onEvent) =>
      runMigration({
        signal,
        sysfs: this.sysfs(),
        deviceInterface: this.flags['device-interface'],
        pairs,
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
          ...result.pairs.flatMap((p): [string, string | undefined][] => [
            ['migrated', `${p.source} -> ${p.dest}`],
            ['payload', `${p.payload_bytes} bytes`],
            ['pre-copy rounds', p.precopy_rounds.length ? `${p.precopy_rounds.length} (switch-over: ${p.precopy.switchover})` : undefined],
            ...(p.recovered_prepare ? [['rolled back', `an interrupted prepare of ${p.dest} (pid ${p.recovered_prepare.pid})`] as [string, string]] : []),
          ]),
          ['downtime', `${result.stop_copy_ms} ms (expected ${expectedOf(result) ?? '?'} ms, budget ${result.max_downtime_ms} ms)`],
          ...result.pairs.flatMap((p): [string, string][] => [
            [result.pairs.length > 1 ? `source ${p.source}` : 'source now', p.source_state],
            [result.pairs.length > 1 ? `destination ${p.dest}` : 'destination now', p.dest_state],
          ]),
        ]),
    };
  }
}

/** The group's expected downtime: its transfers run side by side, so the longest one's. */
function expectedOf(result: RunResult): number | undefined {
  const each = result.pairs.map((p) => p.precopy.expected_downtime_ms);
  return each.some((e) => e === null) ? undefined : Math.max(...(each as number[]));
}
