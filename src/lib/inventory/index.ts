/**
 * Host inventories: a snapshot of a host's types, parameter metadata, free instances and
 * devices (`vfio-mig inventory`), read back by compat and select to check a fleet offline.
 * Files are validated with the inventory schema and the metadata rules before use.
 */
import {createHash} from 'node:crypto';

import {InputError} from '../errors.js';
import {cachedRange, isAllowed as allows} from '../model/params.js';
import {typeSummary} from '../prepare/plan.js';
import {semanticProblems} from '../model/metadata.js';
import {typeOfValue} from '../model/params.js';
import {
  INVENTORY_API_VERSION,
  type Inventory,
  type InventoryDocument,
  type MdevType,
  type ParamSpec,
  type PciVfioDevice,
  type TypeMigration,
  type VfioDevice,
} from '../model/types.js';
import {readInputText} from '../format/input.js';
import {inventory as inventorySchema, inventoryMetadataBlock, inventoryMetadataName} from '../schema/generated/inventory.js';
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
 * Metadata blocks already validated while reading a fleet, by name: a block of another file
 * with the same name and equal content (its text when both were read by the fast path, else
 * its JSON value) is taken as it is: validated, summarized, one shared object. Hosts of one
 * model then cost one validation per distinct block. The name alone is never trusted.
 */
export type MetadataCache = Map<string, {text?: string; block: TypeMigration}[]>;

/** One entry of a v3 metadata table: its value, or (fast path) its JSON text, parsed only when new. */
interface TableEntry {
  name: string;
  value?: unknown;
  text?: string;
}

/** JSON values equal (objects by keys, whatever their order). */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  let n = 0;
  for (const k in ao) {
    if (!Object.hasOwn(ao, k)) continue;
    n++;
    if (!Object.hasOwn(bo, k) || !jsonEqual(ao[k], bo[k])) return false;
  }
  for (const k in bo) if (Object.hasOwn(bo, k)) n--;
  return n === 0;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Format v3's metadata table, one block at a time: its name and content checked with the
 * schema's own definitions and the metadata rules, once per distinct block with the cache.
 * Together with the document checked with its table emptied, exactly the inventory schema's
 * checks (test/compat/inventory-v3.test.ts holds the two to agreement).
 */
function resolveTable(entries: TableEntry[], problems: Problem[], cache: MetadataCache): Map<string, TypeMigration> {
  const blocks = new Map<string, TypeMigration>();
  for (const {name, value, text} of entries) {
    const seen = cache.get(name);
    const same = seen?.find((c) => (text !== undefined && c.text !== undefined ? c.text === text : jsonEqual(c.block, value ?? JSON.parse(text as string))));
    if (same !== undefined) {
      blocks.set(name, same.block);
      continue;
    }
    const block = (value ?? JSON.parse(text as string)) as TypeMigration;
    blocks.set(name, block);
    const at = pointerOf('metadata', name);
    if (!inventoryMetadataName(name)) {
      problems.push({pointer: at, message: `invalid name ${JSON.stringify(name)}`});
      continue;
    }
    const found = schemaProblems(inventoryMetadataBlock, block).map((p) => ({pointer: at + p.pointer, message: p.message}));
    if (found.length === 0) found.push(...metadataProblems(block, ['metadata', name]));
    problems.push(...found);
    if (found.length === 0) {
      const entry = {...(text === undefined ? {} : {text}), block};
      if (seen) seen.push(entry);
      else cache.set(name, [entry]);
    }
  }
  return blocks;
}

/**
 * Format v3: the types and devices given their blocks; the v2 layout the library reads.
 * `owned`: the document was parsed here, so it is completed in place (a fleet's 100,000
 * types are not copied).
 */
function resolveBlocks(doc: InventoryDocument, blocks: Map<string, TypeMigration>, problems: Problem[], owned: boolean): Inventory {
  const resolve = (name: string | null, at: (string | number)[]): TypeMigration | null => {
    if (name === null) return null;
    const block = blocks.get(name);
    if (block === undefined) problems.push({pointer: pointerOf(...at), message: `metadata ${name} is not in the inventory's metadata table`});
    return block ?? null;
  };
  const types = doc.types.map((t, i) => {
    const migration = resolve(t.migration, ['types', i, 'migration']);
    if (!owned) return {...t, migration};
    (t as unknown as MdevType).migration = migration;
    return t as unknown as MdevType;
  });
  const devices = doc.devices.map((d, i): VfioDevice => {
    if (d.kind !== 'pci') return d;
    const typeMigration = resolve(d.type_migration, ['devices', i, 'type_migration']);
    if (!owned) return {...d, type_migration: typeMigration};
    (d as unknown as PciVfioDevice).type_migration = typeMigration;
    return d as unknown as PciVfioDevice;
  });
  return {apiVersion: 'vfio-mig/v2', kind: 'Inventory', host: doc.host, taken_at: doc.taken_at, types, devices};
}

