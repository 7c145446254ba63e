/**
 * Host inventories: a snapshot of a host's types, parameter metadata, free instances and
 * devices (`vfio-mig inventory`), read back by compat and select to check a fleet offline.
 * Files are validated with the inventory schema and the metadata rules before use.
 */
import {InputError} from '../errors.js';
import {cachedRange, isAllowed as allows} from '../model/params.js';
import {typeSummary} from '../prepare/plan.js';
import {semanticProblems} from '../model/metadata.js';
import {typeOfValue} from '../model/params.js';
import type {Inventory, ParamSpec, TypeMigration} from '../model/types.js';
import {readInputText} from '../format/input.js';
import {inventory as inventorySchema} from '../schema/generated/inventory.js';
import {pointerOf, type Problem, schemaProblems} from '../schema/index.js';
import type {SysfsRoot} from '../sysfs/root.js';

/** Inventories of large hosts run to megabytes; refuse what cannot be one. */
export const MAX_INVENTORY_BYTES = 256 * 1024 * 1024;

/** An allowed_values entry as the canonical rules (model/metadata) accept it, without allocating. */
function entryOk(type: ParamSpec['type'], entry: unknown): boolean {
  if (type === 'int') {
    if (typeof entry === 'number') return Number.isSafeInteger(entry);
    if (typeof entry !== 'string') return false;
    const range = cachedRange(entry);
    return range !== undefined && range.min <= range.max;
  }
  if (type === 'bool') return typeof entry === 'boolean';
  return typeof entry === 'string' && cachedRange(entry) === undefined;
}

/**
 * The fast path of the metadata rules for fleet-sized inventories: true only when the
 * canonical semanticProblems would find nothing (names are already checked by the schema).
 * When false, the canonical check runs and gives the messages. Exported for the test that
 * pins it to the canonical rules (test/compat/fast-path.test.ts).
 */
export function specOk(spec: ParamSpec): boolean {
  const type = spec.type;
  if (typeOfValue(spec.init_value) !== type) return false;
  if (spec.off_value !== undefined && typeOfValue(spec.off_value) !== type) return false;
  const allowed = spec.allowed_values;
  if (allowed === undefined) return true;
  for (const entry of allowed) if (!entryOk(type, entry)) return false;
  return allows(spec, spec.init_value) && (spec.off_value === undefined || allows(spec, spec.off_value));
}

function metadataProblems(meta: TypeMigration | null, at: (string | number)[]): Problem[] {
  if (meta === null || meta.scheme !== 'v3') return [];
  let ok = true;
  for (const name in meta.params) {
    if (Object.hasOwn(meta.params, name) && !specOk(meta.params[name] as ParamSpec)) {
      ok = false;
      break;
    }
  }
  if (ok) {
    typeSummary(meta.params);
    return [];
  }
  return semanticProblems({models: {[meta.model]: {params: meta.params}}}).map((p) => ({
    // semanticProblems points into {models: {<model>: {params}}}; re-anchor at the type.
    pointer: pointerOf(...at) + p.pointer.replace(/^\/models\/[^/]*/, ''),
    message: p.message,
  }));
}

/** What makes an inventory ambiguous: a type or device listed twice, a device of a type it does not list. */
function structureProblems(inv: Inventory): Problem[] {
  const problems: Problem[] = [];
  const types = new Map<string, number>();
  inv.types.forEach((t, i) => {
    const key = `${t.parent}/${t.id}`;
    const before = types.get(key);
    if (before !== undefined) problems.push({pointer: pointerOf('types', i), message: `type ${key} is listed twice (also /types/${before})`});
    else types.set(key, i);
  });
  const devices = new Map<string, number>();
  inv.devices.forEach((d, i) => {
    const id = d.kind === 'mdev' ? d.uuid : d.bdf;
    const before = devices.get(id);
    if (before !== undefined) problems.push({pointer: pointerOf('devices', i), message: `device ${id} is listed twice (also /devices/${before})`});
    else devices.set(id, i);
    if (d.kind === 'mdev' && !types.has(`${d.parent}/${d.type_id}`)) {
      problems.push({pointer: pointerOf('devices', i, 'type_id'), message: `device ${id} is of type ${d.parent}/${d.type_id}, which the inventory does not list`});
    }
  });
  return problems;
}

