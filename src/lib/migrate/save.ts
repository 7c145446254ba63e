import {rename, unlink} from 'node:fs/promises';
import path from 'node:path';

import {hostName} from '../enumerate/index.js';
import {deviceArg} from './args.js';
import {InputError} from '../errors.js';
import {flagNames, MigFlag, MigState, stateName} from '../fsm/states.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {DeviceControl, type EngineLike, type StepRecord} from './control.js';
import {buildHeader} from './header.js';
import {MigrationFailedError, recoverSource} from './recover.js';
import {type Endpoint, type EngineStarter, type MigrationEvent, progressOf, startEngine} from './session.js';

export interface SaveOptions {
  sysfs: SysfsRoot;
  device: string;
  output: Endpoint;
  /** Bare device bytes instead of the framed, checksummed stream. */
  raw?: boolean;
  /** Up to this many PRE_COPY rounds before STOP_COPY, when the device offers PRE_COPY. */
  precopyRounds?: number;
  /** After a good save, return the source to RUNNING (a snapshot) instead of leaving it STOPped. */
  resume?: boolean;
  onEvent?: (ev: MigrationEvent) => void;
  start?: EngineStarter;
}

export interface PrecopyRound {
  round: number;
  initial_bytes: number;
  dirty_bytes: number;
  bytes: number;
}

export interface SaveResult {
  device: string;
  output: string;
  raw: boolean;
  migration_flags: string[];
  precopy_rounds: PrecopyRound[];
  payload_bytes: number;
  stream_bytes: number;
  chunks: number;
  size_estimate: number | null;
  /** Milliseconds from leaving RUNNING (entering STOP_COPY) until all state was read. */
  stop_copy_ms: number;
  final_state: string;
  steps: StepRecord[];
}

/**
 * Save a device's state: RUNNING [-> PRE_COPY rounds] -> STOP_COPY, the data to `output`,
 * then STOP (or RUNNING with `resume`). On any failure the source is unwound to RUNNING
 * (or reset if it went to ERROR) and a file output is removed: nothing half-written remains.
 */
export async function saveDevice(options: SaveOptions): Promise<SaveResult> {
  const device = deviceArg(options.device);
  const emit = options.onEvent ?? (() => undefined);
  const raw = options.raw === true;
  const toPath = 'path' in options.output ? path.resolve(options.output.path) : undefined;
  const partial = toPath ? `${toPath}.partial-${process.pid}` : undefined;
  const engine: EngineLike = await (options.start ?? startEngine)('fd' in options.output ? options.output.fd : undefined);
  let control: DeviceControl | undefined;
  let outputOpen = false;
  // Recovery only once we have moved the device: a source found in STOP is left alone.
  let touched = false;
  try {
    control = await DeviceControl.open(engine, device, options.sysfs.root);
    const ctl = control;
    const start = await ctl.state();
    if (start !== MigState.RUNNING) {
      throw new InputError(`${device}: the source is ${stateName(start)}, not RUNNING; see 'vfio-mig migrate state ${device}'`, 'BAD_STATE');
    }
    const header = raw ? undefined : await buildHeader(options.sysfs, device, ctl.flags, await hostName(options.sysfs), await ctl.dataSize());
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
    const rounds: PrecopyRound[] = [];
    if ((options.precopyRounds ?? 0) > 0 && ctl.has(MigFlag.PRE_COPY)) {
      await ctl.stepTo(MigState.PRE_COPY);
      report();
      for (let round = 1; round <= (options.precopyRounds ?? 0); round++) {
        const info = await engine.request('precopy_info', {});
        if (round > 1 && info.initial_bytes === 0 && info.dirty_bytes === 0) break;
        const moved = await engine.request('save', {mode: 'until_empty'}, {onProgress: (ev) => emit(progressOf(device, 'precopy', ev))});
        const entry = {round, initial_bytes: info.initial_bytes, dirty_bytes: info.dirty_bytes, bytes: moved.bytes};
        rounds.push(entry);
        emit({event: 'precopy', device, ...entry});
      }
    }
    const stopStart = performance.now();
    await ctl.stepTo(MigState.STOP_COPY);
    report();
    const estimate = await ctl.dataSize();
    await engine.request(
      'save',
      {mode: 'until_eof', ...(estimate ? {estimate} : {})},
      {onProgress: (ev) => emit(progressOf(device, 'stop_copy', ev))},
    );
    const stopCopyMs = performance.now() - stopStart;
    const end = await engine.request('save_end', {});
    outputOpen = false;
    if (partial && toPath) await rename(partial, toPath);
    const final = options.resume ? MigState.RUNNING : MigState.STOP;
    await ctl.stepTo(final);
    report();
    return {
      device,
      output: toPath ?? '-',
      raw,
      migration_flags: flagNames(ctl.flags),
      precopy_rounds: rounds,
      payload_bytes: end.payload_bytes,
      stream_bytes: end.stream_bytes,
      chunks: end.chunks,
      size_estimate: estimate ?? null,
      stop_copy_ms: Math.round(stopCopyMs),
      final_state: stateName(final),
      steps: allSteps,
    };
  } catch (error) {
    if (outputOpen) await engine.request('save_end', {abort: true}).catch(() => undefined);
    if (partial) await unlink(partial).catch(() => undefined);
    if (!control || !touched) throw error;
    const recovery = await recoverSource(control);
    throw new MigrationFailedError(error as Error, [recovery]);
  } finally {
    await engine.close().catch(() => undefined);
  }
}
