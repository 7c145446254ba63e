import type {Stream} from 'node:stream';

import {hostName} from '../enumerate/index.js';
import {deviceArg} from './args.js';
import {InputError} from '../errors.js';
import {MigState, stateName} from '../fsm/states.js';
import type {DeviceInterfaceChoice} from '../enumerate/access.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {DeviceControl, type EngineLike, type StepRecord} from './control.js';
import {Guard, TimeoutError} from './guard.js';
import {buildHeader, checkHeaderAgainst, type HeaderCheckOptions} from './header.js';
import {DEFAULT_MAX_DOWNTIME_MS, DEFAULT_PRECOPY_ROUNDS, precopyPhase, type PrecopyOutcome, type PrecopyRound} from './precopy.js';
import {MigrationFailedError, recoverDestination, recoverSource, type Recovery} from './recover.js';
import {type EngineStarter, type MigrationEvent, progressOf, startEngine} from './session.js';

export interface RunOptions {
  sysfs: SysfsRoot;
  /** How to open devices: `auto` (the group when the host offers it, else the cdev), `group` or `cdev`. */
  deviceInterface?: DeviceInterfaceChoice;
  source: string;
  dest: string;
  /** PRE_COPY round limit (default 30; 0: straight to STOP_COPY). */
  precopyRounds?: number;
  /** Downtime budget in ms (default 300): PRE_COPY goes on until what is left fits it. */
  maxDowntimeMs?: number;
  /** Abort a STOP_COPY (to the destination RUNNING) still running after this many ms. */
  timeoutMs?: number;
  /** Aborts the migration (a signal): source back to RUNNING, destination reset. */
  signal?: AbortSignal;
  onEvent?: (ev: MigrationEvent) => void;
  start?: EngineStarter;
  /** The compatibility check of the stream header (header.ts): rule sets, or leave it to the driver. */
  headerCheck?: HeaderCheckOptions;
}

export interface RunResult {
  source: string;
  dest: string;
  payload_bytes: number;
  stream_bytes: number;
  precopy_rounds: PrecopyRound[];
  precopy: Omit<PrecopyOutcome, 'rounds'>;
  /** From STOP_COPY until the destination runs: the downtime this migration caused. */
  stop_copy_ms: number;
  max_downtime_ms: number;
  /** States read back from the devices at the end. */
  source_state: string;
  dest_state: string;
  steps: StepRecord[];
}

/**
 * Migrate one device to another on this host: two engines joined by a socket pair, the
 * source saving while the destination loads. The first failure of either side (or a signal,
 * or --timeout) cancels both transfers at once and is the one reported; the source then goes
 * back to RUNNING and the destination is reset. The source is committed to STOP only once
 * the destination has validated the state, right before it runs.
 */
