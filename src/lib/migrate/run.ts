import type {Stream} from 'node:stream';

import type {DeviceInterfaceChoice} from '../enumerate/access.js';
import {hostName} from '../enumerate/index.js';
import {InputError} from '../errors.js';
import {MigState, stateName} from '../fsm/states.js';
import {recoverInterruptedPrepare, type RecoveredPrepare} from '../prepare/journal.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {deviceArg} from './args.js';
import {DeviceControl, stepsInOrder, type EngineLike, type StepRecord} from './control.js';
import {Guard, TimeoutError} from './guard.js';
import {buildHeader, checkHeaderAgainst, type HeaderCheckOptions, type StreamHeader} from './header.js';
import {quiesceAll, requireP2P, stepAll} from './group.js';
import {DEFAULT_MAX_DOWNTIME_MS, DEFAULT_PRECOPY_ROUNDS, precopyPhase, type PrecopyOutcome, type PrecopyRound} from './precopy.js';
import {MigrationFailedError, recoverDestination, recoverSource, type Recovery} from './recover.js';
import {type EngineStarter, type MigrationEvent, progressOf, startEngine} from './session.js';

export interface RunPair {
  source: string;
  dest: string;
}

export interface RunOptions {
  sysfs: SysfsRoot;
  /** How to open devices: `auto` (the group when the host offers it, else the cdev), `group` or `cdev`. */
  deviceInterface?: DeviceInterfaceChoice;
  /** One or more source/destination pairs, migrated all or nothing (more than one: every device needs P2P). */
  pairs: RunPair[];
  /** PRE_COPY round limit (default 30; 0: straight to STOP_COPY). */
  precopyRounds?: number;
  /** Downtime budget in ms (default 300): PRE_COPY goes on until what is left fits it. */
  maxDowntimeMs?: number;
  /** Abort a STOP_COPY (to the destinations RUNNING) still running after this many ms. */
  timeoutMs?: number;
  /** Aborts the migration (a signal): sources back to RUNNING, destinations reset. */
  signal?: AbortSignal;
  onEvent?: (ev: MigrationEvent) => void;
  start?: EngineStarter;
  /** The compatibility check of the stream header (header.ts): rule sets, or leave it to the driver. */
  headerCheck?: HeaderCheckOptions;
}

/** One pair's part of a run. */
export interface PairResult {
  source: string;
  dest: string;
  payload_bytes: number;
  stream_bytes: number;
  precopy_rounds: PrecopyRound[];
  precopy: Omit<PrecopyOutcome, 'rounds'>;
  /** States read back from the devices at the end. */
  source_state: string;
  dest_state: string;
  /** An interrupted prepare of the destination rolled back before the run. */
  recovered_prepare?: RecoveredPrepare;
}

export interface RunResult {
  pairs: PairResult[];
  /** From the first STOP_COPY until every destination runs: the downtime this migration caused. */
  stop_copy_ms: number;
  max_downtime_ms: number;
  steps: StepRecord[];
}

/** One pair in flight: its two engines (joined by a socket pair) and, once open, its devices. */
interface Member {
  source: string;
  dest: string;
  src: EngineLike & {dataStream?: unknown};
  dst?: EngineLike;
  srcCtl?: DeviceControl;
  dstCtl?: DeviceControl;
  header?: StreamHeader;
  recovered?: RecoveredPrepare;
}

function checkPairs(pairs: RunPair[]): RunPair[] {
  if (pairs.length === 0) throw new InputError('no source/destination pair given', 'NO_PAIRS');
  const seen = new Set<string>();
  return pairs.map((p) => {
    const source = deviceArg(p.source);
    const dest = deviceArg(p.dest);
    if (source === dest) throw new InputError(`${source}: source and destination are the same device`, 'SAME_DEVICE');
    for (const d of [source, dest]) {
      if (seen.has(d)) throw new InputError(`${d}: named in more than one pair`, 'DUPLICATE_DEVICE');
      seen.add(d);
    }
    return {source, dest};
  });
}

/**
 * Migrate devices to others on this host, all or nothing. Per pair, two engines joined by a
 * socket pair, the source saving while the destination loads; the pairs move in QEMU's order:
 * every source to RUNNING_P2P (PRE_COPY_P2P), then every source to STOP_COPY, the transfers
 * concurrently, then every destination RESUMING -> STOP (validated) -> RUNNING_P2P, then
 * RUNNING. The first failure of any side (or a signal, or --timeout) cancels every transfer
 * at once and is the one reported; then every source goes back to RUNNING and every
 * destination is reset. The sources are committed to STOP only once every destination has
 * validated its state, right before they run. One pair is the N=1 case of the same walk.
 */
