import {resolveDeviceAccess, type DeviceAccess, type DeviceInterfaceChoice} from '../enumerate/access.js';
import {ExitCode, VfioMigError} from '../errors.js';
import {EngineError} from '../engine/errors.js';
import type {OpArgs, OpName, OpResult, ProgressEvent} from '../engine/protocol.js';
import {arcs, type Arc} from '../fsm/machine.js';
import {MigFlag, MigState, type MigStateValue, stateName} from '../fsm/states.js';
import type {SysfsRoot} from '../sysfs/root.js';

/** What the policy needs of an engine: its request channel. Tests inject a simulated device. */
export interface EngineLike {
  request<O extends OpName>(op: O, args: OpArgs<O>, opts?: {onProgress?: (ev: ProgressEvent) => void}): Promise<OpResult<O>>;
  close(): Promise<number | null>;
  /** Ends the transfer in progress, if any (it fails with CANCELLED); never rejects. */
  cancel(): Promise<void>;
}

/** A SET that failed, located to the arc, with the state the device reported right after. */
export class ArcFailedError extends VfioMigError {
  constructor(
    readonly device: string,
    readonly arc: Arc,
    override readonly cause: EngineError,
    readonly stateAfter: MigStateValue | undefined,
  ) {
    super(
      `${device}: ${stateName(arc.from)} -> ${stateName(arc.to)} failed: ${cause.errnoName} (${cause.message})` +
        `; device now ${stateAfter === undefined ? 'in an unknown state' : stateName(stateAfter)}`,
      ExitCode.runtime,
      'ARC_FAILED',
      {device, from: stateName(arc.from), to: stateName(arc.to), errno: cause.errnoName, state_after: stateAfter === undefined ? null : stateName(stateAfter)},
    );
  }
}

/** One step the policy took, for the report. */
export interface StepRecord {
  device: string;
  from: string;
  to: string;
  ok: boolean;
  errno?: string;
  data_fd_opened?: boolean;
}

/** When each step was taken, across every device of the process: a group's report lists its
 * devices' steps in the order they happened, so the QEMU order can be read from it. */
const stepSequence = new WeakMap<StepRecord, number>();
let nextStep = 0;

/** The steps of several devices, merged in the order they were taken. */
export function stepsInOrder(controls: readonly DeviceControl[]): StepRecord[] {
  return controls.flatMap((c) => c.steps).sort((a, b) => (stepSequence.get(a) ?? 0) - (stepSequence.get(b) ?? 0));
}

/**
 * One opened device behind an engine: moves it one kernel arc at a time, so a failure is
 * located to its arc and the state after it is read back (a failed SET leaves the device
 * anywhere on the path). Never asks for an arc the kernel table refuses.
 */
export class DeviceControl {
  readonly steps: StepRecord[] = [];
  private constructor(
    readonly engine: EngineLike,
    readonly device: string,
    readonly flags: number,
    /** How the device was opened (group or cdev) and what it offers. */
    readonly access: DeviceAccess,
  ) {}

  static async open(engine: EngineLike, device: string, sysfs: SysfsRoot, choice: DeviceInterfaceChoice = 'auto'): Promise<DeviceControl> {
    const access = await resolveDeviceAccess(sysfs, device, choice);
    // Armed: if this process dies, the engine puts back what it did to the device.
    const opened = await engine.request('open', {device: access.device, ...access.paths, undo_on_abandon: true});
    if (opened.migration_v1_region === true) {
      throw new VfioMigError(
        `${device}: the device offers only the deprecated v1 migration region (Linux 5.8 to 5.17, removed in 5.18), which vfio-mig does not speak; ` +
          'run Linux 5.18 or later with a driver that implements VFIO migration v2 (VFIO_DEVICE_FEATURE_MIGRATION)',
        ExitCode.input,
        'MIGRATION_V1',
      );
    }
    if (!opened.migration_supported || (opened.migration_flags & MigFlag.STOP_COPY) === 0) {
      throw new VfioMigError(
        `${device}: the device does not support VFIO migration${opened.migration_error ? ` (${opened.migration_error})` : ''}`,
        ExitCode.input,
        'NOT_MIGRATABLE',
      );
    }
    return new DeviceControl(engine, device, opened.migration_flags, access);
  }

  has(flag: number): boolean {
    return (this.flags & flag) !== 0;
  }

  async state(): Promise<MigStateValue> {
    return (await this.engine.request('get_state', {})).state as MigStateValue;
  }

  /** The state, or undefined when even GET fails. */
  async stateOrUndefined(): Promise<MigStateValue | undefined> {
    try {
      return await this.state();
    } catch {
      return undefined;
    }
  }

  /** Walk to `target` arc by arc; returns whether the last arc opened a data session. */
  async stepTo(target: MigStateValue): Promise<boolean> {
    const from = await this.state();
    let opened = false;
    for (const arc of arcs(this.flags, from, target, 'latest')) {
      try {
        const result = await this.engine.request('set_state', {state: arc.to});
        opened = result.data_fd_opened;
        this.record({device: this.device, from: stateName(arc.from), to: stateName(arc.to), ok: true, data_fd_opened: opened});
      } catch (error) {
        if (!(error instanceof EngineError)) throw error;
        this.record({device: this.device, from: stateName(arc.from), to: stateName(arc.to), ok: false, errno: error.errnoName});
        const after = (error.deviceState ?? undefined) as MigStateValue | undefined;
        throw new ArcFailedError(this.device, arc, error, after ?? (await this.stateOrUndefined()));
      }
    }
    return opened;
  }

  async reset(): Promise<void> {
    await this.engine.request('reset', {});
    this.record({device: this.device, from: '*', to: 'RESET', ok: true});
  }

  private record(step: StepRecord): void {
    stepSequence.set(step, nextStep++);
    this.steps.push(step);
  }

  /** MIG_DATA_SIZE, or undefined when the device or kernel does not offer it (ENOTTY). */
  async dataSize(): Promise<number | undefined> {
    try {
      return (await this.engine.request('data_size', {})).stop_copy_length;
    } catch (error) {
      if (error instanceof EngineError && error.notSupported) return undefined;
      throw error;
    }
  }
}

export const RUNNING = MigState.RUNNING;
