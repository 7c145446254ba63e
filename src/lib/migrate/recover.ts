import {ExitCode, type ExitCodeValue, VfioMigError} from '../errors.js';
import {MigState, type MigStateValue, stateName} from '../fsm/states.js';
import type {DeviceControl} from './control.js';
import {InterruptedError} from './guard.js';

/**
 * How a device came out of a failed migration. `device_fine`: back where it should be with
 * nothing lost (a source unwound to RUNNING, or a destination reset as the protocol requires
 * to abort a load). `device_reset`: the device went to ERROR (or could not be unwound) and
 * needed VFIO_DEVICE_RESET, losing its state. `recovery_failed`: even the reset failed.
 */
export type RecoveryOutcome = 'device_fine' | 'device_reset' | 'recovery_failed';

export interface Recovery {
  device: string;
  role: 'source' | 'destination';
  outcome: RecoveryOutcome;
  state: string;
  actions: string[];
}

async function resetAndCheck(control: DeviceControl, actions: string[]): Promise<MigStateValue | undefined> {
  try {
    await control.reset();
    actions.push('VFIO_DEVICE_RESET');
    return await control.stateOrUndefined();
  } catch (error) {
    actions.push(`VFIO_DEVICE_RESET failed: ${(error as Error).message}`);
    return undefined;
  }
}

/**
 * QEMU's policy: try to move back; if the device is in ERROR or the move fails, reset.
 * A source goes back to RUNNING (a migration failure never takes the device down).
 */
export async function recoverSource(control: DeviceControl): Promise<Recovery> {
  const actions: string[] = [];
  const state = await control.stateOrUndefined();
  if (state !== undefined && state !== MigState.ERROR) {
    try {
      await control.stepTo(MigState.RUNNING);
      actions.push(`${stateName(state)} -> RUNNING`);
      return {device: control.device, role: 'source', outcome: 'device_fine', state: 'RUNNING', actions};
    } catch (error) {
      actions.push(`unwind to RUNNING failed: ${(error as Error).message}`);
    }
  } else {
    actions.push(state === undefined ? 'state unreadable' : 'device in ERROR');
  }
  const after = await resetAndCheck(control, actions);
  const fine = after === MigState.RUNNING;
  return {
    device: control.device,
    role: 'source',
    outcome: fine ? 'device_reset' : 'recovery_failed',
    state: after === undefined ? 'unknown' : stateName(after),
    actions,
  };
}

/** A failed load leaves the destination mid-RESUMING or in ERROR: only a reset aborts it. */
export async function recoverDestination(control: DeviceControl): Promise<Recovery> {
  const actions: string[] = [];
  const state = await control.stateOrUndefined();
  if (state === MigState.RUNNING) {
    return {device: control.device, role: 'destination', outcome: 'device_fine', state: 'RUNNING', actions};
  }
  actions.push(`state ${state === undefined ? 'unreadable' : stateName(state)}`);
  const after = await resetAndCheck(control, actions);
  const outcome: RecoveryOutcome =
    after !== MigState.RUNNING ? 'recovery_failed' : state === MigState.ERROR || state === undefined ? 'device_reset' : 'device_fine';
  return {device: control.device, role: 'destination', outcome, state: after === undefined ? 'unknown' : stateName(after), actions};
}

const OUTCOME_TEXT: Record<RecoveryOutcome, string> = {
  device_fine: 'device fine',
  device_reset: 'device needed a reset',
  recovery_failed: 'recovery FAILED, the device needs attention',
};

const OUTCOME_EXIT: Record<RecoveryOutcome, ExitCodeValue> = {
  device_fine: ExitCode.runtime,
  device_reset: ExitCode.deviceReset,
  recovery_failed: ExitCode.recoveryFailed,
};

/** A migration that failed: the cause, and how every device came out of it. */
export class MigrationFailedError extends VfioMigError {
  constructor(
    override readonly cause: Error,
    readonly recoveries: Recovery[],
  ) {
    const worst = recoveries.reduce<RecoveryOutcome>(
      (acc, r) => (OUTCOME_EXIT[r.outcome] > OUTCOME_EXIT[acc] ? r.outcome : acc),
      'device_fine',
    );
    const summary = recoveries.map((r) => `${r.role} ${r.device}: ${OUTCOME_TEXT[r.outcome]} (${r.state})`).join('; ');
    // Interrupted with every device back: the signal's exit code (130, 143, 129).
    const exit = worst === 'device_fine' && cause instanceof InterruptedError ? cause.exitCode : OUTCOME_EXIT[worst];
    super(`migration failed: ${cause.message}; ${summary || OUTCOME_TEXT[worst]}`, exit, worst !== 'device_fine' ? worst.toUpperCase() : cause instanceof InterruptedError ? 'INTERRUPTED' : 'MIGRATION_FAILED', {
      cause: cause.message,
      cause_code: (cause as VfioMigError).code ?? 'ERROR',
      recoveries,
    });
  }
}
