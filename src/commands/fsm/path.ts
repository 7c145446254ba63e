import {Args, Flags} from '@oclif/core';

import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {exitCodes} from '../../cli/help.js';
import {
  type KernelTable,
  type MigFlagName,
  type MigStateName,
  type RejectCode,
  flagNames,
  formatPath,
  opensDataSession,
  parseMigrationFlags,
  parseState,
  path,
  stateName,
} from '../../lib/fsm/index.js';

interface FsmPathCommon {
  from: MigStateName;
  to: MigStateName;
  kernel: KernelTable;
  /** The migration flags as a number (VFIO_DEVICE_FEATURE_MIGRATION). */
  migration_flags: number;
  migration_flag_names: MigFlagName[];
}

export type FsmPathResult =
  | (FsmPathCommon & {
      rejected: false;
      /** from, every intermediate state, to (just [from] when from == to). */
      states: MigStateName[];
      arcs: {from: MigStateName; to: MigStateName}[];
      /** Whether the SET returns a new data_fd (entering RESUMING, or a saving state from outside the saving group). */
      opens_data_session: boolean;
    })
  | (FsmPathCommon & {
      rejected: true;
      code: RejectCode;
      errno: 'EINVAL';
      reason: string;
      /** Unpatched 6.2+ kernels never return from this SET (STOP_COPY -> PRE_COPY*). */
      kernel_hangs: boolean;
    });

export default class FsmPath extends BaseCommand<typeof FsmPath, FsmPathResult> {
  /** Set so in-process runs (FsmPath.run) report the same id as the CLI. */
  static override id = 'fsm:path';
  static override summary = 'Show the arcs the kernel walks to move a device from one migration state to another.';
  static override description =
    "Reproduces the kernel's vfio_mig_get_next_state (its vfio_from_fsm_table and state_flags_table, for " +
    'the latest kernel or 6.1) for a device with the given migration flags, and prints the states in order ' +
    '(RUNNING -> STOP -> STOP_COPY). States are names (stop_copy, RUNNING_P2P) or numbers 0..7; flags are a ' +
    'list (stop_copy,p2p,pre_copy) or a number (0x7). The kernel refuses, ' +
    'for example, STOP_COPY -> PRE_COPY, a state the flags do not support, ERROR as target, PRE_COPY on 6.1.' + exitCodes({0: 'the path', 1: 'the kernel refuses the transition (the reason is printed)'});

  static override examples = [
    '<%= config.bin %> fsm path RUNNING STOP_COPY --flags stop_copy,p2p',
    '<%= config.bin %> fsm path pre_copy stop --flags 0x7',
    '<%= config.bin %> fsm path RESUMING RUNNING --flags stop_copy,p2p --kernel 6.1',
  ];

  static override args = {
    from: Args.string({required: true, description: 'current device state (name or number)'}),
    to: Args.string({required: true, description: 'requested device state (name or number)'}),
  };

  static override flags = {
    flags: Flags.string({
      required: true,
      description: "the device's migration flags: stop_copy,p2p,pre_copy (any subset) or a number such as 0x7",
    }),
    kernel: Flags.option({
      options: ['latest', '6.1'] as const,
      default: 'latest' as const,
      description: "whose table to walk: latest (6.2+, with PRE_COPY) or 6.1 (Debian 12's, states 0..5)",
    })(),
  };

  protected async execute(): Promise<Outcome<FsmPathResult>> {
    const from = parseState(this.args.from);
    const to = parseState(this.args.to);
    const flags = parseMigrationFlags(this.flags.flags);
    const kernel: KernelTable = this.flags.kernel;
    const r = path(flags, from, to, kernel);
    const common: FsmPathCommon = {
      from: stateName(from),
      to: stateName(to),
      kernel,
      migration_flags: flags,
      migration_flag_names: flagNames(flags),
    };
    if (r.rejected) {
      return {
        result: {...common, rejected: true, code: r.code, errno: r.errno, reason: r.reason, kernel_hangs: r.kernelHangs},
        exitCode: 1,
        human: () => `${formatPath([from, to])} rejected (-${r.errno}): ${r.reason}`,
      };
    }
    return {
      result: {
        ...common,
        rejected: false,
        states: r.states.map((s) => stateName(s)),
        arcs: r.arcs.map((a) => ({from: stateName(a.from), to: stateName(a.to)})),
        opens_data_session: opensDataSession(from, to),
      },
      exitCode: 0,
      human: () => formatPath(r.states),
    };
  }
}
