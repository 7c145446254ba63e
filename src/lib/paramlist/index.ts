/**
 * The migration parameter list (RFC v3 "migration parameter list", or the RFC v4 model and
 * version): built from a source device, or read from a file another host wrote.
 *
 * Reading a file is strict and happens before anything else: the schema first, then the
 * names (they become sysfs file names), then the values. Any problem is an InputError (exit 2).
 */

import {deviceTypeMigration, hostName, readDevice, readTypes} from '../enumerate/index.js';
import {readInputText} from '../format/input.js';
import {InputError} from '../errors.js';
import {MAX_STR_VALUE, isSafeParamName, setOwn, typeOfValue} from '../model/params.js';
import type {ParamList, ParamValue, TypeMigration, VfioDevice} from '../model/types.js';
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
export function paramListFromDevice(device: VfioDevice, meta: TypeMigration | null, host: string): ParamList {
  const id = device.kind === 'mdev' ? device.uuid : device.bdf;
  const source =
    device.kind === 'mdev' ? {host, device: id, type: device.type_id, parent: device.parent} : {host, device: id};
  const current = device.migration;
  if (meta === null || current === null) {
    throw sourceError(id, 'has no usable migration metadata or values', device.problems);
  }
  if (meta.scheme === 'v4' || current.scheme === 'v4') {
    if (meta.scheme !== 'v4' || current.scheme !== 'v4') throw sourceError(id, 'mixes RFC v3 and v4 metadata');
    return {apiVersion: 'vfio-mig/v1', kind: 'ParamList', scheme: 'v4', model: current.model, version: current.version, source};
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
  return {apiVersion: 'vfio-mig/v1', kind: 'ParamList', scheme: 'v3', model: meta.model, params, source};
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
    const type = typeOfValue(value);
    if (type === undefined) {
      problems.push({pointer: at, message: `${JSON.stringify(value) ?? String(value)} is not a bool, int or str`});
    } else if (type === 'str') {
      const s = value as string;
      if (s.length > MAX_STR_VALUE) problems.push({pointer: at, message: `string of ${s.length} characters; at most ${MAX_STR_VALUE}`});
      // eslint-disable-next-line no-control-regex
      else if (/[\u0000-\u001f\u007f]/.test(s)) problems.push({pointer: at, message: 'string holds a control character; not writable to sysfs'});
    }
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

function isEnvelopeOfParams(data: unknown): boolean {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return false;
  const d = data as Record<string, unknown>;
  return d.apiVersion === 'vfio-mig/v1' && d.command === 'params' && 'result' in d && !('kind' in d);
}

/**
 * The first duplicate object key in valid JSON text (JSON.parse silently keeps the last one),
 * as a JSON pointer-ish path, or undefined. Linear, no allocation but the key strings.
 */
export function duplicateJsonKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = [];
  const path: string[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q === -1) return undefined; // not valid JSON; JSON.parse reported it
        let backslashes = 0;
        for (let k = q - 1; text.charCodeAt(k) === 0x5c; k--) backslashes++;
        j = q + 1;
        if (backslashes % 2 === 0) break;
      }
      const top = stack[stack.length - 1];
      if (top && expectKey) {
        const raw = text.slice(i + 1, j - 1);
        const key = raw.includes('\\') ? (JSON.parse(text.slice(i, j)) as string) : raw;
        if (top.has(key)) return `/${[...path.slice(0, stack.length - 1), key].join('/')}`;
        top.add(key);
        path[stack.length - 1] = key;
        expectKey = false;
      }
      i = j - 1;
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      path[stack.length - 1] = '';
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      path.length = stack.length;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
  return undefined;
}

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
  return paramListFromDevice(device, deviceTypeMigration(device, types), host);
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
