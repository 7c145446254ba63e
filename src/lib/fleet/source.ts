/** The source of `affinity` and `traits --source`: a device, a parameter list, or a stream header. */
import {resolveSource} from '../compat/resolve.js';
import {InputError} from '../errors.js';
import {readInputText} from '../format/input.js';
import type {Inventory, ParamList} from '../model/types.js';
import {MAX_PARAM_LIST_BYTES, parseJsonOrYaml, validateParamList} from '../paramlist/index.js';
import type {SysfsRoot} from '../sysfs/root.js';

/**
 * A device id is resolved as `select` does; a file (or `-`) may hold a parameter list or a
 * stream header (`kind: StreamHeader`, as `migrate verify --json` prints it), whose list is used.
 */
export async function fleetSource(source: string, options: {sysfs?: SysfsRoot; inventories?: Inventory[]; host?: string}): Promise<ParamList> {
  const {normalizeDeviceId} = await import('../enumerate/index.js');
  if (source !== '-' && normalizeDeviceId(source)) return resolveSource(source, options);
  const what = source === '-' ? 'stdin' : source;
  const text = await readInputText(source, MAX_PARAM_LIST_BYTES, 'parameter list or stream header');
  const doc = await parseJsonOrYaml(text, what);
  if (typeof doc === 'object' && doc !== null && (doc as {kind?: unknown}).kind === 'StreamHeader') {
    const {parseHeader} = await import('../migrate/header.js');
    const header = parseHeader(JSON.stringify(doc), what);
    if (header.param_list === null) throw new InputError(`${what}: the stream's source has no migration metadata; nothing to place by`, 'NO_METADATA');
    return header.param_list;
  }
  return validateParamList(doc, what);
}