export async function runMigration(options: RunOptions): Promise<RunResult> {
  const pairs = checkPairs(options.pairs);
  const emit = options.onEvent ?? (() => undefined);
  const start = options.start ?? startEngine;
  const maxDowntimeMs = options.maxDowntimeMs ?? DEFAULT_MAX_DOWNTIME_MS;
  const guard = new Guard(options.signal);
  const members: Member[] = [];
  let moved = false;
  try {
    for (const p of pairs) {
      const src = await start('pipe');
      guard.watch(src);
      const m: Member = {...p, src};
      members.push(m);
      m.dst = await start(src.dataStream as Stream);
      guard.watch(m.dst);
      // Only the two engines may hold the socket, so that a closed end means end of stream.
      (src.dataStream as {destroy?: () => void} | undefined)?.destroy?.();
    }
    const host = await hostName(options.sysfs);
    for (const m of members) {
      m.srcCtl = await DeviceControl.open(m.src, m.source, options.sysfs, options.deviceInterface);
      m.header = await buildHeader(options.sysfs, m.source, m.srcCtl.flags, host, await m.srcCtl.dataSize());
      // A prepare that died half-way left the destination neither old nor new: roll it back first.
      m.recovered = await recoverInterruptedPrepare(options.sysfs, m.dest);
      await checkHeaderAgainst(options.sysfs, m.dest, m.header, options.headerCheck);
      m.dstCtl = await DeviceControl.open(m.dst!, m.dest, options.sysfs, options.deviceInterface);
    }
    const sources = members.map((m) => m.srcCtl!);
    const dests = members.map((m) => m.dstCtl!);
    requireP2P([...sources, ...dests], members.length > 1);
    for (const [ctls, role] of [[sources, 'source'], [dests, 'destination']] as const) {
      for (const ctl of ctls) {
        const state = await ctl.state();
        if (state !== MigState.RUNNING) throw new InputError(`${ctl.device}: the ${role} is ${stateName(state)}, not RUNNING`, 'BAD_STATE');
      }
    }
    guard.check();
    await Promise.all(
      members.flatMap((m) => [m.src.request('save_begin', {fd: 3, header: m.header as unknown as Record<string, unknown>}), m.dst!.request('load_begin', {fd: 3})]),
    );
    moved = true;
    await stepAll(dests, MigState.RESUMING);
    const loading = members.map((m) => guard.run(() => m.dst!.request('load', {}, {onProgress: (ev) => emit(progressOf(m.dest, 'load', ev))})));
    let disarm = () => undefined as void;
    let stopStart = 0;
    const saving = (async () => {
      const budget = {maxDowntimeMs, maxRounds: options.precopyRounds ?? DEFAULT_PRECOPY_ROUNDS};
      // Each device's rounds fit its own rest into the budget; the transfers then run side by side.
      const pre = await Promise.all(members.map((m) => precopyPhase(m.srcCtl!, m.src, budget, guard, emit)));
      guard.check();
      await quiesceAll(sources);
      stopStart = performance.now();
      disarm = guard.deadline(options.timeoutMs, () => new TimeoutError(options.timeoutMs!));
      await stepAll(sources, MigState.STOP_COPY);
      const ends = await Promise.all(
        members.map(async (m) => {
          const estimate = await m.srcCtl!.dataSize();
          await guard.run(() => m.src.request('save', {mode: 'until_eof', ...(estimate ? {estimate} : {})}, {onProgress: (ev) => emit(progressOf(m.source, 'stop_copy', ev))}));
          return m.src.request('save_end', {});
        }),
      );
      return {pre, ends};
    })().catch((error: unknown) => {
      // An arc or PRECOPY_INFO failure outside a transfer: the loaders must stop waiting too.
      guard.abort(error as Error);
      throw guard.error;
    });
    const [saved, loaded] = await Promise.all([saving, Promise.all(loading)]);
    await Promise.all(members.map((m) => m.dst!.request('load_end', {})));
    await stepAll(dests, MigState.STOP); // the drivers validate the data here
    guard.check();
    // The hand-over: from here the destinations hold the state. If we die now the sources'
    // engines must not resume the sources beside running destinations.
    await Promise.all(members.map((m) => m.src.request('commit', {})));
    await quiesceAll(dests);
    await stepAll(dests, MigState.RUNNING);
    const stopCopyMs = performance.now() - stopStart;
    disarm();
    await stepAll(sources, MigState.STOP);
    const steps = stepsInOrder([...sources, ...dests]);
    for (const step of steps) emit({event: 'step', device: step.device, from: step.from, to: step.to});
    const results: PairResult[] = [];
    for (const [i, m] of members.entries()) {
      const {rounds, ...precopy} = saved.pre[i]!;
      results.push({
        source: m.source,
        dest: m.dest,
        payload_bytes: saved.ends[i]!.payload_bytes,
        stream_bytes: loaded[i]!.stream_bytes,
        precopy_rounds: rounds,
        precopy,
        source_state: stateName(await m.srcCtl!.state()),
        dest_state: stateName(await m.dstCtl!.state()),
        ...(m.recovered ? {recovered_prepare: m.recovered} : {}),
      });
    }
    return {pairs: results, stop_copy_ms: Math.round(stopCopyMs), max_downtime_ms: maxDowntimeMs, steps};
  } catch (caught) {
    const error = guard.error ?? (caught as Error);
    guard.abort(error);
    // Close every stream so no side holds a socket, then recover every device.
    await Promise.all(
      members.flatMap((m) => [m.src.request('save_end', {abort: true}).catch(() => undefined), m.dst?.request('load_end', {}).catch(() => undefined)]),
    );
    if (!moved) throw error;
    const recoveries: Recovery[] = [];
    for (const m of members) {
      if (m.srcCtl) recoveries.push(await recoverSource(m.srcCtl));
      if (m.dstCtl) recoveries.push(await recoverDestination(m.dstCtl));
    }
    throw new MigrationFailedError(error, recoveries);
  } finally {
    await Promise.all(members.flatMap((m) => [m.src.close().catch(() => undefined), m.dst?.close().catch(() => undefined)]));
  }
}
