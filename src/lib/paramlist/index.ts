/**
 * The migration parameter list (RFC v3 "migration parameter list", or the RFC v4 model and
 * version): built from a source device, or read from a file another host wrote.
 *
 * Reading a file is strict and happens before anything else: the schema first, then the
 * names (they become sysfs file names), then the values. Any problem is an InputError (exit 2).
 */

import {deviceType, deviceTypeMigration, hostName, readDevice, readTypes} from '../enumerate/index.js';
import {readInputText} from '../format/input.js';
import {duplicateJsonKey} from '../model/json.js';
import {InputError} from '../errors.js';
import {isSafeParamName, listValueProblem, setOwn} from '../model/params.js';
import {DOCUMENT_API_VERSION, type ParamList, type ParamValue, type TypeMigration, type VfioDevice} from '../model/types.js';
import {paramList as paramListSchema} from '../schema/generated/param-list.js';
import {pointerOf, type Problem, schemaProblems} from '../schema/index.js';
import type {SysfsRoot} from '../sysfs/root.js';

/** A parameter list file is small; anything larger is refused before parsing. */
export const MAX_PARAM_LIST_BYTES = 8 * 1024 * 1024;

/** Why a source device cannot give a parameter list. */
function sourceError(id: string, message: string, problems: string[] = []): InputError {
  const tail = problems.length > 0 ? ` (${problems.join('; ')})` : '';
  return new InputError(`${id}: ${message}${tail}`, 'SOURCE_UNUSABLE', problems.length > 0 ? {problems} : undefined);
}

/**
 * The parameter list of a device, given its type metadata (RFC v3: every parameter whose
 * value differs from its `off_value`, and every parameter that has none, in the metadata's
 * declared order; RFC v4: the model and version string).
 */
export function paramListFromDevice(device: VfioDevice, meta: TypeMigration | null, host: string, typeProblems: string[] = []): ParamList {
  const id = device.kind === 'mdev' ? device.uuid : device.bdf;
  // Bad vendor metadata is refused, never silently replaced by identity rules.
  if (meta === null && typeProblems.length > 0) throw sourceError(id, 'has unusable migration metadata', typeProblems);
  const source =
    device.kind === 'mdev' ? {host, device: id, type: device.type_id, parent: device.parent} : {host, device: id};
  const identity = device.identity === undefined ? {} : {identity: device.identity};
  const current = device.migration;
  if (meta === null) {
    // No vendor metadata (every kernel driver today): the identity is the list; rule sets decide.
    if (device.identity === undefined || device.problems.length > 0) {
      throw sourceError(id, 'has no usable migration metadata or identity', device.problems);
    }
    return {apiVersion: DOCUMENT_API_VERSION, kind: 'ParamList', scheme: 'none', source, identity: device.identity};
  }
  if (current === null) throw sourceError(id, 'has no usable migration values', device.problems);
  if (meta.scheme === 'v4' || current.scheme === 'v4') {
    if (meta.scheme !== 'v4' || current.scheme !== 'v4') throw sourceError(id, 'mixes RFC v3 and v4 metadata');
    return {apiVersion: DOCUMENT_API_VERSION, kind: 'ParamList', scheme: 'v4', model: current.model, version: current.version, source, ...identity};
  }
  const params: Record<string, ParamValue> = {};
  const missing: string[] = [];
  for (const [name, spec] of Object.entries(meta.params)) {
    if (!isSafeParamName(name)) throw sourceError(id, `unsafe parameter name ${JSON.stringify(name)} in the type metadata`);
    if (!Object.hasOwn(current.values, name)) {
      missing.push(name);
      continue;
    }
    const value = current.values[name] as ParamValue;
    if (spec.off_value === undefined || value !== spec.off_value) setOwn(params, name, value);
  }
  if (missing.length > 0) {
    throw sourceError(id, `cannot read migration parameter(s) ${missing.join(', ')}`, device.problems);
  }
  return {apiVersion: DOCUMENT_API_VERSION, kind: 'ParamList', scheme: 'v3', model: meta.model, params, source, ...identity};
}

/** Problems of the values: the schema says bool/int/str; this adds sysfs-writability. */
function valueProblems(params: Record<string, unknown>): Problem[] {
  const problems: Problem[] = [];
  for (const [name, value] of Object.entries(params)) {
    const at = pointerOf('params', name);
    if (!isSafeParamName(name)) {
      problems.push({pointer: at, message: `unsafe parameter name ${JSON.stringify(name)}`});
      continue;
    }
    const problem = listValueProblem(value);
    if (problem !== undefined) problems.push({pointer: at, message: problem});
  }
  return problems;
}

