/**
 * `vfio_mig_get_next_state` in TypeScript: which arcs the kernel walks for a requested
 * device-state change, for a device with given migration flags, on the latest kernel or 6.1.
 * Pure functions over the kernel's own tables (./table.ts); nothing here does I/O.
 */
import {InputError} from '../errors.js';
import {KERNEL_FSM, type KernelFsm} from './table.js';
import {
  KERNEL_TABLES,
  MigFlag,
  MigState,
  type KernelTable,
  type MigStateValue,
  formatFlags,
  isMigState,
  stateName,
} from './states.js';

/** Why a transition is refused. Every one of these is -EINVAL from the kernel. */
export type RejectCode =
  /** A flag bit the chosen kernel's core does not know (PRE_COPY under 6.1). */
  | 'FLAG_UNKNOWN_TO_KERNEL'
  /** The flags lack STOP_COPY, which every state needs: nothing is possible. */
  | 'NO_STOP_COPY'
  /** A state number the chosen kernel does not have (PRE_COPY, PRE_COPY_P2P under 6.1). */
  | 'STATE_UNKNOWN_TO_KERNEL'
  /** The device is in ERROR: only VFIO_DEVICE_RESET leaves it. */
  | 'FROM_ERROR'
  /** The current state cannot exist under these flags (the kernel WARNs). */
  | 'FROM_UNSUPPORTED'
  /** ERROR was requested. */
  | 'TARGET_ERROR'
  /** The requested state does not exist under these flags. */
  | 'TARGET_UNSUPPORTED'
  /** STOP_COPY -> PRE_COPY / PRE_COPY_P2P: the table says ERROR (unpatched 6.2+ kernels hang). */
  | 'BLOCKED_ARC'
  /** Defensive: the walk did not reach the target within the state count. Never expected. */
  | 'LOOP';

export interface FsmRejection {
  rejected: true;
  code: RejectCode;
  /** What the kernel's SET returns for it. */
  errno: 'EINVAL';
  /** One line, for people. */
  reason: string;
  /** True when unpatched 6.2+ kernels never return from this request (a soft lockup). */
  kernelHangs: boolean;
}

/** One FSM arc: a single step the driver performs. */
export interface Arc {
  from: MigStateValue;
  to: MigStateValue;
}

export type NextStateResult = {rejected: false; next: MigStateValue} | FsmRejection;

export interface PathQuery {
  /** The device's migration flags (VFIO_DEVICE_FEATURE_MIGRATION). */
  flags: number;
  from: MigStateValue;
  to: MigStateValue;
  kernel: KernelTable;
}

export interface PathFound extends PathQuery {
  rejected: false;
  /** `from`, every intermediate state, `to`. Just `[from]` when from == to. */
  states: MigStateValue[];
  /** The arcs in order; empty when from == to. */
  arcs: Arc[];
}

export type PathRejected = PathQuery & FsmRejection;
export type PathResult = PathFound | PathRejected;

function kernelFsm(kernel: KernelTable): KernelFsm {
  if (!KERNEL_TABLES.includes(kernel)) {
    throw new InputError(`unknown kernel table '${String(kernel)}' (one of ${KERNEL_TABLES.join(', ')})`, 'UNKNOWN_KERNEL');
  }
  return KERNEL_FSM[kernel];
}

function checkStateArg(state: number, role: string): void {
  if (!isMigState(state)) {
    throw new InputError(`not a VFIO migration state (${role}): ${String(state)}`, 'UNKNOWN_STATE', {state});
  }
}

/** Whether `state` exists for a device with `flags` (the kernel's state_flags_table test). ERROR never does. */
export function isStateSupported(flags: number, state: MigStateValue, kernel: KernelTable = 'latest'): boolean {
  const fsm = kernelFsm(kernel);
  if (state >= fsm.numStates) return false;
  const need = fsm.stateFlags[state] ?? 0xffffffff;
  return ((need & flags) >>> 0) === need >>> 0;
}

/** The states a device with `flags` can be put in, in state-number order (ERROR excluded). */
export function supportedStates(flags: number, kernel: KernelTable = 'latest'): MigStateValue[] {
  const fsm = kernelFsm(kernel);
  const out: MigStateValue[] = [];
  for (let s = 1; s < fsm.numStates; s++) {
    if (isMigState(s) && isStateSupported(flags, s, kernel)) out.push(s);
  }
  return out;
}

function reject(code: RejectCode, reason: string, kernelHangs = false): FsmRejection {
  return {rejected: true, code, errno: 'EINVAL', reason, kernelHangs};
}

function requiredFlags(fsm: KernelFsm, state: MigStateValue): string {
  return formatFlags(fsm.stateFlags[state] ?? 0);
}

