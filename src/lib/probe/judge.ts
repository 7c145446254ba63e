import {findTypes, hostName, normalizeDeviceId, readTypes} from '../enumerate/index.js';
import {EngineError, StreamCorruptError} from '../engine/errors.js';
import {InputError, RuntimeFailure} from '../errors.js';
import {MigState, stateName} from '../fsm/states.js';
import {DeviceControl, type StepRecord} from '../migrate/control.js';
import {MigrationFailedError, recoverDestination} from '../migrate/recover.js';
import {type EngineStarter, type MigrationEvent, startEngine} from '../migrate/session.js';
import type {MdevType} from '../model/types.js';
import type {DeviceInterfaceChoice} from '../enumerate/access.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {killEngine, refuseInUse} from './capture.js';
import {type CleanupGuard, guarded, type SignalHost} from './guard.js';
import {parseProbeHeader, type ProbeHeader} from './header.js';
import {createScratchMdev, type ScratchMdev} from './scratch.js';

/** Why the destination's driver said no; `errno` is the kernel's, from write() on the data_fd. */
export interface ProbeReason {
  code: 'DRIVER_REFUSED';
  message: string;
  errno: number;
  errno_name: string;
}

export interface ProbeVerdict {
  compatible: boolean;
  /** The destination's own driver judged (not vendor metadata or a rule set). */
  basis: {kind: 'driver'};
  source: {host: string; device: string};
  destination: {host: string; kind: 'type' | 'device'; type_id?: string; parent?: string; device?: string};
  scratch: {device: string; created: boolean; removed: boolean; final_state: string};
  /** Bytes the driver took: all of the probe's when compatible; null when it refused. */
  bytes_accepted: number | null;
  reasons: ProbeReason[];
  steps: StepRecord[];
}

export interface JudgeOptions {
  sysfs: SysfsRoot;
  /** How to open devices: `auto` (the group when the host offers it, else the cdev), `group` or `cdev`. */
  deviceInterface?: DeviceInterfaceChoice;
  /** A type id (`[parent/]type`: a scratch mdev of it is created and removed) or a free device. */
  dest: string;
  /** The probe file (from captureProbe). */
  input: string;
  onEvent?: (ev: MigrationEvent) => void;
  start?: EngineStarter;
  signals?: SignalHost;
  /** Creates the scratch mdev (tests inject one; default: write a UUID to the type's `create`). */
  createScratch?: (sysfs: SysfsRoot, type: MdevType) => Promise<ScratchMdev>;
}

/** The engine's write to the data_fd failed: the driver refused the bytes ("write: <strerror>"). */
function driverRefusal(error: unknown): EngineError | undefined {
  if (!(error instanceof EngineError) || error instanceof StreamCorruptError) return undefined;
  if (error.op !== undefined && error.op !== 'load') return undefined;
  return /^write: /.test(error.message) ? error : undefined;
}

function pickType(types: MdevType[], id: string): MdevType {
  const matches = findTypes(types, id);
  if (matches.length === 0) throw new InputError(`${id}: no such mdev type on this host (see 'vfio-mig types')`, 'UNKNOWN_TYPE');
  const free = matches.find((t) => (t.available_instances ?? 0) > 0);
  if (!free) {
    throw new RuntimeFailure(`${id}: no free instance to create a scratch device from (available_instances is 0); name a free device instead`, 'NO_AVAILABLE_INSTANCES');
  }
  return free;
}

/**
 * The destination's driver judges the probe bytes: a scratch device (a free device, or an
 * mdev of the candidate type created for this) goes STOP -> RESUMING, the bytes are written
 * to its data_fd, and a write the driver refuses (mtty: EFAULT on a foreign header, ENOMEM
 * when longer than its state) means not compatible, with that errno. The scratch device is
 * then reset; a created one is removed on every way out, signals included.
 *
 * The probe does not ask for RESUMING -> STOP: it wrote only a prefix of a state, and
 * drivers refuse an incomplete state on that arc (mtty: EINVAL when shorter than its state;
 * the reference driver: "short stream"), so that arc's answer could not tell incompatible
 * from incomplete. A driver that checks nothing before that arc accepts every probe.
 */
