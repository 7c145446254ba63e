/**
 * The kernel's own tables from `vfio_mig_get_next_state`, entry for entry:
 *
 * - latest (6.2+, drivers/vfio/vfio_main.c): 8 states, with PRE_COPY and PRE_COPY_P2P;
 * - 6.1 (drivers/vfio/vfio.c): 6 states (ERROR..RUNNING_P2P).
 *
 * `FSM_TABLE_*[from][to]` is the next state the kernel hands the driver when the device is in
 * `from` and userspace asked for `to` (`vfio_from_fsm_table`). `STATE_FLAGS_*[state]` is the
 * set of migration flags a device must have for `state` to exist (`state_flags_table`);
 * ERROR's entry is ~0U, which no device's flags cover.
 *
 * Do not "simplify" these into a shortest-path search: paths are not unique (PRE_COPY -> STOP
 * goes through RUNNING, not STOP_COPY) and the kernel picks by this table.
 */
import {MigFlag, MigState, type MigStateValue} from './states.js';

const {ERROR, STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P} = MigState;

/** `~0U`: the state_flags_table entry of ERROR. */
export const ALL_FLAGS_U32 = 0xffffffff;

/** Row `from`, column `to`. Columns are in state-number order: ERROR, STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P. */
type Row8 = readonly [
  MigStateValue,
  MigStateValue,
  MigStateValue,
  MigStateValue,
  MigStateValue,
  MigStateValue,
  MigStateValue,
  MigStateValue,
];
type Row6 = readonly [MigStateValue, MigStateValue, MigStateValue, MigStateValue, MigStateValue, MigStateValue];

// prettier-ignore
/** `vfio_from_fsm_table` of drivers/vfio/vfio_main.c (Linux 6.2 and later). */
export const FSM_TABLE_LATEST: readonly Row8[] = [
  //             to: ERROR  STOP         RUNNING      STOP_COPY     RESUMING  RUNNING_P2P  PRE_COPY      PRE_COPY_P2P
  /* ERROR        */ [ERROR, ERROR,       ERROR,       ERROR,        ERROR,    ERROR,       ERROR,        ERROR],
  /* STOP         */ [ERROR, STOP,        RUNNING_P2P, STOP_COPY,    RESUMING, RUNNING_P2P, RUNNING_P2P,  RUNNING_P2P],
  /* RUNNING      */ [ERROR, RUNNING_P2P, RUNNING,     RUNNING_P2P,  RUNNING_P2P, RUNNING_P2P, PRE_COPY,  RUNNING_P2P],
  /* STOP_COPY    */ [ERROR, STOP,        STOP,        STOP_COPY,    STOP,     STOP,        ERROR,        ERROR],
  /* RESUMING     */ [ERROR, STOP,        STOP,        STOP,         RESUMING, STOP,        STOP,         STOP],
  /* RUNNING_P2P  */ [ERROR, STOP,        RUNNING,     STOP,         STOP,     RUNNING_P2P, RUNNING,      PRE_COPY_P2P],
  /* PRE_COPY     */ [ERROR, RUNNING,     RUNNING,     PRE_COPY_P2P, RUNNING,  RUNNING,     PRE_COPY,     PRE_COPY_P2P],
  /* PRE_COPY_P2P */ [ERROR, RUNNING_P2P, RUNNING_P2P, STOP_COPY,    RUNNING_P2P, RUNNING_P2P, PRE_COPY,  PRE_COPY_P2P],
];

// prettier-ignore
/** `state_flags_table` of drivers/vfio/vfio_main.c, indexed by state. */
export const STATE_FLAGS_LATEST: readonly number[] = [
  /* ERROR        */ ALL_FLAGS_U32,
  /* STOP         */ MigFlag.STOP_COPY,
  /* RUNNING      */ MigFlag.STOP_COPY,
  /* STOP_COPY    */ MigFlag.STOP_COPY,
  /* RESUMING     */ MigFlag.STOP_COPY,
  /* RUNNING_P2P  */ MigFlag.STOP_COPY | MigFlag.P2P,
  /* PRE_COPY     */ MigFlag.STOP_COPY | MigFlag.PRE_COPY,
  /* PRE_COPY_P2P */ MigFlag.STOP_COPY | MigFlag.P2P | MigFlag.PRE_COPY,
];

// prettier-ignore
/** `vfio_from_fsm_table` of drivers/vfio/vfio.c in Linux 6.1 (no PRE_COPY states). */
export const FSM_TABLE_6_1: readonly Row6[] = [
  //             to: ERROR  STOP         RUNNING      STOP_COPY    RESUMING     RUNNING_P2P
  /* ERROR        */ [ERROR, ERROR,       ERROR,       ERROR,       ERROR,       ERROR],
  /* STOP         */ [ERROR, STOP,        RUNNING_P2P, STOP_COPY,   RESUMING,    RUNNING_P2P],
  /* RUNNING      */ [ERROR, RUNNING_P2P, RUNNING,     RUNNING_P2P, RUNNING_P2P, RUNNING_P2P],
  /* STOP_COPY    */ [ERROR, STOP,        STOP,        STOP_COPY,   STOP,        STOP],
  /* RESUMING     */ [ERROR, STOP,        STOP,        STOP,        RESUMING,    STOP],
  /* RUNNING_P2P  */ [ERROR, STOP,        RUNNING,     STOP,        STOP,        RUNNING_P2P],
];

// prettier-ignore
/** `state_flags_table` of drivers/vfio/vfio.c in Linux 6.1. */
export const STATE_FLAGS_6_1: readonly number[] = [
  /* ERROR        */ ALL_FLAGS_U32,
  /* STOP         */ MigFlag.STOP_COPY,
  /* RUNNING      */ MigFlag.STOP_COPY,
  /* STOP_COPY    */ MigFlag.STOP_COPY,
  /* RESUMING     */ MigFlag.STOP_COPY,
  /* RUNNING_P2P  */ MigFlag.STOP_COPY | MigFlag.P2P,
];

/** One kernel's tables and what that kernel knows. */
export interface KernelFsm {
  /** `VFIO_DEVICE_NUM_STATES`: states are 0..numStates-1. */
  numStates: number;
  /** The migration flag bits the kernel's core defines. */
  knownFlags: number;
  table: readonly (readonly MigStateValue[])[];
  stateFlags: readonly number[];
}

export const KERNEL_FSM = {
  latest: {
    numStates: 8,
    knownFlags: MigFlag.STOP_COPY | MigFlag.P2P | MigFlag.PRE_COPY,
    table: FSM_TABLE_LATEST,
    stateFlags: STATE_FLAGS_LATEST,
  },
  '6.1': {
    numStates: 6,
    knownFlags: MigFlag.STOP_COPY | MigFlag.P2P,
    table: FSM_TABLE_6_1,
    stateFlags: STATE_FLAGS_6_1,
  },
} as const satisfies Record<string, KernelFsm>;
