import {InputError} from '../../src/lib/errors.js';
import {
  FSM_TABLE_6_1,
  FSM_TABLE_LATEST,
  FsmRejectedError,
  MigFlag,
  MigState,
  STATE_FLAGS_6_1,
  STATE_FLAGS_LATEST,
  STATE_NAMES,
  arcs,
  flagNames,
  formatFlags,
  formatPath,
  isSavingState,
  isStateSupported,
  nextState,
  opensDataSession,
  parseMigrationFlags,
  parseState,
  path,
  supportedStates,
  type MigStateValue,
} from '../../src/lib/fsm/index.js';

const {ERROR, STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P} = MigState;
const ALL = MigFlag.STOP_COPY | MigFlag.P2P | MigFlag.PRE_COPY;
const STATES = STATE_NAMES.map((_, i) => i as MigStateValue);

describe('parseState', () => {
  test.each([
    ['stop_copy', STOP_COPY],
    ['STOP_COPY', STOP_COPY],
    ['Stop-Copy', STOP_COPY],
    ['VFIO_DEVICE_STATE_PRE_COPY_P2P', PRE_COPY_P2P],
    ['running_p2p', RUNNING_P2P],
    ['error', ERROR],
    ['3', STOP_COPY],
    ['0x7', PRE_COPY_P2P],
    [' resuming ', RESUMING],
  ] as const)('%s', (input, state) => {
    expect(parseState(input)).toBe(state);
  });

  test.each(['stopcopy', 'RUNNING_P2', '', '8', '0x8', '-1', 'p2p', 'STOP_COPY,RUNNING'])('rejects %j', (input) => {
    expect(() => parseState(input)).toThrow(InputError);
    try {
      parseState(input);
    } catch (err) {
      expect((err as InputError).exitCode).toBe(2);
      expect((err as InputError).code).toBe('UNKNOWN_STATE');
    }
  });

  test('numbers', () => {
    expect(parseState(6)).toBe(PRE_COPY);
    expect(() => parseState(8)).toThrow(InputError);
    expect(() => parseState(1.5)).toThrow(InputError);
  });
});

describe('parseMigrationFlags', () => {
  test.each([
    ['stop_copy', 0x1],
    ['stop_copy,p2p', 0x3],
    ['STOP_COPY|P2P|PRE_COPY', 0x7],
    ['Pre_Copy, stop-copy', 0x5],
    ['VFIO_MIGRATION_STOP_COPY+VFIO_MIGRATION_P2P', 0x3],
    ['0x7', 0x7],
    ['0X5', 0x5],
    ['3', 0x3],
    ['0', 0],
    ['p2p', 0x2],
    ['stop_copy,stop_copy', 0x1],
  ] as const)('%s', (input, flags) => {
    expect(parseMigrationFlags(input)).toBe(flags);
  });

  test.each(['', ' , ', 'stopcopy', 'dirty_logging', '0x8', '0xf', '-1', '0x100000000', 'stop_copy,0x2'])(
    'rejects %j',
    (input) => {
      expect(() => parseMigrationFlags(input)).toThrow(InputError);
    },
  );

  test('names and formatting', () => {
    expect(flagNames(0x7)).toEqual(['STOP_COPY', 'P2P', 'PRE_COPY']);
    expect(formatFlags(0x5)).toBe('STOP_COPY|PRE_COPY');
    expect(formatFlags(0)).toBe('0');
  });
});

describe('the tables are the kernel tables', () => {
  test('6.1 equals latest restricted to states 0..5', () => {
    for (let from = 0; from < 6; from++) {
      expect(FSM_TABLE_6_1[from]).toEqual(FSM_TABLE_LATEST[from]!.slice(0, 6));
    }
    expect(STATE_FLAGS_6_1).toEqual(STATE_FLAGS_LATEST.slice(0, 6));
  });

  test('the diagonal is the identity and ERROR is a sink', () => {
    for (const s of STATES) expect(FSM_TABLE_LATEST[s]![s]).toBe(s);
    for (const s of STATES) expect(FSM_TABLE_LATEST[ERROR]![s]).toBe(ERROR);
    for (const s of STATES) expect(FSM_TABLE_LATEST[s]![ERROR]).toBe(ERROR);
  });

  test('the only ERROR entries outside the ERROR row/column are STOP_COPY -> PRE_COPY*', () => {
    const errors: string[] = [];
    for (const from of STATES) {
      for (const to of STATES) {
        if (from !== ERROR && to !== ERROR && FSM_TABLE_LATEST[from]![to] === ERROR) errors.push(formatPath([from, to]));
      }
    }
    expect(errors).toEqual(['STOP_COPY -> PRE_COPY', 'STOP_COPY -> PRE_COPY_P2P']);
  });

  test('supported states', () => {
    expect(supportedStates(0x1)).toEqual([STOP, RUNNING, STOP_COPY, RESUMING]);
    expect(supportedStates(0x7)).toEqual([STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P]);
    expect(supportedStates(0x3, '6.1')).toEqual([STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P]);
    expect(supportedStates(0x0)).toEqual([]);
    expect(isStateSupported(ALL, ERROR)).toBe(false);
    expect(isStateSupported(ALL, PRE_COPY, '6.1')).toBe(false);
  });
});

