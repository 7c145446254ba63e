import {normalizeDeviceId} from '../enumerate/index.js';
import {InputError} from '../errors.js';

/** A device id as the engine takes it (lower-case UUID or full BDF), checked before use. */
export function deviceArg(text: string): string {
  const parsed = normalizeDeviceId(text);
  if (!parsed) throw new InputError(`${text}: not an mdev UUID or a PCI address (0000:65:00.0)`, 'BAD_DEVICE_ID');
  return parsed.id;
}
