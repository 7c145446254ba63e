import type {Stream} from 'node:stream';

import {hostName} from '../enumerate/index.js';
import {deviceArg} from './args.js';
import {InputError} from '../errors.js';
import {MigFlag, MigState, stateName} from '../fsm/states.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {DeviceControl, type EngineLike, type StepRecord} from './control.js';
import {buildHeader, checkHeaderAgainst, type HeaderCheckOptions} from './header.js';
import {MigrationFailedError, recoverDestination, recoverSource, type Recovery} from './recover.js';
import {type EngineStarter, type MigrationEvent, progressOf, startEngine} from './session.js';
import type {PrecopyRound} from './save.js';

export interface RunOptions {
  sysfs: SysfsRoot;
  source: string;
  dest: string;
  precopyRounds?: number;
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
  stop_copy_ms: number;
  source_state: string;
  dest_state: string;
  steps: StepRecord[];
}

/**
 * Migrate one device to another on this host: two engines joined by a socket pair, the
 * source saving while the destination loads. Any failure unwinds the source to RUNNING and
 * resets the destination; the source is left STOPped only after the destination is RUNNING.
 */
export async function runMigration(options: RunOptions): Promise<RunResult> {
  const source = deviceArg(options.source);
  const dest = deviceArg(options.dest);
  if (source === dest) throw new InputError(`${source}: source and destination are the same device`, 'SAME_DEVICE');
  const emit = options.onEvent ?? (() => undefined);
  const start = options.start ?? startEngine;
  const src = await start('pipe');
  let dst: EngineLike | undefined;
  let srcCtl: DeviceControl | undefined;
  let dstCtl: DeviceControl | undefined;
  let moved = false;
  try {
    dst = await start(src.dataStream as Stream);
    // Only the two engines may hold the socket, so that a closed end means end of stream.
    (src.dataStream as {destroy?: () => void} | undefined)?.destroy?.();
    const dstEngine = dst;
    srcCtl = await DeviceControl.open(src, source, options.sysfs.root);
    const header = await buildHeader(options.sysfs, source, srcCtl.flags, await hostName(options.sysfs), await srcCtl.dataSize());
    await checkHeaderAgainst(options.sysfs, dest, header, options.headerCheck);
    dstCtl = await DeviceControl.open(dstEngine, dest, options.sysfs.root);
    const s = srcCtl;
    const d = dstCtl;
    for (const [ctl, role] of [[s, 'source'], [d, 'destination']] as const) {
      const state = await ctl.state();
      if (state !== MigState.RUNNING) {
        throw new InputError(`${ctl.device}: the ${role} is ${stateName(state)}, not RUNNING`, 'BAD_STATE');
      }
    }
    await Promise.all([
      src.request('save_begin', {fd: 3, header: header as unknown as Record<string, unknown>}),
      dstEngine.request('load_begin', {fd: 3}),
    ]);
    moved = true;
    await d.stepTo(MigState.RESUMING);
    const loading = dstEngine.request('load', {}, {onProgress: (ev) => emit(progressOf(dest, 'load', ev))});
    // If the destination fails first, stop feeding it: its error is the one to report.
    const saving = (async () => {
      const rounds: PrecopyRound[] = [];
      if ((options.precopyRounds ?? 0) > 0 && s.has(MigFlag.PRE_COPY)) {
        await s.stepTo(MigState.PRE_COPY);
        for (let round = 1; round <= (options.precopyRounds ?? 0); round++) {
          const info = await src.request('precopy_info', {});
          if (round > 1 && info.initial_bytes === 0 && info.dirty_bytes === 0) break;
          const r = await src.request('save', {mode: 'until_empty'}, {onProgress: (ev) => emit(progressOf(source, 'precopy', ev))});
          const entry = {round, initial_bytes: info.initial_bytes, dirty_bytes: info.dirty_bytes, bytes: r.bytes};
          rounds.push(entry);
          emit({event: 'precopy', device: source, ...entry});
        }
      }
      const stopStart = performance.now();
      await s.stepTo(MigState.STOP_COPY);
      const estimate = await s.dataSize();
      await src.request('save', {mode: 'until_eof', ...(estimate ? {estimate} : {})}, {onProgress: (ev) => emit(progressOf(source, 'stop_copy', ev))});
      const end = await src.request('save_end', {});
      return {rounds, end, stopStart};
    })();
    const [saved, loaded] = await Promise.all([saving, loading]);
    await dstEngine.request('load_end', {});
    await d.stepTo(MigState.STOP); // the driver validates the data here
    await d.stepTo(MigState.RUNNING);
    const stopCopyMs = performance.now() - saved.stopStart;
    await s.stepTo(MigState.STOP);
    for (const step of [...s.steps, ...d.steps]) emit({event: 'step', device: step.device, from: step.from, to: step.to});
    return {
      source,
      dest,
      payload_bytes: saved.end.payload_bytes,
      stream_bytes: loaded.stream_bytes,
      precopy_rounds: saved.rounds,
      stop_copy_ms: Math.round(stopCopyMs),
      source_state: 'STOP',
      dest_state: 'RUNNING',
      steps: [...s.steps, ...d.steps],
    };
  } catch (error) {
    // Close both streams so a side blocked on the socket returns, then recover both devices.
    await src.request('save_end', {abort: true}).catch(() => undefined);
    await dst?.request('load_end', {}).catch(() => undefined);
    if (!moved) throw error;
    const recoveries: Recovery[] = [];
    if (srcCtl) recoveries.push(await recoverSource(srcCtl));
    if (dstCtl) recoveries.push(await recoverDestination(dstCtl));
    throw new MigrationFailedError(error as Error, recoveries);
  } finally {
    await Promise.all([src.close().catch(() => undefined), dst?.close().catch(() => undefined)]);
  }
}