/**
 * Validate parsed data as an inventory: schema, the metadata rules of every type, and its
 * structure. compat, select and validate all read inventories through this one function.
 */
export function validateInventory(data: unknown, what = 'inventory'): Inventory {
  let problems = schemaProblems(inventorySchema, data);
  if (problems.length === 0) {
    const inv = data as Inventory;
    inv.types.forEach((t, i) => problems.push(...metadataProblems(t.migration, ['types', i, 'migration'])));
    inv.devices.forEach((d, i) => {
      if (d.kind === 'pci') problems.push(...metadataProblems(d.type_migration, ['devices', i, 'type_migration']));
    });
    problems.push(...structureProblems(inv));
  }
  if (problems.length > 0) {
    // oneOf branches add "must be null" noise at shallow pointers: most specific first.
    const depth = (p: Problem) => p.pointer.split('/').length + (/invalid name/.test(p.message) ? 1000 : 0);
    problems = [...problems].sort((a, b) => depth(b) - depth(a)).slice(0, 50);
    const first = problems[0] as Problem;
    throw new InputError(
      `${what}: not a valid inventory: ${first.pointer || '/'}: ${first.message}${problems.length > 1 ? ` (and more)` : ''}`,
      'BAD_INVENTORY',
      {problems},
    );
  }
  return data as Inventory;
}

/**
 * Parse an inventory. JSON (what `vfio-mig inventory` writes) goes through JSON.parse, which
 * is an order of magnitude faster than a YAML parser on fleet-sized files (and, like every
 * JSON.parse, keeps the last of duplicate keys: the schema still checks what it keeps);
 * anything else is parsed as strict YAML (duplicate keys refused).
 */
export async function parseInventory(text: string, what = 'inventory'): Promise<Inventory> {
  let data: unknown;
  if (/^\s*\{/.test(text)) {
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new InputError(`${what}: not valid JSON: ${(error as Error).message}`, 'PARSE');
    }
  } else {
    const {parseYamlOrJson} = await import('../format/yaml.js');
    data = parseYamlOrJson(text, what);
  }
  // `vfio-mig inventory --json` output is taken as its result, as params' envelope is by the
  // parameter list reader: the same document two ways should not be refused one way.
  if (isInventoryEnvelope(data)) data = data.result;
  return validateInventory(data, what);
}

/** An `inventory --json` envelope: read as the inventory it carries (validate uses this to know it). */
export function isInventoryEnvelope(d: unknown): d is {result: unknown} {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return false;
  const e = d as Record<string, unknown>;
  return e.apiVersion === 'vfio-mig/v1' && e.command === 'inventory' && 'result' in e && !('kind' in e);
}

export async function readInventoryFile(file: string): Promise<Inventory> {
  const text = await readInputText(file, MAX_INVENTORY_BYTES, 'inventory');
  return parseInventory(text, file === '-' ? 'stdin' : file);
}

/** Read several inventory files; two files for the same host are refused (which one is right?). */
export async function readInventoryFiles(files: string[]): Promise<Inventory[]> {
  const inventories = await Promise.all(files.map((f) => readInventoryFile(f)));
  const seen = new Map<string, string>();
  inventories.forEach((inv, i) => {
    const before = seen.get(inv.host);
    if (before !== undefined) {
      throw new InputError(`${files[i]}: host ${inv.host} is also described by ${before}`, 'DUPLICATE_HOST');
    }
    seen.set(inv.host, files[i] as string);
  });
  return inventories;
}

