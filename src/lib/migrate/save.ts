import {createReadStream, createWriteStream} from 'node:fs';
import {rename, unlink} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {pipeline} from 'node:stream/promises';

import {hostName} from '../enumerate/index.js';
import {InputError} from '../errors.js';
import {flagNames, MigState, stateName} from '../fsm/states.js';
import type {DeviceInterfaceChoice} from '../enumerate/access.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {DeviceControl, type EngineLike, type StepRecord} from './control.js';
import {distinctDevices, quiesceAll, requireP2P, stepAll} from './group.js';
import {Guard, TimeoutError} from './guard.js';
import {buildHeader, type StreamHeader} from './header.js';
import {DEFAULT_MAX_DOWNTIME_MS, precopyPhase, type PrecopyOutcome, type PrecopyRound} from './precopy.js';
import {MigrationFailedError, recoverSource, type Recovery} from './recover.js';
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

/** Several devices to one stream (a group stream, docs/stream-format.md), all or nothing. */
export interface SaveGroupOptions extends Omit<SaveOptions, 'device'> {
  devices: string[];
}

/** What one device's save gave. */
export interface SavedMember {
  device: string;
  migration_flags: string[];
  precopy_rounds: PrecopyRound[];
  precopy: Omit<PrecopyOutcome, 'rounds'>;
  payload_bytes: number;
  /** This device's part of the stream (a whole stream of its own). */
  stream_bytes: number;
  chunks: number;
  size_estimate: number | null;
  /** The state the device reports after the save (read back, not assumed). */
  final_state: string;
}

export interface SaveGroupResult {
  output: string;
  raw: boolean;
  /** Each device, in stream order. */
  members: SavedMember[];
  stream_bytes: number;
  /** Milliseconds from the first STOP_COPY until every device's state was read. */
  stop_copy_ms: number;
  steps: StepRecord[];
}

export interface SaveResult extends SavedMember {
  output: string;
  raw: boolean;
  stop_copy_ms: number;
  steps: StepRecord[];
}

/**
 * Save one device's state: the one-device case of saveGroup, reported flat. RUNNING [-> PRE_COPY
 * rounds under the downtime budget] -> STOP_COPY, the data to `output`, then the chosen final
 * state, read back from the device. On any failure, signal or timeout the source is unwound
 * to RUNNING (or reset if it went to ERROR) and a file output is removed.
 */
export async function saveDevice(options: SaveOptions): Promise<SaveResult> {
  const {device, ...rest} = options;
  const r = await saveGroup({...rest, devices: [device]});
  const [m] = r.members;
  return {...m!, output: r.output, raw: r.raw, stop_copy_ms: r.stop_copy_ms, steps: r.steps};
}

interface Member {
  device: string;
  engine: EngineLike;
  ctl?: DeviceControl;
  header?: StreamHeader;
  /** Where this member's stream goes: the output itself (one device) or a part file. */
  part?: string;
  open: boolean;
}

/**
 * Save several devices of one VM to one stream, all or nothing, in QEMU's order: each must
 * offer P2P; every device to RUNNING_P2P (PRE_COPY_P2P after its rounds), then every device to
 * STOP_COPY, the transfers side by side (each into a part file), then the chosen final state.
 * The stream is the member streams one after the other, the first header announcing the
 * others (so a loader checks every destination before touching any). Any failure unwinds
 * every device to RUNNING and leaves no file. One device is the N=1 case, streamed directly.
 */
