import {InputError} from '../errors.js';
import {MigFlag, MigState, type MigStateValue} from '../fsm/states.js';
import {deviceArg} from './args.js';
import type {DeviceControl} from './control.js';

/** The devices of one group, checked: at least one, none named twice. */
export function distinctDevices(ids: string[]): string[] {
  const devices = ids.map(deviceArg);
  if (devices.length === 0) throw new InputError('no device given', 'NO_DEVICES');
  const dup = devices.find((d, i) => devices.indexOf(d) !== i);
  if (dup) throw new InputError(`${dup}: named twice`, 'DUPLICATE_DEVICE');
  return devices;
}

/**
 * Several devices of one VM move together (QEMU's rule): each must offer P2P, so that all
 * can be quiesced (RUNNING_P2P) before any is stopped and none is started before all are
 * loaded. Refused before anything moves, naming the device; a lone device needs nothing.
 */
export function requireP2P(ctls: DeviceControl[], several: boolean): void {
  if (!several) return;
  const without = ctls.find((c) => !c.has(MigFlag.P2P));
  if (without) {
    throw new InputError(
      `${without.device}: does not offer P2P (VFIO_MIGRATION_P2P), which every device needs when several migrate together; migrate it on its own`,
      'NO_P2P',
      {device: without.device},
    );
  }
}

/**
 * Every device to `target` side by side; waits for all (a device is never recovered while
 * its own step is still in flight) and throws the first failure.
 */
export async function stepAll(ctls: DeviceControl[], target: MigStateValue): Promise<void> {
  await settleAll(ctls.map((c) => c.stepTo(target)));
}

async function settleAll(steps: Promise<unknown>[]): Promise<void> {
  const settled = await Promise.allSettled(steps);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * The P2P barrier: every device to RUNNING_P2P (PRE_COPY_P2P from PRE_COPY), so no device
 * starts or stops while a peer may still reach it. Without P2P (a lone device) the kernel's
 * own path is walked instead.
 */
export async function quiesceAll(ctls: DeviceControl[]): Promise<void> {
  if (!ctls.every((c) => c.has(MigFlag.P2P))) return;
  const states = await Promise.all(ctls.map((c) => c.state()));
  await settleAll(ctls.map((c, i) => c.stepTo(states[i] === MigState.PRE_COPY ? MigState.PRE_COPY_P2P : MigState.RUNNING_P2P)));
}
