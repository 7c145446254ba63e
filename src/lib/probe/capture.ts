import {rename, unlink} from 'node:fs/promises';
import path from 'node:path';

import {hostName, readDevice} from '../enumerate/index.js';
import {InputError, RuntimeFailure} from '../errors.js';
import {MigFlag, MigState, type MigStateValue, stateName} from '../fsm/states.js';
import {deviceArg} from '../migrate/args.js';
import {DeviceControl, type EngineLike, type StepRecord} from '../migrate/control.js';
import {buildHeader} from '../migrate/header.js';
import {MigrationFailedError, type Recovery, recoverSource} from '../migrate/recover.js';
import {type EngineStarter, type MigrationEvent, startEngine} from '../migrate/session.js';
import type {DeviceInterfaceChoice} from '../enumerate/access.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {type CleanupGuard, guarded, type SignalHost} from './guard.js';
import type {ProbeHeader} from './header.js';

/**
 * The cap on the bytes a probe reads. Drivers put what a destination checks first (mtty: a
 * 24-byte header; the reference driver: a header record, then the whole device memory as
 * "initial bytes"), so a prefix is what the destination's driver judges; 64 KiB keeps the
 * probe file small and the read short however large a device's initial bytes are.
 */
export const DEFAULT_PROBE_MAX_BYTES = 64 * 1024;
/** Above this a "probe" is a migration; the engine's largest chunk. */
export const PROBE_MAX_BYTES_LIMIT = 16 * 1024 * 1024;
/** --allow-source-stop: the longest the source may be out of RUNNING by default. */
export const DEFAULT_MAX_STOP_MS = 2000;

export interface CaptureOptions {
  sysfs: SysfsRoot;
  /** How to open devices: `auto` (the group when the host offers it, else the cdev), `group` or `cdev`. */
  deviceInterface?: DeviceInterfaceChoice;
  device: string;
  /** The probe file to write (under a temporary name, renamed when complete). */
  out: string;
  maxBytes?: number;
  /** A source without PRE_COPY may be stopped (STOP_COPY) for the read; never by default. */
  allowSourceStop?: boolean;
  /** With allowSourceStop: the source is back in RUNNING within this many ms (the read is cut off). */
  maxStopMs?: number;
  onEvent?: (ev: MigrationEvent) => void;
  start?: EngineStarter;
  signals?: SignalHost;
}

export interface CaptureResult {
  device: string;
  file: string | null;
  mode: 'pre_copy' | 'stop_copy';
  initial_bytes: number | null;
  max_bytes: number;
  bytes: number;
  truncated: boolean;
  stopped_ms?: number;
  /** The source's state read back (GET) before and after every step: never STOP* in pre_copy mode. */
  source_states: string[];
  steps: StepRecord[];
}

export function checkMaxBytes(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > PROBE_MAX_BYTES_LIMIT) {
    throw new InputError(`max bytes ${n}: must be an integer from 1 to ${PROBE_MAX_BYTES_LIMIT}`, 'BAD_MAX_BYTES');
  }
  return n;
}

/** Refuse a device some process holds open: a probe never touches a device in use. */
export async function refuseInUse(sysfs: SysfsRoot, device: string, role: string): Promise<void> {
  const dev = await readDevice(sysfs, device);
  if (dev.in_use) {
    throw new InputError(
      `${device}: the ${role} is in use (pid ${dev.in_use.pids.join(', ')}): a probe never touches a device in use`,
      'DEVICE_IN_USE',
      {pids: dev.in_use.pids},
    );
  }
}

/** Kill an engine stuck in a request (EngineProcess has kill(); a test double may not). */
export function killEngine(engine: EngineLike): void {
  const k = (engine as {kill?: () => void}).kill;
  if (typeof k === 'function') k.call(engine);
  else void engine.close();
}

/**
 * Back to RUNNING through `ctl`, or, when its engine is gone (killed by the stop-time bound or
 * by the signal that ends us), through a new engine: a driver such as mtty keeps its state
 * when the device is closed, so closing alone does not bring the source back.
 */
async function returnToRunning(ctl: DeviceControl, start: EngineStarter, sysfs: SysfsRoot): Promise<Recovery> {
  const first = await recoverSource(ctl);
  if (first.outcome !== 'recovery_failed') return first;
  let fresh: EngineLike | undefined;
  try {
    fresh = await start();
    const again = await DeviceControl.open(fresh, ctl.device, sysfs, ctl.access.interface);
    const second = await recoverSource(again);
    return {...second, actions: [...first.actions, 'new engine', ...second.actions]};
  } catch (error) {
    return {...first, actions: [...first.actions, `new engine failed: ${(error as Error).message}`]};
  } finally {
    await fresh?.close().catch(() => undefined);
  }
}

/**
 * Read the first bytes of a source's migration data into a probe file, without stopping it:
 * RUNNING -> PRE_COPY, VFIO_MIG_GET_PRECOPY_INFO, at most min(initial_bytes, maxBytes) bytes,
 * PRE_COPY -> RUNNING. A source without PRE_COPY is refused unless `allowSourceStop`, and then
 * it is out of RUNNING for at most `maxStopMs`. On every failure, and on SIGINT/SIGTERM, the
 * source is returned to RUNNING and no file is left.
 */
