import {open} from 'node:fs/promises';

import {InputError} from '../errors.js';
import {MigState, stateName} from '../fsm/states.js';
import {recoverInterruptedPrepare, type RecoveredPrepare} from '../prepare/journal.js';
import type {DeviceInterfaceChoice} from '../enumerate/access.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {DeviceControl, stepsInOrder, type EngineLike, type StepRecord} from './control.js';
import {distinctDevices, quiesceAll, requireP2P, stepAll} from './group.js';
import {Guard} from './guard.js';
import {announcedHeaders, checkHeaderAgainst, checkMemberHeader, type HeaderCheckOptions, parseHeader, type StreamHeader} from './header.js';
import {MigrationFailedError, recoverDestination, type Recovery} from './recover.js';
import {type Endpoint, type EngineStarter, type MigrationEvent, progressOf, startEngine} from './session.js';

export interface LoadOptions {
  sysfs: SysfsRoot;
  /** How to open devices: `auto` (the group when the host offers it, else the cdev), `group` or `cdev`. */
  deviceInterface?: DeviceInterfaceChoice;
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

/** A group stream into several destinations, in stream order. */
export interface LoadGroupOptions extends Omit<LoadOptions, 'device'> {
  devices: string[];
}

export interface LoadedMember {
  device: string;
  source: StreamHeader['source'] | null;
  payload_bytes: number;
  stream_bytes: number;
  chunks: number;
  final_state: string;
  /** An interrupted prepare of the destination, rolled back before the load. */
  recovered_prepare?: RecoveredPrepare;
}

export interface LoadGroupResult {
  input: string;
  raw: boolean;
  members: LoadedMember[];
  steps: StepRecord[];
}

export interface LoadResult extends LoadedMember {
  input: string;
  raw: boolean;
  steps: StepRecord[];
}

/**
 * Load a saved state into a destination: the one-device case of loadGroup, reported flat.
 * The header is checked against the destination (model, parameters, prepared values) before
 * the device is touched; then RESUMING, every chunk checked before it reaches the device,
 * STOP (where the driver validates the data) and RUNNING. A bad or truncated stream, or data
 * the driver rejects, resets the device.
 */
export async function loadDevice(options: LoadOptions): Promise<LoadResult> {
  const {device, ...rest} = options;
  const r = await loadGroup({...rest, devices: [device]});
  const [m] = r.members;
  return {...m!, input: r.input, raw: r.raw, steps: r.steps};
}

interface Member {
  device: string;
  engine: EngineLike;
  header: StreamHeader | null;
  ctl?: DeviceControl;
  recovered?: RecoveredPrepare;
}

/**
 * Load a stream into its destinations, all or nothing. A group stream (saveGroup) names its
 * devices in its first header: every destination is checked against its member before any is
 * touched; each must offer P2P. Every destination goes to RESUMING, the members are loaded one
 * after the other (one stream), then every destination STOP (the drivers validate), RUNNING_P2P
 * and RUNNING together. Any failure resets every destination.
 */
export async function loadGroup(options: LoadGroupOptions): Promise<LoadGroupResult> {
  const devices = distinctDevices(options.devices);
  const several = devices.length > 1;
  const raw = options.raw === true;
  if (several && raw) throw new InputError('--raw holds one device; a stream of several is never raw', 'RAW_GROUP');
  // Through a pipe a group load failed in the test bed (cause not found): files only until it is.
  if (several && 'fd' in options.input) throw new InputError('several devices come from a file (--in FILE), not through a pipe', 'GROUP_PIPE');
  const emit = options.onEvent ?? (() => undefined);
  const what = 'path' in options.input ? options.input.path : 'stdin';
  const guard = new Guard(options.signal);
  const start = options.start ?? startEngine;
  // Several engines read one stream in turn: they share one open file (and its offset).
  const file = several && 'path' in options.input ? await open(options.input.path, 'r') : undefined;
  const shared = file ? file.fd : 'fd' in options.input ? options.input.fd : undefined;
  const members: Member[] = [];
  const engines: EngineLike[] = [];
  let resuming = false;
  try {
    for (const device of devices) {
      const engine = await start(shared);
      guard.watch(engine);
      engines.push(engine);
      members.push({device, engine, header: null});
    }
    const source = (begun: {header: string | null}) => (begun.header === null ? null : parseHeader(begun.header, what));
    const last = members.length - 1;
    const first = members[0]!;
    const begun = await first.engine.request('load_begin', {...(file || !('path' in options.input) ? {fd: 3} : {path: options.input.path}), raw, ...(several ? {check_eof: false} : {})});
    first.header = source(begun);
    const announced = announcedHeaders(first.header, devices.length, what);
    for (const [i, m] of members.entries()) {
      // A prepare that died half-way left the destination neither old nor new: roll it back first.
      m.recovered = await recoverInterruptedPrepare(options.sysfs, m.device);
      const header = announced[i];
      if (header) await checkHeaderAgainst(options.sysfs, m.device, header, options.headerCheck);
    }
    for (const m of members) m.ctl = await DeviceControl.open(m.engine, m.device, options.sysfs, options.deviceInterface);
    const ctls = members.map((m) => m.ctl!);
    requireP2P(ctls, several);
    for (const ctl of ctls) {
      const state = await ctl.state();
      if (state !== MigState.RUNNING && state !== MigState.STOP) {
        throw new InputError(`${ctl.device}: the destination is ${stateName(state)}, not RUNNING or STOP; see 'vfio-mig migrate state ${ctl.device}'`, 'BAD_STATE');
      }
    }
    guard.check();
    resuming = true;
    await stepAll(ctls, MigState.RESUMING);
    let reported = 0;
    const report = () => {
      const steps = stepsInOrder(ctls);
      for (const s of steps.slice(reported)) if (s.ok) emit({event: 'step', device: s.device, from: s.from, to: s.to});
      reported = steps.length;
    };
    report();
    const loaded = [];
    for (const [i, m] of members.entries()) {
      if (i > 0) {
        const next = await m.engine.request('load_begin', {fd: 3, raw, check_eof: i === last});
        m.header = source(next);
        checkMemberHeader(m.header, announced[i] ?? null, i, what);
      }
      const estimate = m.header?.size_estimate ?? undefined;
      loaded.push(await guard.run(() => m.engine.request('load', estimate ? {estimate} : {}, {onProgress: (ev) => emit(progressOf(m.device, 'load', ev))})));
      await m.engine.request('load_end', {});
    }
    await stepAll(ctls, MigState.STOP); // the drivers validate the data here
    guard.check();
    await quiesceAll(ctls);
    await stepAll(ctls, MigState.RUNNING);
    report();
    const steps = stepsInOrder(ctls);
    const results: LoadedMember[] = [];
    for (const [i, m] of members.entries()) {
      results.push({
        device: m.device,
        source: m.header?.source ?? null,
        payload_bytes: loaded[i]!.bytes,
        stream_bytes: loaded[i]!.stream_bytes,
        chunks: loaded[i]!.chunks,
        final_state: stateName(await m.ctl!.state()),
        ...(m.recovered ? {recovered_prepare: m.recovered} : {}),
      });
    }
    return {input: what, raw, members: results, steps};
  } catch (caught) {
    const error = guard.error ?? (caught as Error);
    guard.abort(error);
    await Promise.all(engines.map((e) => e.request('load_end', {}).catch(() => undefined)));
    const opened = members.flatMap((m) => (m.ctl ? [m.ctl] : []));
    if (!resuming || opened.length === 0) throw error;
    const recoveries: Recovery[] = [];
    for (const ctl of opened) recoveries.push(await recoverDestination(ctl));
    throw new MigrationFailedError(error, recoveries);
  } finally {
    await Promise.all(engines.map((e) => e.close().catch(() => undefined)));
    await file?.close().catch(() => undefined);
  }
}
