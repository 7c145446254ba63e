/**
 * VFIO migration v2 device states and migration flags (include/uapi/linux/vfio.h), their
 * names, and parsing of the forms users type. Pure data: no I/O, no output.
 */
import {InputError} from '../errors.js';

/** `enum vfio_device_mig_state`. 6 and 7 exist from Linux 6.2 on. */
export const MigState = {
  ERROR: 0,
  STOP: 1,
  RUNNING: 2,
  STOP_COPY: 3,
  RESUMING: 4,
  RUNNING_P2P: 5,
  PRE_COPY: 6,
  PRE_COPY_P2P: 7,
} as const;
export type MigStateName = keyof typeof MigState;
export type MigStateValue = (typeof MigState)[MigStateName];

/** Names indexed by state number. */
export const STATE_NAMES: readonly MigStateName[] = [
  'ERROR',
  'STOP',
  'RUNNING',
  'STOP_COPY',
  'RESUMING',
  'RUNNING_P2P',
  'PRE_COPY',
  'PRE_COPY_P2P',
];

/** `VFIO_MIGRATION_*` bits of `struct vfio_device_feature_migration.flags`. */
export const MigFlag = {
  STOP_COPY: 1 << 0,
  P2P: 1 << 1,
  PRE_COPY: 1 << 2,
} as const;
export type MigFlagName = keyof typeof MigFlag;

/** Every flag bit this library knows (the latest kernel's set). */
export const KNOWN_FLAGS = MigFlag.STOP_COPY | MigFlag.P2P | MigFlag.PRE_COPY;

/**
 * Which kernel's `vfio_mig_get_next_state` to reproduce: `latest` (6.2+, with PRE_COPY,
 * drivers/vfio/vfio_main.c) or `6.1` (states 0..5, drivers/vfio/vfio.c; Debian 12's kernel).
 */
export type KernelTable = 'latest' | '6.1';
export const KERNEL_TABLES: readonly KernelTable[] = ['latest', '6.1'];

export function isMigState(value: number): value is MigStateValue {
  return Number.isInteger(value) && value >= 0 && value < STATE_NAMES.length;
}

export function stateName(state: MigStateValue): MigStateName {
  const name = STATE_NAMES[state];
  if (name === undefined) throw new RangeError(`not a VFIO migration state: ${String(state)}`);
  return name;
}

function normalizeToken(raw: string): string {
  return raw.trim().toUpperCase().replace(/[-\s]+/g, '_');
}

function parseNumber(text: string): number | undefined {
  if (/^0x[0-9a-f]+$/i.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^[0-9]+$/.test(text)) return Number.parseInt(text, 10);
  return undefined;
}

/**
 * A state from a name (`stop_copy`, `STOP_COPY`, `stop-copy`, `VFIO_DEVICE_STATE_STOP_COPY`,
 * case-insensitive) or its number (`3`, `0x3`). Throws InputError (exit 2) for anything else.
 */
export function parseState(input: string | number): MigStateValue {
  if (typeof input === 'number') {
    if (isMigState(input)) return input;
    throw new InputError(`unknown VFIO migration state: ${String(input)} (states are 0..7)`, 'UNKNOWN_STATE', {
      state: input,
    });
  }
  const token = normalizeToken(input).replace(/^VFIO_DEVICE_STATE_/, '');
  const asNumber = parseNumber(token.toLowerCase());
  if (asNumber !== undefined) {
    if (isMigState(asNumber)) return asNumber;
  } else if (Object.hasOwn(MigState, token)) {
    return MigState[token as MigStateName];
  }
  throw new InputError(
    `unknown VFIO migration state: '${input}' (one of ${STATE_NAMES.join(', ')}, or 0..7)`,
    'UNKNOWN_STATE',
    {state: input},
  );
}

/**
 * Migration flags from a list of names (`stop_copy,p2p,pre_copy`; also separated by `|`, `+`
 * or spaces; case-insensitive; `VFIO_MIGRATION_` prefix allowed) or a number (`7`, `0x7`).
 * Unknown names, unknown bits and an empty list throw InputError (exit 2). A list without
 * STOP_COPY parses (so callers can report what the kernel does with it: nothing works).
 */