export async function captureProbe(options: CaptureOptions): Promise<CaptureResult> {
  const device = deviceArg(options.device);
  const maxBytes = checkMaxBytes(options.maxBytes ?? DEFAULT_PROBE_MAX_BYTES);
  const maxStopMs = options.maxStopMs ?? DEFAULT_MAX_STOP_MS;
  if (!Number.isInteger(maxStopMs) || maxStopMs < 1) throw new InputError(`max stop time ${maxStopMs} ms: must be a positive integer`, 'BAD_MAX_STOP');
  const emit = options.onEvent ?? (() => undefined);
  const start = options.start ?? startEngine;
  const out = path.resolve(options.out);
  const partial = `${out}.partial-${process.pid}`;
  await refuseInUse(options.sysfs, device, 'source');
  return guarded(async (guard: CleanupGuard) => {
    const engine = await start();
    guard.add(() => engine.close().then(() => undefined));
    const ctl = await DeviceControl.open(engine, device, options.sysfs, options.deviceInterface);
    const states: string[] = [];
    const observe = async (): Promise<MigStateValue> => {
      const s = await ctl.state();
      states.push(stateName(s));
      return s;
    };
    const first = await observe();
    if (first !== MigState.RUNNING) {
      throw new InputError(`${device}: the source is ${stateName(first)}, not RUNNING; see 'vfio-mig migrate state ${device}'`, 'BAD_STATE');
    }
    const precopy = ctl.has(MigFlag.PRE_COPY);
    if (!precopy && options.allowSourceStop !== true) {
      throw new InputError(
        `${device}: the source offers no PRE_COPY, so a probe would have to stop it; pass --allow-source-stop to accept that (for at most --max-stop-ms)`,
        'NEEDS_SOURCE_STOP',
      );
    }
    const header = await buildHeader(options.sysfs, device, ctl.flags, await hostName(options.sysfs));
    let recovery: Recovery | undefined;
    let leftRunning = false;
    // Registered before the first SET: a signal from here on returns the source to RUNNING.
    const backToRunning = async (why: 'signal' | 'done' = 'done') => {
      if (!leftRunning) return;
      if (why === 'signal') killEngine(engine);
      recovery = await returnToRunning(ctl, start, options.sysfs);
      leftRunning = false;
    };
    guard.add(() => unlink(partial).catch(() => undefined));
    guard.add(backToRunning);
    let fileOpen = false;
    try {
      let initial: number | null = null;
      let limit = maxBytes;
      let stoppedMs: number | undefined;
      let bytes: number;
      leftRunning = true;
      if (precopy) {
        await ctl.stepTo(MigState.PRE_COPY);
        await observe();
        initial = (await engine.request('precopy_info', {})).initial_bytes;
        if (initial === 0) {
          throw new RuntimeFailure(`${device}: the source has no initial bytes in PRE_COPY: nothing for a destination to judge`, 'NO_INITIAL_BYTES');
        }
        limit = Math.min(initial, maxBytes);
        const probeHeader: ProbeHeader = {apiVersion: 'vfio-mig/v1', kind: 'ProbeHeader', stream: header, probe: {mode: 'pre_copy', initial_bytes: initial, max_bytes: maxBytes}};
        await engine.request('save_begin', {path: partial, exclusive: true, header: probeHeader as unknown as Record<string, unknown>});
        fileOpen = true;
        bytes = (await engine.request('save', {mode: 'until_empty', max_bytes: limit, progress: false})).bytes;
        await ctl.stepTo(MigState.RUNNING);
        leftRunning = false;
        await observe();
      } else {
        const probeHeader: ProbeHeader = {apiVersion: 'vfio-mig/v1', kind: 'ProbeHeader', stream: header, probe: {mode: 'stop_copy', initial_bytes: null, max_bytes: maxBytes, max_stop_ms: maxStopMs}};
        await engine.request('save_begin', {path: partial, exclusive: true, header: probeHeader as unknown as Record<string, unknown>});
        fileOpen = true;
        const t0 = performance.now();
        let timedOut = false;
        const timer = setTimeout(() => {
          timedOut = true;
          killEngine(engine);
        }, maxStopMs);
        try {
          await ctl.stepTo(MigState.STOP_COPY);
          await observe();
          bytes = (await engine.request('save', {mode: 'until_eof', max_bytes: maxBytes, progress: false})).bytes;
          await ctl.stepTo(MigState.RUNNING);
          leftRunning = false;
        } catch (error) {
          if (timedOut) {
            throw new RuntimeFailure(`${device}: the source was not back in RUNNING within ${maxStopMs} ms; the read was cut off`, 'STOP_TIME_EXCEEDED');
          }
          throw error;
        } finally {
          clearTimeout(timer);
        }
        stoppedMs = Math.round(performance.now() - t0);
        await observe();
      }
      await engine.request('save_end', {});
      fileOpen = false;
      await rename(partial, out);
      guard.remove(backToRunning);
      for (const s of ctl.steps) if (s.ok) emit({event: 'step', device, from: s.from, to: s.to});
      return {
        device,
        file: out,
        mode: precopy ? 'pre_copy' : 'stop_copy',
        initial_bytes: initial,
        max_bytes: maxBytes,
        bytes,
        truncated: precopy ? initial! > maxBytes : bytes >= maxBytes,
        ...(stoppedMs === undefined ? {} : {stopped_ms: stoppedMs}),
        source_states: states,
        steps: ctl.steps,
      } satisfies CaptureResult;
    } catch (error) {
      if (fileOpen) await engine.request('save_end', {abort: true}).catch(() => undefined);
      await unlink(partial).catch(() => undefined);
      const wasOut = leftRunning;
      await backToRunning();
      if (!wasOut || !recovery) throw error;
      throw new MigrationFailedError(error as Error, [recovery]);
    }
  }, options.signals);
}

