import {rename, unlink} from 'node:fs/promises';
import path from 'node:path';

import {hostName} from '../enumerate/index.js';
import {deviceArg} from './args.js';
import {InputError} from '../errors.js';
import {flagNames, MigState, stateName} from '../fsm/states.js';
import type {DeviceInterfaceChoice} from '../enumerate/access.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {DeviceControl, type EngineLike, type StepRecord} from './control.js';
import {Guard, TimeoutError} from './guard.js';
import {buildHeader} from './header.js';
import {DEFAULT_MAX_DOWNTIME_MS, precopyPhase, type PrecopyOutcome, type PrecopyRound} from './precopy.js';
import {MigrationFailedError, recoverSource} from './recover.js';
import {type Endpoint, type EngineStarter, type MigrationEvent, progressOf, startEngine} from './session.js';

export type {PrecopyRound} from './precopy.js';

/** Where the source goes after a good save: RUNNING (a snapshot) or STOP (a hand-over). */
export type FinalState = 'running' | 'stop';

export interface SaveOptions {
  sysfs: SysfsRoot;
  /** How to open devices: `auto` (the group when the host offers it, else the cdev), `group` or `cdev`. */
  deviceInterface?: DeviceInterfaceChoice;
  device: string;
  output: Endpoint;
  /** Bare device bytes instead of the framed, checksummed stream. */
  raw?: boolean;
  /** The source's state after a good save; the caller chooses (nothing is assumed on close). */
  finalState: FinalState;
  /** PRE_COPY round limit when the device offers PRE_COPY (0: straight to STOP_COPY). */
  precopyRounds?: number;
  /** PRE_COPY goes on until what is left fits this (ms, default 300). */
  maxDowntimeMs?: number;
  /** Abort a STOP_COPY still running after this many ms (the source resumes). */
  timeoutMs?: number;
  /** Aborts the save (a signal): the source goes back to RUNNING, no file remains. */
  signal?: AbortSignal;
  onEvent?: (ev: MigrationEvent) => void;
  start?: EngineStarter;
}

export interface SaveResult {
  device: string;
  output: string;
  raw: boolean;
  migration_flags: string[];
  precopy_rounds: PrecopyRound[];
  precopy: Omit<PrecopyOutcome, 'rounds'>;
  payload_bytes: number;
  stream_bytes: number;
  chunks: number;
  size_estimate: number | null;
  /** Milliseconds from leaving RUNNING (entering STOP_COPY) until all state was read. */
  stop_copy_ms: number;
  /** The state the device reports after the save (read back, not assumed). */
  final_state: string;
  steps: StepRecord[];
}

/**
 * Save a device's state: RUNNING [-> PRE_COPY rounds under the downtime budget] -> STOP_COPY,
 * the data to `output`, then the chosen final state, read back from the device. On any
 * failure, signal or timeout the source is unwound to RUNNING (or reset if it went to ERROR)
 * and a file output is removed: nothing half-written remains.
 */
export async function saveDevice(options: SaveOptions): Promise<SaveResult> {
  const device = deviceArg(options.device);
  const emit = options.onEvent ?? (() => undefined);
  const raw = options.raw === true;
  const toPath = 'path' in options.output ? path.resolve(options.output.path) : undefined;
  const partial = toPath ? `${toPath}.partial-${process.pid}` : undefined;
  const guard = new Guard(options.signal);
  const engine: EngineLike = await (options.start ?? startEngine)('fd' in options.output ? options.output.fd : undefined);
  guard.watch(engine);
  let control: DeviceControl | undefined;
  let outputOpen = false;
  // Recovery only once we have moved the device: a source found in STOP is left alone.
  let touched = false;
  try {
    control = await DeviceControl.open(engine, device, options.sysfs, options.deviceInterface);
    const ctl = control;
    const start = await ctl.state();
    if (start !== MigState.RUNNING) {
      throw new InputError(`${device}: the source is ${stateName(start)}, not RUNNING; see 'vfio-mig migrate state ${device}'`, 'BAD_STATE');
    }
    const header = raw ? undefined : await buildHeader(options.sysfs, device, ctl.flags, await hostName(options.sysfs), await ctl.dataSize());
    guard.check();
    await engine.request('save_begin', {
      ...(partial ? {path: partial, exclusive: true} : {fd: 3}),
      raw,
      ...(header ? {header: header as unknown as Record<string, unknown>} : {}),
    });
    outputOpen = true;
    const allSteps: StepRecord[] = [];
    const report = () => {
      for (const s of ctl.steps.splice(0)) {
        allSteps.push(s);
        if (s.ok) emit({event: 'step', device, from: s.from, to: s.to});
      }
    };
    touched = true;
    const pre = await precopyPhase(
      ctl,
      engine,
      {maxDowntimeMs: options.maxDowntimeMs ?? DEFAULT_MAX_DOWNTIME_MS, maxRounds: options.precopyRounds ?? 0},
      guard,
      emit,
    );
    report();
    guard.check();
    const stopStart = performance.now();
    const disarm = guard.deadline(options.timeoutMs, () => new TimeoutError(options.timeoutMs!));
    await ctl.stepTo(MigState.STOP_COPY);
    report();
    const estimate = await ctl.dataSize();
    await guard.run(() => engine.request('save', {mode: 'until_eof', ...(estimate ? {estimate} : {})}, {onProgress: (ev) => emit(progressOf(device, 'stop_copy', ev))}));
    const stopCopyMs = performance.now() - stopStart;
    disarm();
    guard.check();
    const end = await engine.request('save_end', {});
    outputOpen = false;
    if (partial && toPath) await rename(partial, toPath);
    // From here the saved state is the device's: a hand-over keeps the source stopped even if
    // we are killed now (the engine would otherwise resume it).
    if (options.finalState === 'stop') await engine.request('commit', {});
    await ctl.stepTo(options.finalState === 'stop' ? MigState.STOP : MigState.RUNNING);
    report();
    const now = await ctl.state();
    const {rounds, ...precopy} = pre;
    return {
      device,
      output: toPath ?? '-',
      raw,
      migration_flags: flagNames(ctl.flags),
      precopy_rounds: rounds,
      precopy,
      payload_bytes: end.payload_bytes,
      stream_bytes: end.stream_bytes,
      chunks: end.chunks,
      size_estimate: estimate ?? null,
      stop_copy_ms: Math.round(stopCopyMs),
      final_state: stateName(now),
      steps: allSteps,
    };
  } catch (caught) {
    const error = guard.error ?? (caught as Error);
    if (outputOpen) await engine.request('save_end', {abort: true}).catch(() => undefined);
    if (partial) await unlink(partial).catch(() => undefined);
    if (!control || !touched) throw error;
    const recovery = await recoverSource(control);
    throw new MigrationFailedError(error, [recovery]);
  } finally {
    await engine.close().catch(() => undefined);
  }
}