export async function judgeProbe(options: JudgeOptions): Promise<ProbeVerdict> {
  const {sysfs} = options;
  const emit = options.onEvent ?? (() => undefined);
  const start = options.start ?? startEngine;
  const host = await hostName(sysfs);
  const asDevice = normalizeDeviceId(options.dest);
  const types = await readTypes(sysfs);
  const type = asDevice ? undefined : pickType(types, options.dest);
  if (asDevice) await refuseInUse(sysfs, asDevice.id, 'scratch device');
  return guarded(async (guard: CleanupGuard) => {
    const engine = await start();
    guard.add(() => engine.close().then(() => undefined));
    const begun = await engine.request('load_begin', {path: options.input}).catch((error: unknown) => {
      // Nothing is touched yet: a file that is no stream is bad input.
      if (error instanceof EngineError && ['STREAM_CORRUPT', 'STREAM_VERSION', 'ENOENT', 'EACCES', 'EISDIR', 'BAD_HEADER'].includes(error.code)) {
        throw new InputError(`${options.input}: not a readable probe file: ${error.message}`, 'BAD_PROBE_FILE');
      }
      throw error;
    });
    if (begun.header === null) throw new InputError(`${options.input}: a raw file, not a probe file`, 'NOT_A_PROBE');
    const header: ProbeHeader = parseProbeHeader(begun.header, options.input);
    const source = header.stream.source;
    if (asDevice && source.host === host && source.device === asDevice.id) {
      throw new InputError(`${asDevice.id}: the destination is the probe's source`, 'IS_SOURCE');
    }
    let scratch: ScratchMdev | undefined;
    if (type) {
      scratch = await (options.createScratch ?? ((s, t) => createScratchMdev(s, t)))(sysfs, type);
      const made = scratch;
      // Removing an mdev that is open waits for its close: close the engine first.
      guard.add(async (why) => {
        if (why === 'signal') killEngine(engine);
        await engine.close().catch(() => undefined);
        await made.remove();
      });
    }
    const device = scratch ? scratch.uuid : asDevice!.id;
    const ctl = await DeviceControl.open(engine, device, sysfs, options.deviceInterface);
    const startState = await ctl.state();
    if (startState !== MigState.RUNNING && startState !== MigState.STOP) {
      throw new InputError(`${device}: the scratch device is ${stateName(startState)}, not RUNNING or STOP`, 'BAD_STATE');
    }
    let refused: EngineError | undefined;
    let bytes = 0;
    let touched = true;
    if (!scratch) {
      // A free device of the user's: whatever ends us, it does not stay RESUMING.
      guard.add(async (why) => {
        if (!touched) return;
        if (why === 'signal') killEngine(engine);
        const first = await recoverDestination(ctl);
        if (first.outcome !== 'recovery_failed') return;
        const fresh = await start();
        try {
          await recoverDestination(await DeviceControl.open(fresh, device, sysfs, ctl.access.interface));
        } finally {
          await fresh.close().catch(() => undefined);
        }
      });
    }
    try {
      await ctl.stepTo(MigState.RESUMING);
      try {
        bytes = (await engine.request('load', {progress: false})).bytes;
      } catch (error) {
        refused = driverRefusal(error);
        if (!refused) throw error;
      }
      await engine.request('load_end', {});
    } catch (error) {
      await engine.request('load_end', {}).catch(() => undefined);
      const recovery = await recoverDestination(ctl);
      touched = false;
      throw new MigrationFailedError(error as Error, [recovery]);
    }
    // A RESUMING session is only ever aborted by a reset; the scratch device ends RUNNING.
    const recovery = await recoverDestination(ctl);
    touched = false;
    if (recovery.outcome !== 'device_fine') {
      throw new MigrationFailedError(new RuntimeFailure(`${device}: the scratch device did not come back from the probe`, 'SCRATCH_RESET'), [recovery]);
    }
    await engine.close();
    if (scratch) await scratch.remove();
    for (const s of ctl.steps) if (s.ok) emit({event: 'step', device, from: s.from, to: s.to});
    const reasons: ProbeReason[] = refused
      ? [
          {
            code: 'DRIVER_REFUSED',
            message: `the destination's driver refused the source's initial bytes: write() on its data_fd failed with ${refused.errnoName} (errno ${refused.errno})`,
            errno: refused.errno,
            errno_name: refused.errnoName,
          },
        ]
      : [];
    return {
      compatible: !refused,
      basis: {kind: 'driver'},
      source: {host: source.host, device: source.device},
      destination: type
        ? {host, kind: 'type', type_id: type.id, parent: type.parent}
        : {host, kind: 'device', device},
      scratch: {device, created: scratch !== undefined, removed: scratch?.removed ?? false, final_state: recovery.state},
      bytes_accepted: refused ? null : bytes,
      reasons,
      steps: ctl.steps,
    } satisfies ProbeVerdict;
  }, options.signals);
}
