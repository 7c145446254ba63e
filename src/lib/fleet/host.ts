/** The host snapshot the fleet commands describe: this host live, or one inventory file. */
import type {Inventory} from '../model/types.js';
import type {SysfsRoot} from '../sysfs/root.js';

export async function fleetHost(sysfs: SysfsRoot, options: {inventory?: string; host?: string}): Promise<Inventory> {
  if (options.inventory !== undefined) {
    const {readInventoryFile} = await import('../inventory/index.js');
    const inv = await readInventoryFile(options.inventory);
    return options.host === undefined ? inv : {...inv, host: options.host};
  }
  const {readInventory} = await import('../enumerate/index.js');
  return readInventory(sysfs, options.host);
}