/**
 * Validate parsed data as an inventory of any format (v1, v2, v3): schema, the metadata rules
 * of every type (of every block in v3), and its structure. compat, select and validate all
 * read inventories through this one function; the result is always the v2 layout, types of
 * equal v3 metadata sharing one object (`cache`: blocks already checked, shared across files).
 */
export function validateInventory(data: unknown, what = 'inventory', cache: MetadataCache = new Map()): Inventory {
  return checkInventory(data, what, cache, undefined, false);
}

/** `table`: a v3 table the fast path kept as text (`data` has it empty); `owned`: `data` was parsed here. */
function checkInventory(data: unknown, what: string, cache: MetadataCache, table: TableEntry[] | undefined, owned: boolean): Inventory {
  let entries = table;
  let shell = data;
  if (entries === undefined && isPlainObject(data) && data.apiVersion === INVENTORY_API_VERSION && isPlainObject(data.metadata)) {
    const metadata = data.metadata;
    entries = Object.keys(metadata).map((name) => ({name, value: metadata[name]}));
    shell = {...data, metadata: {}};
  }
  let problems = schemaProblems(inventorySchema, shell);
  let inv = data as Inventory;
  if (entries !== undefined) {
    const blocks = resolveTable(entries, problems, cache);
    if (problems.length === 0) inv = resolveBlocks(shell as InventoryDocument, blocks, problems, owned);
  } else if (problems.length === 0) {
    inv.types.forEach((t, i) => problems.push(...metadataProblems(t.migration, ['types', i, 'migration'])));
    inv.devices.forEach((d, i) => {
      if (d.kind === 'pci') problems.push(...metadataProblems(d.type_migration, ['devices', i, 'type_migration']));
    });
  }
  if (problems.length === 0) problems.push(...structureProblems(inv));
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
  return inv;
}

/**
 * The fast path for what `inventory` writes: a v3 file whose metadata table has one block per
 * line. Returns the document text with the table emptied and each block's name and JSON text
 * (parsed only when new to the fleet), or undefined for any other layout (then the whole text
 * is parsed). Raw newlines occur in JSON only between tokens, and each line must hold exactly
 * one `"name":value` member, so the result is what JSON.parse of the whole text gives.
 */
function splitTable(text: string): {shell: string; table: TableEntry[]} | undefined {
  const head = text.indexOf('\n');
  if (head === -1 || !text.startsWith(TABLE_OPEN, head - TABLE_OPEN.length) || !text.startsWith('{"apiVersion":"vfio-mig/v3",')) return undefined;
  const table: TableEntry[] = [];
  let at = head + 1;
  for (;;) {
    const end = text.indexOf('\n', at);
    if (end === -1) return undefined;
    if (text.charCodeAt(at) === 0x7d /* } */) {
      const shell = `${text.slice(0, head)}}${text.slice(at + 1)}`;
      // One "metadata" key (the emptied one), as JSON.parse of the whole text would keep.
      const first = shell.indexOf('"metadata":');
      return first !== -1 && shell.indexOf('"metadata":', first + 1) === -1 ? {shell, table} : undefined;
    }
    const m = BLOCK_LINE.exec(text.slice(at, at + 80));
    if (m === null) return undefined;
    const last = text.charCodeAt(end - 1) === 0x2c /* , */ ? end - 1 : end;
    table.push({name: m[1] as string, text: text.slice(at + m[0].length, last)});
    at = end + 1;
  }
}

const TABLE_OPEN = '"metadata":{';
const BLOCK_LINE = /^"(sha256:[0-9a-f]{16,64})":/;

/**
 * An inventory as `vfio-mig inventory` writes it (format v3): each distinct type metadata
 * once, named `sha256:` and the first 16 hex digits of the SHA-256 of its JSON.
 */
