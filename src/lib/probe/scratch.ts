import {randomUUID} from 'node:crypto';

import {RuntimeFailure} from '../errors.js';
import type {MdevType} from '../model/types.js';
import {layout} from '../sysfs/layout.js';
import type {SysfsRoot} from '../sysfs/root.js';

/** A scratch mdev created for a probe: `<parent>/mdev_supported_types/<type>/create`, removed after. */
export interface ScratchMdev {
  uuid: string;
  type: MdevType;
  removed: boolean;
  /** `echo 1 > /sys/bus/mdev/devices/<uuid>/remove`; idempotent. */
  remove(): Promise<void>;
}

export async function createScratchMdev(sysfs: SysfsRoot, type: MdevType, uuid: string = randomUUID()): Promise<ScratchMdev> {
  // Type and parent ids come from our own directory listing, never from the user verbatim.
  const createPath = layout.typeCreate(type.parent, type.id);
  try {
    await sysfs.writeText(createPath, uuid);
  } catch (error) {
    throw new RuntimeFailure(`${type.parent}/${type.id}: cannot create a scratch mdev: ${(error as Error).message}`, 'SCRATCH_CREATE');
  }
  const scratch: ScratchMdev = {
    uuid,
    type,
    removed: false,
    async remove() {
      if (scratch.removed) return;
      await sysfs.writeText(layout.mdevRemove(uuid), '1');
      scratch.removed = true;
    },
  };
  return scratch;
}