/** The checks the kernel makes before walking the table, plus the ones this library adds. */
function validate(flags: number, from: MigStateValue, to: MigStateValue, kernel: KernelTable): FsmRejection | undefined {
  const fsm = kernelFsm(kernel);
  checkStateArg(from, 'from');
  checkStateArg(to, 'to');
  const unknownBits = flags & ~fsm.knownFlags;
  if (unknownBits !== 0) {
    if (kernel === '6.1' && (unknownBits & MigFlag.PRE_COPY) !== 0) {
      return reject(
        'FLAG_UNKNOWN_TO_KERNEL',
        "Linux 6.1's VFIO core has no PRE_COPY (flag 0x4 came in 6.2); a 6.1 driver offering it walks its own table: use --kernel latest",
      );
    }
    return reject('FLAG_UNKNOWN_TO_KERNEL', `migration flag bits 0x${unknownBits.toString(16)} are unknown to the ${kernel} kernel`);
  }
  if ((flags & MigFlag.STOP_COPY) === 0) {
    return reject(
      'NO_STOP_COPY',
      `migration flags ${formatFlags(flags)} lack STOP_COPY, which every state needs: the kernel rejects every transition`,
    );
  }
  for (const [state, role] of [
    [from, 'from'],
    [to, 'target'],
  ] as const) {
    if (state >= fsm.numStates) {
      return reject(
        'STATE_UNKNOWN_TO_KERNEL',
        `the ${role} state ${stateName(state)} (${state}) does not exist in Linux ${kernel} (states 0..${fsm.numStates - 1}; the PRE_COPY states came in 6.2)`,
      );
    }
  }
  if (from === MigState.ERROR) {
    return reject(
      'FROM_ERROR',
      'the device is in ERROR: no SET leaves it (the kernel WARNs and returns -EINVAL); only VFIO_DEVICE_RESET does, to RUNNING',
    );
  }
  if (!isStateSupported(flags, from, kernel)) {
    return reject(
      'FROM_UNSUPPORTED',
      `a device with migration flags ${formatFlags(flags)} cannot be in ${stateName(from)} (it needs ${requiredFlags(fsm, from)})`,
    );
  }
  if (to === MigState.ERROR) {
    return reject('TARGET_ERROR', 'ERROR cannot be requested: a device only falls into it when a transition fails');
  }
  if (!isStateSupported(flags, to, kernel)) {
    return reject(
      'TARGET_UNSUPPORTED',
      `${stateName(to)} needs migration flags ${requiredFlags(fsm, to)}; the device has ${formatFlags(flags)}`,
    );
  }
  return undefined;
}

function blockedArc(from: MigStateValue, to: MigStateValue): FsmRejection {
  return reject(
    'BLOCKED_ARC',
    `invalid transition (the kernel's table says ERROR for ${stateName(from)} -> ${stateName(to)}): a pre-copy session cannot follow stop-copy; unpatched 6.2+ kernels even loop forever on it, so it must never be sent`,
    true,
  );
}

/**
 * One step, exactly as `vfio_mig_get_next_state` computes it: the table entry, then, while
 * that state does not exist under `flags`, the entry from there (arcs through unsupported
 * optional states are skipped). A table entry of ERROR means the request is invalid: the
 * kernel returns -EINVAL (and unpatched 6.2+ kernels spin on it; here the walk stops).
 * from == to gives `next: from` (the table's diagonal); drivers never ask for it.
 */
export function nextState(flags: number, from: MigStateValue, to: MigStateValue, kernel: KernelTable = 'latest'): NextStateResult {
  const bad = validate(flags, from, to, kernel);
  if (bad !== undefined) return bad;
  const fsm = kernelFsm(kernel);
  let next = fsm.table[from]?.[to] ?? MigState.ERROR;
  let guard = 0;
  while (!isStateSupported(flags, next, kernel)) {
    // ERROR's flags (~0U) are never covered: the unpatched kernel loops here for ever.
    if (next === MigState.ERROR) return blockedArc(from, to);
    next = fsm.table[next]?.[to] ?? MigState.ERROR;
    if (++guard > fsm.numStates) return reject('LOOP', `no next state from ${stateName(from)} towards ${stateName(to)} (table loop)`);
  }
  if (next === MigState.ERROR) return blockedArc(from, to);
  return {rejected: false, next};
}

/**
 * The whole walk the kernel (with the driver) makes for a SET from `from` to `to`: every
 * state in order, or why the SET is refused. The walk is capped at the number of states.
 */
export function path(flags: number, from: MigStateValue, to: MigStateValue, kernel: KernelTable = 'latest'): PathResult {
  const query: PathQuery = {flags, from, to, kernel};
  const bad = validate(flags, from, to, kernel);
  if (bad !== undefined) return {...query, ...bad};
  const states: MigStateValue[] = [from];
  const arcs: Arc[] = [];
  const cap = kernelFsm(kernel).numStates;
  let cur = from;
  while (cur !== to) {
    if (arcs.length >= cap) {
      return {...query, ...reject('LOOP', `no path from ${stateName(from)} to ${stateName(to)} within ${cap} arcs`)};
    }
    const step = nextState(flags, cur, to, kernel);
    if (step.rejected) return {...query, ...step};
    arcs.push({from: cur, to: step.next});
    states.push(step.next);
    cur = step.next;
  }
  return {...query, rejected: false, states, arcs};
}

/** Thrown by `arcs()` for a transition the kernel refuses; `details.code` is the RejectCode. */
export class FsmRejectedError extends InputError {
  constructor(readonly rejection: PathRejected) {
    super(
      `cannot move a device from ${stateName(rejection.from)} to ${stateName(rejection.to)}: ${rejection.reason}`,
      'FSM_REJECTED',
      {
        from: stateName(rejection.from),
        to: stateName(rejection.to),
        kernel: rejection.kernel,
        migration_flags: rejection.flags,
        reject_code: rejection.code,
        kernel_hangs: rejection.kernelHangs,
      },
    );
  }
}

/**
 * The arcs to step through one SET at a time (each a single kernel arc, so every SET has
 * a one-arc path and a failure pins down the arc). Throws FsmRejectedError (exit 2) for a
 * transition the kernel refuses, so a caller cannot send STOP_COPY -> PRE_COPY by mistake.
 */
export function arcs(flags: number, from: MigStateValue, to: MigStateValue, kernel: KernelTable = 'latest'): Arc[] {
  const result = path(flags, from, to, kernel);
  if (result.rejected) throw new FsmRejectedError(result);
  return result.arcs;
}

/** `RUNNING -> STOP -> STOP_COPY`: the form of the reference table and of `fsm path`. */
export function formatPath(states: readonly MigStateValue[]): string {
  return states.map((s) => stateName(s)).join(' -> ');
}