export async function runMigration(options: RunOptions): Promise<RunResult> {
  const source = deviceArg(options.source);
  const dest = deviceArg(options.dest);
  if (source === dest) throw new InputError(`${source}: source and destination are the same device`, 'SAME_DEVICE');
  const emit = options.onEvent ?? (() => undefined);
  const start = options.start ?? startEngine;
  const maxDowntimeMs = options.maxDowntimeMs ?? DEFAULT_MAX_DOWNTIME_MS;
  const guard = new Guard(options.signal);
  const src = await start('pipe');
  guard.watch(src);
  let dst: EngineLike | undefined;
  let srcCtl: DeviceControl | undefined;
  let dstCtl: DeviceControl | undefined;
  let moved = false;
  try {
    dst = await start(src.dataStream as Stream);
    guard.watch(dst);
    // Only the two engines may hold the socket, so that a closed end means end of stream.
    (src.dataStream as {destroy?: () => void} | undefined)?.destroy?.();
    const dstEngine = dst;
    srcCtl = await DeviceControl.open(src, source, options.sysfs, options.deviceInterface);
    const header = await buildHeader(options.sysfs, source, srcCtl.flags, await hostName(options.sysfs), await srcCtl.dataSize());
    await checkHeaderAgainst(options.sysfs, dest, header, options.headerCheck);
    dstCtl = await DeviceControl.open(dstEngine, dest, options.sysfs, options.deviceInterface);
    const s = srcCtl;
    const d = dstCtl;
    for (const [ctl, role] of [[s, 'source'], [d, 'destination']] as const) {
      const state = await ctl.state();
      if (state !== MigState.RUNNING) {
        throw new InputError(`${ctl.device}: the ${role} is ${stateName(state)}, not RUNNING`, 'BAD_STATE');
      }
    }
    guard.check();
    await Promise.all([
      src.request('save_begin', {fd: 3, header: header as unknown as Record<string, unknown>}),
      dstEngine.request('load_begin', {fd: 3}),
    ]);
    moved = true;
    await d.stepTo(MigState.RESUMING);
    const loading = guard.run(() => dstEngine.request('load', {}, {onProgress: (ev) => emit(progressOf(dest, 'load', ev))}));
    let disarm = () => undefined as void;
    const saving = (async () => {
      const pre = await precopyPhase(s, src, {maxDowntimeMs, maxRounds: options.precopyRounds ?? DEFAULT_PRECOPY_ROUNDS}, guard, emit);
      guard.check();
      const stopStart = performance.now();
      disarm = guard.deadline(options.timeoutMs, () => new TimeoutError(options.timeoutMs!));
      await s.stepTo(MigState.STOP_COPY);
      const estimate = await s.dataSize();
      await guard.run(() => src.request('save', {mode: 'until_eof', ...(estimate ? {estimate} : {})}, {onProgress: (ev) => emit(progressOf(source, 'stop_copy', ev))}));
      const end = await src.request('save_end', {});
      return {pre, end, stopStart};
    })().catch((error: unknown) => {
      // An arc or PRECOPY_INFO failure outside a transfer: the loader must stop waiting too.
      guard.abort(error as Error);
      throw guard.error;
    });
    const [saved, loaded] = await Promise.all([saving, loading]);
    await dstEngine.request('load_end', {});
    await d.stepTo(MigState.STOP); // the driver validates the data here
    guard.check();
    // The hand-over: from here the destination holds the state. If we die now the source's
    // engine must not resume the source beside a running destination.
    await src.request('commit', {});
    await d.stepTo(MigState.RUNNING);
    const stopCopyMs = performance.now() - saved.stopStart;
    disarm();
    await s.stepTo(MigState.STOP);
    for (const step of [...s.steps, ...d.steps]) emit({event: 'step', device: step.device, from: step.from, to: step.to});
    const {rounds, ...precopy} = saved.pre;
    return {
      source,
      dest,
      payload_bytes: saved.end.payload_bytes,
      stream_bytes: loaded.stream_bytes,
      precopy_rounds: rounds,
      precopy,
      stop_copy_ms: Math.round(stopCopyMs),
      max_downtime_ms: maxDowntimeMs,
      source_state: stateName(await s.state()),
      dest_state: stateName(await d.state()),
      steps: [...s.steps, ...d.steps],
    };
  } catch (caught) {
    const error = guard.error ?? (caught as Error);
    guard.abort(error);
    // Close both streams so neither side holds the socket, then recover both devices.
    await Promise.all([src.request('save_end', {abort: true}).catch(() => undefined), dst?.request('load_end', {}).catch(() => undefined)]);
    if (!moved) throw error;
    const recoveries: Recovery[] = [];
    if (srcCtl) recoveries.push(await recoverSource(srcCtl));
    if (dstCtl) recoveries.push(await recoverDestination(dstCtl));
    throw new MigrationFailedError(error, recoveries);
  } finally {
    await Promise.all([src.close().catch(() => undefined), dst?.close().catch(() => undefined)]);
  }
}