export function parseMigrationFlags(input: string | number): number {
  if (typeof input === 'number') return checkFlagBits(input, String(input));
  const text = input.trim();
  const asNumber = parseNumber(text);
  if (asNumber !== undefined) return checkFlagBits(asNumber, input);
  const tokens = text.split(/[\s,|+]+/).filter((t) => t !== '');
  if (tokens.length === 0) {
    throw new InputError('no migration flags given (e.g. stop_copy,p2p,pre_copy or 0x7)', 'UNKNOWN_FLAG', {
      flags: input,
    });
  }
  let flags = 0;
  for (const raw of tokens) {
    const token = normalizeToken(raw).replace(/^VFIO_MIGRATION_/, '');
    if (!Object.hasOwn(MigFlag, token)) {
      throw new InputError(
        `unknown migration flag: '${raw}' (one of stop_copy, p2p, pre_copy, or a number such as 0x7)`,
        'UNKNOWN_FLAG',
        {flags: input},
      );
    }
    flags |= MigFlag[token as MigFlagName];
  }
  return flags;
}

function checkFlagBits(value: number, shown: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new InputError(`migration flags out of range: ${shown}`, 'UNKNOWN_FLAG', {flags: shown});
  }
  if ((value & ~KNOWN_FLAGS) !== 0) {
    throw new InputError(
      `unknown migration flag bits in ${shown}: 0x${(value & ~KNOWN_FLAGS).toString(16)} (known: STOP_COPY 0x1, P2P 0x2, PRE_COPY 0x4)`,
      'UNKNOWN_FLAG',
      {flags: shown},
    );
  }
  return value;
}

/** The names of the set bits, in bit order: `['STOP_COPY', 'P2P']`. */
export function flagNames(flags: number): MigFlagName[] {
  return (Object.keys(MigFlag) as MigFlagName[]).filter((name) => (flags & MigFlag[name]) !== 0);
}

/** `STOP_COPY|P2P` (as the reference table's headers write it); `0` when none is set. */
export function formatFlags(flags: number): string {
  const names = flagNames(flags);
  return names.length === 0 ? '0' : names.join('|');
}

/** STOP_COPY, PRE_COPY and PRE_COPY_P2P: the states in which a save data_fd is open. */
export function isSavingState(state: MigStateValue): boolean {
  return state === MigState.STOP_COPY || state === MigState.PRE_COPY || state === MigState.PRE_COPY_P2P;
}

/** PRE_COPY and PRE_COPY_P2P. */
export function isPreCopyState(state: MigStateValue): boolean {
  return state === MigState.PRE_COPY || state === MigState.PRE_COPY_P2P;
}

/** RUNNING_P2P and PRE_COPY_P2P: the device runs but initiates no P2P DMA. */
export function isP2PState(state: MigStateValue): boolean {
  return state === MigState.RUNNING_P2P || state === MigState.PRE_COPY_P2P;
}

/** RUNNING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P: the device still runs. */
export function isRunningState(state: MigStateValue): boolean {
  return (
    state === MigState.RUNNING ||
    state === MigState.RUNNING_P2P ||
    state === MigState.PRE_COPY ||
    state === MigState.PRE_COPY_P2P
  );
}

/**
 * Whether a SET that moves the device from `from` to `to` returns a new data_fd: entering
 * RESUMING, or entering a saving state (STOP_COPY, PRE_COPY*) from outside the saving group.
 * Moving inside the saving group (PRE_COPY -> STOP_COPY, PRE_COPY <-> PRE_COPY_P2P) keeps the
 * open fd and returns data_fd = -1. Holds for one arc and, because the kernel's paths only
 * enter a saving state or RESUMING on their last arc, for a whole combination transition.
 */
export function opensDataSession(from: MigStateValue, to: MigStateValue): boolean {
  if (from === to) return false;
  if (to === MigState.RESUMING) return true;
  return isSavingState(to) && !isSavingState(from);
}
