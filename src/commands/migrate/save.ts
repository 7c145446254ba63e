import {Args, Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {deviceInterfaceFlag} from '../../cli/device-interface.js';
import {exitCodes} from '../../cli/help.js';
import {fields, plural} from '../../cli/render.js';
import {interruptible} from '../../cli/interrupt.js';
import {withEvents} from '../../cli/progress.js';
import {DEFAULT_MAX_DOWNTIME_MS} from '../../lib/migrate/precopy.js';
import {requireDevice} from '../../lib/enumerate/index.js';
import {saveDevice, saveGroup, type SaveGroupResult, type SaveResult} from '../../lib/migrate/save.js';

export default class MigrateSave extends BaseCommand<typeof MigrateSave, SaveResult | SaveGroupResult> {
  static override summary = "Save a device's migration state to a file or stdout.";
  static override description =
    'RUNNING [-> PRE_COPY rounds while what is left does not fit --max-downtime] -> STOP_COPY, the state ' +
    'streamed by the engine in checksummed chunks (or bare bytes with --raw), then the --final-state you ' +
    'choose: running (a snapshot) or stop (a hand-over); the state reported is read back from the device. ' +
    'A file is written under a temporary name and renamed when complete. On any failure, --timeout, or ' +
    'SIGINT/SIGTERM/SIGHUP the source goes back to RUNNING (or is reset if it went to ERROR) and no file is ' +
    'left behind. With --out - the state goes to stdout and every message to stderr. Several devices (of one VM) ' +
    'go to one group stream in a file (not --out -), all or nothing: each must offer P2P; every device to RUNNING_P2P (PRE_COPY_P2P), then every ' +
    'device to STOP_COPY, the transfers side by side, then the final state; a failure unwinds every device; --json lists ' +
    'each device (members). Load it with the destinations named in the same order.' +
    exitCodes({0: 'saved; the source in the --final-state read back', 3: 'runtime failure (or --timeout): the source is back in RUNNING, no file left behind', 4: 'the source went to ERROR and was reset', 5: 'recovery failed: the device needs attention', interrupted: 'interrupted by SIGHUP, SIGINT or SIGTERM: source RUNNING, no file left behind'});

  static override examples = [
    '<%= config.bin %> migrate save 50042111-191b-421a-9586-d94555853d83 cb422412-cf4b-4ce8-b578-bf742f23d32d --out vm.state --final-state stop',
    '<%= config.bin %> migrate save 50042111-191b-421a-9586-d94555853d83 --out gpu.state --final-state running',
    '<%= config.bin %> migrate save 50042111-191b-421a-9586-d94555853d83 --out - --final-state stop --precopy-rounds 4 | ssh dst vfio-mig migrate load 0e352e90-823f-4f5d-9221-86e662934044 --in -',
  ];

  static override args = {device: Args.string({required: true, description: 'mdev UUID or PCI address of the source; several: one group stream'})};
  // More devices after the first: one group stream (checked in execute).
  static override strict = false;
  protected override jsonLines = true;

  static override flags = {
    'device-interface': deviceInterfaceFlag,
    out: Flags.string({required: true, description: 'file to write, or - for stdout'}),
    raw: Flags.boolean({description: 'write the bare device bytes (no header, chunks or checksums)'}),
    'final-state': Flags.string({
      required: true,
      options: ['running', 'stop'],
      description: "the source's state after a good save: running (a snapshot) or stop (a hand-over; the source keeps no running copy)",
    }),
    'precopy-rounds': Flags.integer({description: 'at most this many PRE_COPY rounds when the device offers PRE_COPY (0: none)', default: 0, min: 0, max: 1000}),
    'max-downtime': Flags.integer({description: 'PRE_COPY rounds go on until what is left fits this many ms at the measured rate', default: DEFAULT_MAX_DOWNTIME_MS, min: 0}),
    timeout: Flags.integer({description: 'abort a STOP_COPY still running after this many ms (the source resumes)', min: 1}),
  };

  /** The devices named, in order (the first is the declared argument). */
  private async devices(): Promise<string[]> {
    const {argv} = await this.parse(MigrateSave);
    return argv as string[];
  }

  protected async execute(): Promise<Outcome<SaveResult | SaveGroupResult>> {
    this.stdoutIsData = this.flags.out === '-';
    // A missing device is a usage error (exit 2), found before the engine starts.
    const devices = await this.devices();
    for (const d of devices) await requireDevice(this.sysfs(), d);
    const result = await interruptible((signal) => withEvents({json: this.jsonEnabled(), stream: this.stdoutIsData ? process.stderr : process.stdout}, (onEvent): Promise<SaveResult | SaveGroupResult> => {
      const common = {
        signal,
        sysfs: this.sysfs(),
        deviceInterface: this.flags['device-interface'],
        output: this.flags.out === '-' ? {fd: 1} : {path: this.flags.out},
        raw: this.flags.raw,
        precopyRounds: this.flags['precopy-rounds'],
        maxDowntimeMs: this.flags['max-downtime'],
        ...(this.flags.timeout === undefined ? {} : {timeoutMs: this.flags.timeout}),
        finalState: this.flags['final-state'] as 'running' | 'stop',
        onEvent,
      };
      return devices.length > 1 ? saveGroup({...common, devices}) : saveDevice({...common, device: devices[0]!});
    }));
    if ('members' in result) {
      return {
        result,
        exitCode: 0,
        human: () =>
          fields([
            ...result.members.flatMap((m): [string, string][] => [
              ['saved', `${m.device} -> ${result.output}`],
              ['payload', `${m.payload_bytes} bytes in ${plural(m.chunks, 'chunk')}`],
              ['source now', m.final_state],
            ]),
            ['stream', `${result.stream_bytes} bytes, ${result.members.length} devices`],
            ['stop-copy time', `${result.stop_copy_ms} ms`],
          ]),
      };
    }
    return {
      result,
      exitCode: 0,
      human: () =>
        fields([
          ['saved', `${result.device} -> ${result.output}`],
          ['payload', `${result.payload_bytes} bytes${result.raw ? ' (raw)' : ` in ${plural(result.chunks, 'chunk')}, stream ${result.stream_bytes} bytes`}`],
          ['pre-copy rounds', result.precopy_rounds.length ? `${result.precopy_rounds.length} (switch-over: ${result.precopy.switchover}, expected downtime ${result.precopy.expected_downtime_ms ?? '?'} ms)` : undefined],
          ['stop-copy time', `${result.stop_copy_ms} ms`],
          ['source now', result.final_state],
        ]),
    };
  }
}
