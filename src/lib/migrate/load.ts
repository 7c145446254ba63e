import {deviceArg} from './args.js';
import {InputError} from '../errors.js';
import {MigState, stateName} from '../fsm/states.js';
import {recoverInterruptedPrepare, type RecoveredPrepare} from '../prepare/journal.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {DeviceControl, type EngineLike, type StepRecord} from './control.js';
import {Guard} from './guard.js';
import {checkHeaderAgainst, type HeaderCheckOptions, parseHeader, type StreamHeader} from './header.js';
import {MigrationFailedError, recoverDestination} from './recover.js';
import {type Endpoint, type EngineStarter, type MigrationEvent, progressOf, startEngine} from './session.js';

export interface LoadOptions {
  sysfs: SysfsRoot;
  device: string;
  input: Endpoint;
  raw?: boolean;
  /** Aborts the load (a signal): the destination is reset. */
  signal?: AbortSignal;
  onEvent?: (ev: MigrationEvent) => void;
  start?: EngineStarter;
  /** The compatibility check of the stream header (header.ts): rule sets, or leave it to the driver. */
  headerCheck?: HeaderCheckOptions;
}

export interface LoadResult {
  device: string;
  input: string;
  raw: boolean;
  source: StreamHeader['source'] | null;
  payload_bytes: number;
  stream_bytes: number;
  chunks: number;
  final_state: string;
  steps: StepRecord[];
  /** An interrupted prepare of the destination, rolled back before the load. */
  recovered_prepare?: RecoveredPrepare;
}

/**
 * Load a saved state into a destination: the header is checked against the destination
 * (model, parameters, prepared values) before the device is touched; then RESUMING, every
 * chunk checked before it reaches the device, STOP (where the driver validates the data)
 * and RUNNING. A bad or truncated stream, or data the driver rejects, resets the device.
 */
export async function loadDevice(options: LoadOptions): Promise<LoadResult> {
  const device = deviceArg(options.device);
  const emit = options.onEvent ?? (() => undefined);
  const raw = options.raw === true;
  const what = 'path' in options.input ? options.input.path : 'stdin';
  const guard = new Guard(options.signal);
  const engine: EngineLike = await (options.start ?? startEngine)('fd' in options.input ? options.input.fd : undefined);
  guard.watch(engine);
  let control: DeviceControl | undefined;
  let resuming = false;
  try {
    const begun = await engine.request('load_begin', {...('path' in options.input ? {path: options.input.path} : {fd: 3}), raw});
    const header = begun.header === null ? null : parseHeader(begun.header, what);
    // A prepare that died half-way left the destination neither old nor new: roll it back first.
    const recovered = await recoverInterruptedPrepare(options.sysfs, device);
    if (header) await checkHeaderAgainst(options.sysfs, device, header, options.headerCheck);
    control = await DeviceControl.open(engine, device, options.sysfs.root);
    const ctl = control;
    const start = await ctl.state();
    if (start !== MigState.RUNNING && start !== MigState.STOP) {
      throw new InputError(`${device}: the destination is ${stateName(start)}, not RUNNING or STOP; see 'vfio-mig migrate state ${device}'`, 'BAD_STATE');
    }
    guard.check();
    resuming = true;
    await ctl.stepTo(MigState.RESUMING);
    for (const s of ctl.steps) emit({event: 'step', device, from: s.from, to: s.to});
    const estimate = header?.size_estimate ?? undefined;
    const loaded = await guard.run(() => engine.request('load', estimate ? {estimate} : {}, {onProgress: (ev) => emit(progressOf(device, 'load', ev))}));
    await engine.request('load_end', {});
    const before = ctl.steps.length;
    await ctl.stepTo(MigState.STOP);
    guard.check();
    await ctl.stepTo(MigState.RUNNING);
    for (const s of ctl.steps.slice(before)) emit({event: 'step', device, from: s.from, to: s.to});
    return {
      device,
      input: what,
      raw,
      source: header?.source ?? null,
      payload_bytes: loaded.bytes,
      stream_bytes: loaded.stream_bytes,
      chunks: loaded.chunks,
      final_state: stateName(await ctl.state()),
      steps: ctl.steps,
      ...(recovered ? {recovered_prepare: recovered} : {}),
    };
  } catch (caught) {
    const error = guard.error ?? (caught as Error);
    await engine.request('load_end', {}).catch(() => undefined);
    if (!control || !resuming) throw error;
    throw new MigrationFailedError(error, [await recoverDestination(control)]);
  } finally {
    await engine.close().catch(() => undefined);
  }
}
