import {Args, Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {deviceInterfaceFlag} from '../../cli/device-interface.js';
import {exitCodes} from '../../cli/help.js';
import {fields} from '../../cli/render.js';
import {interruptible} from '../../cli/interrupt.js';
import {withEvents} from '../../cli/progress.js';
import {requireDevice} from '../../lib/enumerate/index.js';
import {parseChannel} from '../../lib/migrate/remote/channel.js';
import {receiveGroup, type ReceiveGroupResult, receiveMigration, type ReceiveResult} from '../../lib/migrate/remote/receive.js';
import {DEFAULT_PEER_TIMEOUT_MS} from '../../lib/migrate/remote/send.js';

export default class MigrateReceive extends BaseCommand<typeof MigrateReceive, ReceiveResult | ReceiveGroupResult> {
  static override summary = 'Migrate a device from another host: the destination side of `migrate send`.';
  static override description =
    'Takes the state from --from, a duplex channel to `vfio-mig migrate send` on the source: tcp-listen:[ADDR:]PORT, ' +
    'tcp:HOST:PORT, unix-listen:PATH, unix:PATH, dev:PATH (a character device such as a virtio-serial port), or stdio ' +
    "(stdin/stdout: the form `migrate send --to exec:'ssh dst vfio-mig migrate receive ... --from stdio'` runs; every " +
    'message then goes to stderr). A listening form accepts one connection. The stream header is checked against ' +
    'the destination (model, parameters, prepared values; or the rule sets) before the device is touched; the ' +
    "device is written while the source's PRE_COPY runs, validated at RESUMING -> STOP, and set RUNNING only once " +
    "the source committed. Any failure on either host, the source's --timeout, silence, or SIGINT/SIGTERM/SIGHUP: " +
    'the destination is reset, the source resumes, and both commands report the same outcome and exit code. ' +
    'Several devices: one destination per source device, in the order `migrate send` names them (the count must ' +
    'match); all or nothing: every destination validated at RESUMING -> STOP before any runs, any failure resets all.' +
    exitCodes({
      0: 'migrated: the destination runs',
      1: 'not compatible with, or not prepared for, the source (nothing was touched)',
      3: 'runtime failure (on either host, a lost channel, --timeout, silence): the destination reset, the source RUNNING',
      4: 'a device went to ERROR and was reset',
      5: 'recovery failed: a device needs attention',
      interrupted: 'interrupted by SIGHUP, SIGINT or SIGTERM (on either host): destination reset, source RUNNING',
    });

  static override examples = [
    '<%= config.bin %> migrate receive 0e352e90-823f-4f5d-9221-86e662934044 --from tcp-listen:7410',
    '<%= config.bin %> migrate receive 0e352e90-823f-4f5d-9221-86e662934044 --from stdio',
    '<%= config.bin %> migrate receive 0e352e90-823f-4f5d-9221-86e662934044 53855a71-05db-469b-a0c8-32f60480c57b --from tcp-listen:7410',
  ];

  static override strict = false;
  static override args = {device: Args.string({required: true, description: 'mdev UUID or PCI address of the destination device (several: matched by position to the sender\'s)'})};
  protected override jsonLines = true;

  static override flags = {
    'device-interface': deviceInterfaceFlag,
    from: Flags.string({required: true, description: 'the channel from the sender (see the description for the forms)'}),
    'peer-timeout': Flags.integer({description: 'fail when the source has not connected and begun within this many ms; later the sender\'s value applies', default: DEFAULT_PEER_TIMEOUT_MS, min: 1}),
    'trust-driver': Flags.boolean({description: "skip vfio-mig's compatibility check of the stream header; the destination driver alone decides"}),
    rules: Flags.string({multiple: true, description: 'rule-set files or directories, before <root>/etc/vfio-mig/rules.d and the shipped ones'}),
  };

  protected async execute(): Promise<Outcome<ReceiveResult | ReceiveGroupResult>> {
    const channel = parseChannel(this.flags.from, 'receive');
    this.stdoutIsData = channel.kind === 'stdio';
    const devices = this.argList;
    for (const d of devices) await requireDevice(this.sysfs(), d);
    const result = await interruptible((signal) => withEvents({json: this.jsonEnabled(), stream: this.out}, (onEvent): Promise<ReceiveResult | ReceiveGroupResult> => {
      const common = {
        signal,
        deviceInterface: this.flags['device-interface'],
        sysfs: this.sysfs(),
        channel,
        peerTimeoutMs: this.flags['peer-timeout'],
        headerCheck: {trustDriver: this.flags['trust-driver'], ...(this.flags.rules ? {rules: this.flags.rules} : {})},
        onEvent,
      };
      return devices.length > 1 ? receiveGroup({...common, devices}) : receiveMigration({...common, device: devices[0]!});
    }));
    if ('members' in result) {
      return {
        result,
        exitCode: 0,
        human: () =>
          fields([
            ...result.members.flatMap((m): [string, string | undefined][] => [
              ['migrated', `${m.source.host} ${m.source.device} -> ${m.device}`],
              ['payload', `${m.payload_bytes} bytes (${m.precopy_bytes} during pre-copy)`],
              ['rolled back', m.recovered_prepare ? `an interrupted prepare (pid ${m.recovered_prepare.pid}): ${m.recovered_prepare.restored.map((r) => r.param).join(', ')}` : undefined],
              ['destination now', m.final_state],
            ]),
            ['channel', result.channel],
          ]),
      };
    }
    return {
      result,
      exitCode: 0,
      human: () =>
        fields([
          ['migrated', `${result.source.host} ${result.source.device} -> ${result.device} (${result.channel})`],
          ['payload', `${result.payload_bytes} bytes (${result.precopy_bytes} during pre-copy)`],
          ['destination now', result.final_state],
          ['rolled back', result.recovered_prepare ? `an interrupted prepare (pid ${result.recovered_prepare.pid}): ${result.recovered_prepare.restored.map((r) => r.param).join(', ')}` : undefined],
        ]),
    };
  }
}
