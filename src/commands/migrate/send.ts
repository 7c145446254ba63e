import {Args, Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {deviceInterfaceFlag} from '../../cli/device-interface.js';
import {exitCodes} from '../../cli/help.js';
import {fields} from '../../cli/render.js';
import {interruptible} from '../../cli/interrupt.js';
import {withEvents} from '../../cli/progress.js';
import {requireDevice} from '../../lib/enumerate/index.js';
import {DEFAULT_MAX_DOWNTIME_MS, DEFAULT_PRECOPY_ROUNDS} from '../../lib/migrate/precopy.js';
import {parseChannel} from '../../lib/migrate/remote/channel.js';
import {DEFAULT_PEER_TIMEOUT_MS, sendGroup, type SendGroupResult, sendMigration, type SendResult} from '../../lib/migrate/remote/send.js';

export default class MigrateSend extends BaseCommand<typeof MigrateSend, SendResult | SendGroupResult> {
  static override summary = 'Migrate a device to another host: the source side, talking to `migrate receive` there.';
  static override description =
    'Sends the state over --to, a duplex channel to `vfio-mig migrate receive` on the destination: ' +
    'tcp:HOST:PORT, tcp-listen:[ADDR:]PORT, unix:PATH, unix-listen:PATH, dev:PATH (a character device such as a ' +
    "virtio-serial port, opened read-write), stdio, or exec:COMMAND (a command whose stdin/stdout is the channel, e.g. exec:'ssh dst " +
    "vfio-mig migrate receive <dev> --from stdio'). The destination answers on the same channel. The source " +
    'stops only after the destination said it is RESUMING and accepted every PRE_COPY byte (switchover ' +
    'acknowledgment), and reports success only after the destination reported RUNNING. Any failure on either ' +
    'host, --timeout (from STOP_COPY until the destination runs), --peer-timeout of silence, or SIGINT/SIGTERM/SIGHUP: ' +
    'the source goes back to RUNNING, the destination is reset, and both commands report the same outcome and exit code. ' +
    'Several devices (of one VM) move all or nothing: `migrate receive` is given as many destinations, matched by ' +
    "position; each device needs P2P; QEMU's order (every source RUNNING_P2P, then STOP_COPY; every destination " +
    'validated at RESUMING -> STOP before any runs); their data goes one device after the other on the one channel.' +
    exitCodes({
      0: 'migrated: the destination runs, the source is in STOP',
      1: 'the destination is not compatible with, or not prepared for, the source (checked before anything moved)',
      3: 'runtime failure (on either host, a lost channel, --timeout, silence): the source is back in RUNNING, the destination reset',
      4: 'a device went to ERROR and was reset',
      5: 'recovery failed, or the destination was told to run and never confirmed (IN_DOUBT: the source stays in STOP)',
      interrupted: 'interrupted by SIGHUP, SIGINT or SIGTERM (on either host): source RUNNING, destination reset',
    });

  static override examples = [
    "<%= config.bin %> migrate send 50042111-191b-421a-9586-d94555853d83 --to exec:'ssh dst vfio-mig migrate receive 0e352e90-823f-4f5d-9221-86e662934044 --from stdio'",
    '<%= config.bin %> migrate send 50042111-191b-421a-9586-d94555853d83 --to tcp:dst.example:7410',
    '<%= config.bin %> migrate send 50042111-191b-421a-9586-d94555853d83 cb422412-cf4b-4ce8-b578-bf742f23d32d --to tcp:dst.example:7410',
  ];

  static override strict = false;
  static override args = {device: Args.string({required: true, description: 'mdev UUID or PCI address of the source device (several: all or nothing)'})};
  protected override jsonLines = true;

  static override flags = {
    'device-interface': deviceInterfaceFlag,
    to: Flags.string({required: true, description: 'the channel to the receiver (see the description for the forms)'}),
    'precopy-rounds': Flags.integer({description: 'at most this many PRE_COPY rounds when the source offers PRE_COPY (0: none)', default: DEFAULT_PRECOPY_ROUNDS, min: 0, max: 1000}),
    'max-downtime': Flags.integer({description: 'PRE_COPY rounds go on until what is left fits this many ms at the measured rate', default: DEFAULT_MAX_DOWNTIME_MS, min: 0}),
    timeout: Flags.integer({description: 'abort when the destination does not run this many ms after the source entered STOP_COPY', min: 1}),
    'peer-timeout': Flags.integer({description: 'fail when the destination says nothing for this many ms (connecting included); the receiver adopts it', default: DEFAULT_PEER_TIMEOUT_MS, min: 1}),
  };

  protected async execute(): Promise<Outcome<SendResult | SendGroupResult>> {
    const channel = parseChannel(this.flags.to, 'send');
    this.stdoutIsData = channel.kind === 'stdio';
    const devices = this.argList;
    for (const d of devices) await requireDevice(this.sysfs(), d);
    const result = await interruptible((signal) => withEvents({json: this.jsonEnabled(), stream: this.out}, (onEvent): Promise<SendResult | SendGroupResult> => {
      const common = {
        signal,
        deviceInterface: this.flags['device-interface'],
        sysfs: this.sysfs(),
        channel,
        precopyRounds: this.flags['precopy-rounds'],
        maxDowntimeMs: this.flags['max-downtime'],
        peerTimeoutMs: this.flags['peer-timeout'],
        ...(this.flags.timeout === undefined ? {} : {timeoutMs: this.flags.timeout}),
        onEvent,
      };
      return devices.length > 1 ? sendGroup({...common, devices}) : sendMigration({...common, device: devices[0]!});
    }));
    if ('members' in result) {
      return {
        result,
        exitCode: 0,
        human: () =>
          fields([
            ...result.members.flatMap((m): [string, string | undefined][] => [
              ['migrated', `${m.device} -> ${m.dest.host} ${m.dest.device}`],
              ['payload', `${m.payload_bytes} bytes`],
              ['pre-copy rounds', m.precopy_rounds.length ? `${m.precopy_rounds.length} (switch-over: ${m.precopy.switchover})` : undefined],
              ['source now', m.source_state],
              ['destination now', m.dest_state],
            ]),
            ['channel', result.channel],
            ['acknowledged', `${result.ack_ms} ms after pre-copy`],
            ['downtime', `${result.stop_copy_ms} ms (budget ${result.max_downtime_ms} ms)`],
          ]),
      };
    }
    return {
      result,
      exitCode: 0,
      human: () =>
        fields([
          ['migrated', `${result.device} -> ${result.dest.host} ${result.dest.device} (${result.channel})`],
          ['payload', `${result.payload_bytes} bytes`],
          ['pre-copy rounds', result.precopy_rounds.length ? `${result.precopy_rounds.length} (switch-over: ${result.precopy.switchover})` : undefined],
          ['acknowledged', `${result.ack_ms} ms after pre-copy`],
          ['downtime', `${result.stop_copy_ms} ms (expected ${result.precopy.expected_downtime_ms ?? '?'} ms, budget ${result.max_downtime_ms} ms)`],
          ['source now', result.source_state],
          ['destination now', result.dest_state],
        ]),
    };
  }
}