export async function saveGroup(options: SaveGroupOptions): Promise<SaveGroupResult> {
  const devices = distinctDevices(options.devices);
  const several = devices.length > 1;
  const raw = options.raw === true;
  if (several && raw) throw new InputError('--raw holds one device: bare bytes cannot say where one device ends; save several without --raw', 'RAW_GROUP');
  // Through a pipe a group load failed in the test bed (cause not found): files only until it is.
  if (several && 'fd' in options.output) throw new InputError('several devices go to a file (--out FILE), not through a pipe', 'GROUP_PIPE');
  const emit = options.onEvent ?? (() => undefined);
  const toPath = 'path' in options.output ? path.resolve(options.output.path) : undefined;
  const partial = toPath ? `${toPath}.partial-${process.pid}` : undefined;
  const partDir = toPath ? path.dirname(toPath) : tmpdir();
  const guard = new Guard(options.signal);
  const start = options.start ?? startEngine;
  const members: Member[] = [];
  // Recovery only once we have moved a device: a source found in STOP is left alone.
  let touched = false;
  const allSteps: StepRecord[] = [];
  const report = () => {
    for (const m of members) {
      for (const s of m.ctl?.steps.splice(0) ?? []) {
        allSteps.push(s);
        if (s.ok) emit({event: 'step', device: m.device, from: s.from, to: s.to});
      }
    }
  };
  try {
    for (const [i, device] of devices.entries()) {
      const engine = await start(!several && 'fd' in options.output ? options.output.fd : undefined);
      guard.watch(engine);
      const base = toPath ? path.basename(toPath) : 'vfio-mig-save';
      members.push({device, engine, open: false, ...(several ? {part: path.join(partDir, `.${base}.part-${process.pid}-${i}`)} : {})});
    }
    for (const m of members) m.ctl = await DeviceControl.open(m.engine, m.device, options.sysfs, options.deviceInterface);
    const ctls = members.map((m) => m.ctl!);
    requireP2P(ctls, several);
    for (const ctl of ctls) {
      const state = await ctl.state();
      if (state !== MigState.RUNNING) {
        throw new InputError(`${ctl.device}: the source is ${stateName(state)}, not RUNNING; see 'vfio-mig migrate state ${ctl.device}'`, 'BAD_STATE');
      }
    }
    if (!raw) {
      const host = await hostName(options.sysfs);
      for (const m of members) m.header = await buildHeader(options.sysfs, m.device, m.ctl!.flags, host, await m.ctl!.dataSize());
      if (several) {
        const [first, ...rest] = members;
        first!.header = {...first!.header!, group: {index: 0, count: members.length, members: rest.map((m) => m.header!)}};
        for (const [i, m] of rest.entries()) m.header = {...m.header!, group: {index: i + 1, count: members.length}};
      }
    }
    guard.check();
    for (const m of members) {
      const target = m.part ? {path: m.part, exclusive: true} : partial ? {path: partial, exclusive: true} : {fd: 3};
      await m.engine.request('save_begin', {...target, raw, ...(m.header ? {header: m.header as unknown as Record<string, unknown>} : {})});
      m.open = true;
    }
    touched = true;
    const budget = {maxDowntimeMs: options.maxDowntimeMs ?? DEFAULT_MAX_DOWNTIME_MS, maxRounds: options.precopyRounds ?? 0};
    const pre = await Promise.all(members.map((m) => precopyPhase(m.ctl!, m.engine, budget, guard, emit)));
    report();
    guard.check();
    await quiesceAll(ctls);
    const stopStart = performance.now();
    const disarm = guard.deadline(options.timeoutMs, () => new TimeoutError(options.timeoutMs!));
    await stepAll(ctls, MigState.STOP_COPY);
    report();
    const saved = await Promise.all(
      members.map(async (m) => {
        const estimate = await m.ctl!.dataSize();
        await guard.run(() => m.engine.request('save', {mode: 'until_eof', ...(estimate ? {estimate} : {})}, {onProgress: (ev) => emit(progressOf(m.device, 'stop_copy', ev))}));
        return {estimate, end: await m.engine.request('save_end', {})};
      }),
    ).catch((error: unknown) => {
      guard.abort(error as Error);
      throw guard.error;
    });
    for (const m of members) m.open = false;
    const stopCopyMs = performance.now() - stopStart;
    disarm();
    guard.check();
    // The parts become one stream, member after member (the devices are already saved).
    if (several) await concatenate(members.map((m) => m.part!), partial ?? ('fd' in options.output ? options.output.fd : 1));
    if (partial && toPath) await rename(partial, toPath);
    // From here the saved state is the devices': a hand-over keeps the sources stopped even if
    // we are killed now (the engines would otherwise resume them).
    if (options.finalState === 'stop') await Promise.all(members.map((m) => m.engine.request('commit', {})));
    if (options.finalState === 'stop') {
      await stepAll(ctls, MigState.STOP);
    } else {
      await quiesceAll(ctls);
      await stepAll(ctls, MigState.RUNNING);
    }
    report();
    const results: SavedMember[] = [];
    for (const [i, m] of members.entries()) {
      const {rounds, ...precopy} = pre[i]!;
      const {end, estimate} = saved[i]!;
      results.push({
        device: m.device,
        migration_flags: flagNames(m.ctl!.flags),
        precopy_rounds: rounds,
        precopy,
        payload_bytes: end.payload_bytes,
        stream_bytes: end.stream_bytes,
        chunks: end.chunks,
        size_estimate: estimate ?? null,
        final_state: stateName(await m.ctl!.state()),
      });
    }
    return {
      output: toPath ?? '-',
      raw,
      members: results,
      stream_bytes: results.reduce((sum, r) => sum + r.stream_bytes, 0),
      stop_copy_ms: Math.round(stopCopyMs),
      steps: allSteps,
    };
  } catch (caught) {
    const error = guard.error ?? (caught as Error);
    guard.abort(error);
    await Promise.all(members.filter((m) => m.open).map((m) => m.engine.request('save_end', {abort: true}).catch(() => undefined)));
    if (partial) await unlink(partial).catch(() => undefined);
    const touchedCtls = members.flatMap((m) => (m.ctl ? [m.ctl] : []));
    if (!touched || touchedCtls.length === 0) throw error;
    const recoveries: Recovery[] = [];
    for (const ctl of touchedCtls) recoveries.push(await recoverSource(ctl));
    throw new MigrationFailedError(error, recoveries);
  } finally {
    await Promise.all(members.map((m) => m.engine.close().catch(() => undefined)));
    await Promise.all(members.filter((m) => m.part).map((m) => unlink(m.part!).catch(() => undefined)));
  }
}

/** Appends the part files, in order, to a new file (exclusive) or to a descriptor we keep open. */
async function concatenate(parts: string[], to: string | number): Promise<void> {
  const out = typeof to === 'string' ? createWriteStream(to, {flags: 'wx'}) : createWriteStream('', {fd: to, autoClose: false});
  try {
    for (const part of parts) await pipeline(createReadStream(part), out, {end: false});
  } finally {
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
}