describe('path: edge cases', () => {
  test('from == to is an empty walk', () => {
    const r = path(0x1, RUNNING, RUNNING, 'latest');
    expect(r).toMatchObject({rejected: false, states: [RUNNING], arcs: []});
    expect(nextState(0x1, STOP, STOP)).toEqual({rejected: false, next: STOP});
  });

  test('from == to on an unsupported state is still rejected', () => {
    expect(path(0x1, RUNNING_P2P, RUNNING_P2P, 'latest')).toMatchObject({rejected: true, code: 'FROM_UNSUPPORTED'});
    expect(path(ALL, ERROR, ERROR, 'latest')).toMatchObject({rejected: true, code: 'FROM_ERROR'});
  });

  test('ERROR as target', () => {
    const r = path(ALL, RUNNING, ERROR, 'latest');
    expect(r).toMatchObject({rejected: true, code: 'TARGET_ERROR', errno: 'EINVAL', kernelHangs: false});
  });

  test('ERROR as source needs a reset', () => {
    const r = path(ALL, ERROR, RUNNING, 'latest');
    expect(r.rejected && r.code).toBe('FROM_ERROR');
    expect(r.rejected && r.reason).toMatch(/VFIO_DEVICE_RESET/);
  });

  test('states the flags do not support', () => {
    expect(path(0x1, RUNNING, RUNNING_P2P, 'latest')).toMatchObject({rejected: true, code: 'TARGET_UNSUPPORTED'});
    expect(path(0x3, RUNNING, PRE_COPY, 'latest')).toMatchObject({rejected: true, code: 'TARGET_UNSUPPORTED'});
    expect(path(0x5, PRE_COPY_P2P, RUNNING, 'latest')).toMatchObject({rejected: true, code: 'FROM_UNSUPPORTED'});
    const r = path(0x5, RUNNING, PRE_COPY_P2P, 'latest');
    expect(r.rejected && r.reason).toBe('PRE_COPY_P2P needs migration flags STOP_COPY|P2P|PRE_COPY; the device has STOP_COPY|PRE_COPY');
  });

  test('STOP_COPY -> PRE_COPY without the PRE_COPY flag is refused by the target check (no hang)', () => {
    expect(path(0x1, STOP_COPY, PRE_COPY, 'latest')).toMatchObject({rejected: true, code: 'TARGET_UNSUPPORTED', kernelHangs: false});
  });

  test('STOP_COPY -> PRE_COPY* with the PRE_COPY flag is the blocked arc', () => {
    for (const flags of [0x5, 0x7]) {
      expect(nextState(flags, STOP_COPY, PRE_COPY)).toMatchObject({rejected: true, code: 'BLOCKED_ARC', kernelHangs: true});
    }
    expect(path(0x7, STOP_COPY, PRE_COPY_P2P, 'latest')).toMatchObject({rejected: true, code: 'BLOCKED_ARC'});
  });

  test('flags without STOP_COPY reject everything', () => {
    for (const flags of [0x0, 0x2, 0x4, 0x6]) {
      const r = path(flags, RUNNING, STOP, 'latest');
      expect(r).toMatchObject({rejected: true, code: 'NO_STOP_COPY'});
    }
    const r = path(0x2, RUNNING, STOP, 'latest');
    expect(r.rejected && r.reason).toMatch(/lack STOP_COPY/);
  });

  test('6.1 with the PRE_COPY flag or PRE_COPY states', () => {
    const flag = path(0x5, RUNNING, STOP, '6.1');
    expect(flag).toMatchObject({rejected: true, code: 'FLAG_UNKNOWN_TO_KERNEL'});
    expect(flag.rejected && flag.reason).toMatch(/6\.1.*no PRE_COPY/);
    expect(path(0x3, RUNNING, PRE_COPY, '6.1')).toMatchObject({rejected: true, code: 'STATE_UNKNOWN_TO_KERNEL'});
    expect(path(0x3, PRE_COPY_P2P, STOP, '6.1')).toMatchObject({rejected: true, code: 'STATE_UNKNOWN_TO_KERNEL'});
    // The same pair on latest works.
    expect(path(0x7, RUNNING, PRE_COPY, 'latest')).toMatchObject({rejected: false, states: [RUNNING, PRE_COPY]});
  });

  test('non-state numbers are input errors, not rejections', () => {
    expect(() => path(0x1, 9 as MigStateValue, STOP, 'latest')).toThrow(InputError);
    expect(() => path(0x1, STOP, STOP, 'linux-5' as never)).toThrow(InputError);
  });

  test('every supported pair under every flag set terminates within the state count', () => {
    for (const kernel of ['latest', '6.1'] as const) {
      for (let flags = 0; flags < 8; flags++) {
        for (const from of STATES) {
          for (const to of STATES) {
            const r = path(flags, from, to, kernel);
            if (!r.rejected) {
              expect(r.arcs.length).toBeLessThanOrEqual(5);
              expect(r.states.at(-1)).toBe(to);
              expect(r.arcs.every((a) => isStateSupported(flags, a.to, kernel))).toBe(true);
            } else {
              expect(r.code).not.toBe('LOOP');
            }
          }
        }
      }
    }
  });

  test('a path passes through a saving state only inside the saving group it started in', () => {
    for (const from of STATES) {
      for (const to of STATES) {
        const r = path(ALL, from, to, 'latest');
        if (r.rejected) continue;
        const inner = r.states.slice(1, -1);
        if (!isSavingState(from)) expect(inner.filter(isSavingState)).toEqual([]);
        else {
          // Once a walk leaves the saving group it never re-enters it.
          const firstOut = r.states.findIndex((s) => !isSavingState(s));
          if (firstOut >= 0) expect(r.states.slice(firstOut).filter(isSavingState)).toEqual([]);
        }
      }
    }
  });
});