export function inventoryDocument(inv: Inventory): InventoryDocument {
  const metadata: Record<string, TypeMigration> = {};
  const names = new Map<string, string>();
  const nameOf = (block: TypeMigration | null): string | null => {
    if (block === null) return null;
    const json = JSON.stringify(block);
    let name = names.get(json);
    if (name === undefined) {
      const digest = createHash('sha256').update(json).digest('hex');
      name = `sha256:${digest.slice(0, 16)}`;
      // Two blocks sharing 64 bits of digest: the second gets the whole digest.
      if (Object.hasOwn(metadata, name)) name = `sha256:${digest}`;
      names.set(json, name);
      metadata[name] = block;
    }
    return name;
  };
  const types = inv.types.map((t) => ({...t, migration: nameOf(t.migration)}));
  const devices = inv.devices.map((d) => (d.kind === 'pci' ? {...d, type_migration: nameOf(d.type_migration)} : d));
  return {apiVersion: INVENTORY_API_VERSION, kind: 'Inventory', host: inv.host, taken_at: inv.taken_at, metadata, types, devices};
}

/**
 * The JSON text of a v3 inventory as `inventory` writes it: one metadata block, type or device
 * per line, which the reader's fast path takes apart without parsing blocks it has seen.
 */
export function inventoryJson(doc: InventoryDocument): string {
  const head = JSON.stringify({apiVersion: doc.apiVersion, kind: doc.kind, host: doc.host, taken_at: doc.taken_at});
  const lines = (items: string[]) => (items.length === 0 ? '' : `\n${items.join(',\n')}\n`);
  const table = Object.keys(doc.metadata).map((name) => `${JSON.stringify(name)}:${JSON.stringify(doc.metadata[name])}`);
  return (
    `${head.slice(0, -1)},${TABLE_OPEN}\n${table.join(',\n')}${table.length === 0 ? '' : '\n'}}` +
    `,"types":[${lines(doc.types.map((t) => JSON.stringify(t)))}],"devices":[${lines(doc.devices.map((d) => JSON.stringify(d)))}]}\n`
  );
}

/**
 * Parse an inventory. JSON (what `vfio-mig inventory` writes) goes through JSON.parse, which
 * is an order of magnitude faster than a YAML parser on fleet-sized files (and, like every
 * JSON.parse, keeps the last of duplicate keys: the schema still checks what it keeps);
 * anything else is parsed as strict YAML (duplicate keys refused).
 */
export async function parseInventory(text: string, what = 'inventory', cache?: MetadataCache): Promise<Inventory> {
  let data: unknown;
  let table: TableEntry[] | undefined;
  if (/^\s*\{/.test(text)) {
    const split = splitTable(text);
    try {
      if (split !== undefined) {
        data = JSON.parse(split.shell);
        table = split.table;
        // A block that is not one JSON value: the whole text says where.
        for (const entry of table) if (!cache?.get(entry.name)?.some((c) => c.text === entry.text)) entry.value = JSON.parse(entry.text as string);
      }
    } catch {
      table = undefined;
    }
    if (table === undefined) {
      try {
        data = JSON.parse(text);
      } catch (error) {
        throw new InputError(`${what}: not valid JSON: ${(error as Error).message}`, 'PARSE');
      }
    }
  } else {
    const {parseYamlOrJson} = await import('../format/yaml.js');
    data = parseYamlOrJson(text, what);
  }
  // `vfio-mig inventory --json` output is taken as its result, as params' envelope is by the
  // parameter list reader: the same document two ways should not be refused one way.
  if (isInventoryEnvelope(data)) data = data.result;
  return checkInventory(data, what, cache ?? new Map(), table, true);
}

/** An `inventory --json` envelope: read as the inventory it carries (validate uses this to know it). */
export function isInventoryEnvelope(d: unknown): d is {result: unknown} {
  if (typeof d !== 'object' || d === null || Array.isArray(d)) return false;
  const e = d as Record<string, unknown>;
  return e.apiVersion === 'vfio-mig/v1' && e.command === 'inventory' && 'result' in e && !('kind' in e);
}

export async function readInventoryFile(file: string, cache?: MetadataCache): Promise<Inventory> {
  const text = await readInputText(file, MAX_INVENTORY_BYTES, 'inventory');
  return parseInventory(text, file === '-' ? 'stdin' : file, cache);
}

const READ_AHEAD = 4;

/** Read several inventory files; two files for the same host are refused (which one is right?). */
export async function readInventoryFiles(files: string[]): Promise<Inventory[]> {
  // One cache for the fleet: hosts of one model share their metadata blocks (format v3).
  const cache: MetadataCache = new Map();
  // A few files at a time: each file's text is garbage once parsed, so the heap holds the
  // inventories and a few texts, not every text at once (a thousand files: a third of the time was GC).
  const inventories: Inventory[] = new Array(files.length);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      try {
        inventories[i] = await readInventoryFile(files[i] as string, cache);
      } catch (error) {
        next = files.length; // the first refusal ends the reading
        throw error;
      }
    }
  };
  await Promise.all(Array.from({length: Math.min(READ_AHEAD, files.length)}, worker));
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