function listError(what: string, problems: Problem[]): InputError {
  const first = problems[0];
  const head = first ? `${first.pointer || '/'}: ${first.message}` : 'invalid';
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
  return new InputError(`${what}: not a valid parameter list: ${head}${more}`, 'BAD_PARAM_LIST', {problems});
}

/**
 * Validate parsed data as a parameter list: schema, then names, then values. Also accepts
 * the `--json` envelope of `vfio-mig params` (its `result`).
 */
export function validateParamList(data: unknown, what = 'parameter list'): ParamList {
  let doc = data;
  if (isEnvelopeOfParams(doc)) doc = (doc as {result: unknown}).result;
  const problems = schemaProblems(paramListSchema, doc);
  if (problems.length > 0) {
    // Name problems first: they are the dangerous ones.
    problems.sort((a, b) => Number(/name/.test(b.message)) - Number(/name/.test(a.message)));
    throw listError(what, problems);
  }
  const list = doc as ParamList;
  if (list.scheme === 'v3') {
    const more = valueProblems(list.params);
    if (more.length > 0) throw listError(what, more);
  }
  return list;
}

/** A `params --json` envelope: read as the list it carries (validate uses this to know it). */
export function isEnvelopeOfParams(data: unknown): boolean {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  const d = data as Record<string, unknown>;
  return d.apiVersion === 'vfio-mig/v1' && d.command === 'params' && 'result' in d && !('kind' in d);
}

export {duplicateJsonKey} from '../model/json.js';

/**
 * Parse JSON strictly (duplicate keys refused) without loading the YAML parser, which costs
 * more start-up time than everything else a command needs; anything else is strict YAML.
 */
export async function parseJsonOrYaml(text: string, what: string): Promise<unknown> {
  if (/^\s*[{[]/.test(text)) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new InputError(`${what}: not valid JSON: ${(error as Error).message}`, 'PARSE');
    }
    const dup = duplicateJsonKey(text);
    if (dup !== undefined) throw new InputError(`${what}: not valid JSON: duplicate key ${JSON.stringify(dup)}`, 'PARSE');
    return data;
  }
  const {parseYamlOrJson} = await import('../format/yaml.js');
  return parseYamlOrJson(text, what);
}

/** Parse a parameter list from text (JSON or YAML, duplicate keys refused) and validate it. */
export async function parseParamList(text: string, what = 'parameter list'): Promise<ParamList> {
  if (Buffer.byteLength(text, 'utf8') > MAX_PARAM_LIST_BYTES) {
    throw new InputError(`${what}: larger than ${MAX_PARAM_LIST_BYTES} bytes; not a parameter list`, 'TOO_LARGE');
  }
  return validateParamList(await parseJsonOrYaml(text, what), what);
}

/** Read and validate a parameter list file (`-` for stdin). */
export async function readParamListFile(file: string): Promise<ParamList> {
  const text = await readInputText(file, MAX_PARAM_LIST_BYTES, 'parameter list');
  return parseParamList(text, file === '-' ? 'stdin' : file);
}

/** The parameter list of a device on the host below `sysfs` (by UUID or BDF). */
export async function buildParamList(sysfs: SysfsRoot, id: string, options: {host?: string} = {}): Promise<ParamList> {
  const types = await readTypes(sysfs);
  const device = await readDevice(sysfs, id, types);
  const host = options.host ?? (await hostName(sysfs));
  return paramListFromDevice(device, deviceTypeMigration(device, types), host, deviceType(device, types)?.problems);
}

/** A document (parameter list or inventory) as written to a file or stdout. */
export async function serializeDocument(doc: unknown, format: 'json' | 'yaml'): Promise<string> {
  if (format === 'json') return `${JSON.stringify(doc, null, 2)}\n`;
  const {toYaml} = await import('../format/yaml.js');
  return toYaml(doc);
}

/** The format for `--out FILE`: `--format` if given, else by extension (.yaml/.yml), else JSON. */
export function documentFormat(out: string | undefined, format: string | undefined): 'json' | 'yaml' {
  if (format === 'json' || format === 'yaml') return format;
  return out !== undefined && /\.ya?ml$/i.test(out) ? 'yaml' : 'json';
}