describe('arcs (stepping one SET at a time)', () => {
  test('returns single arcs', () => {
    expect(arcs(0x3, RUNNING, STOP_COPY)).toEqual([
      {from: RUNNING, to: RUNNING_P2P},
      {from: RUNNING_P2P, to: STOP},
      {from: STOP, to: STOP_COPY},
    ]);
    expect(arcs(0x1, STOP, STOP)).toEqual([]);
  });

  test('throws FsmRejectedError (an InputError, exit 2) for refused transitions', () => {
    expect(() => arcs(0x7, STOP_COPY, PRE_COPY)).toThrow(FsmRejectedError);
    try {
      arcs(0x7, STOP_COPY, PRE_COPY);
    } catch (err) {
      expect(err).toBeInstanceOf(InputError);
      const e = err as FsmRejectedError;
      expect(e.exitCode).toBe(2);
      expect(e.code).toBe('FSM_REJECTED');
      expect(e.details).toMatchObject({from: 'STOP_COPY', to: 'PRE_COPY', reject_code: 'BLOCKED_ARC', kernel_hangs: true});
      expect(e.rejection.code).toBe('BLOCKED_ARC');
    }
  });
});

describe('data sessions and saving states', () => {
  test('isSavingState', () => {
    expect(STATES.filter(isSavingState)).toEqual([STOP_COPY, PRE_COPY, PRE_COPY_P2P]);
  });

  test.each([
    [STOP, STOP_COPY, true],
    [RUNNING, PRE_COPY, true],
    [RUNNING_P2P, PRE_COPY_P2P, true],
    [STOP, RESUMING, true],
    [PRE_COPY, STOP_COPY, false],
    [PRE_COPY_P2P, STOP_COPY, false],
    [PRE_COPY, PRE_COPY_P2P, false],
    [PRE_COPY_P2P, PRE_COPY, false],
    [STOP_COPY, STOP, false],
    [RESUMING, STOP, false],
    [RUNNING, STOP, false],
    [STOP_COPY, STOP_COPY, false],
    [RESUMING, RESUMING, false],
  ] as const)('%s -> %s opens a session: %s', (from, to, opens) => {
    expect(opensDataSession(from, to)).toBe(opens);
  });

  test('on every kernel path only the last arc can open a session', () => {
    for (let flags = 1; flags < 8; flags += 2) {
      for (const from of STATES) {
        for (const to of STATES) {
          const r = path(flags, from, to, 'latest');
          if (r.rejected || r.arcs.length === 0) continue;
          const opening = r.arcs.filter((a) => opensDataSession(a.from, a.to));
          expect(opening.length).toBeLessThanOrEqual(1);
          if (opening.length === 1) expect(opening[0]).toBe(r.arcs.at(-1));
          expect(opensDataSession(from, to)).toBe(opening.length === 1);
        }
      }
    }
  });
});
