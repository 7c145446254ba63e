import path from 'node:path';

import {readInputText} from '../format/input.js';
import {deviceDir, readDevices, readTypes} from '../enumerate/index.js';
import {layout} from '../sysfs/layout.js';
import {type LenientParser, lenientParser, parseDeviceModels, parseMigrationInfo} from '../model/metadata.js';
import {inventory as inventorySchema} from '../schema/generated/inventory.js';
import {paramList as paramListSchema} from '../schema/generated/param-list.js';
import {type Problem, schemaProblems} from '../schema/index.js';
import type {SysfsRoot} from '../sysfs/root.js';

export type ValidatedFormat = 'migration-info' | 'device-models' | 'param-list' | 'inventory';

export interface ValidationReport {
  /** A file path, or a type/device directory when checking a host. */
  target: string;
  format: ValidatedFormat | 'type' | 'device';
  valid: boolean;
  problems: Problem[];
}

/** Metadata and list files are small; inventories of large hosts are the biggest. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** Which format a file holds: by name for v4 `migration_device_models`, else by its `kind`. */
function formatOf(file: string, data: unknown): ValidatedFormat {
  if (path.basename(file) === 'migration_device_models') return 'device-models';
  const kind = (data as {kind?: unknown} | null)?.kind;
  if (kind === 'ParamList') return 'param-list';
  if (kind === 'Inventory') return 'inventory';
  return 'migration-info';
}

/** Our own formats in YAML: recognised by their `kind` line, parsed only then. */
const YAML_KIND = /^kind:\s*(ParamList|Inventory)\s*$/m;

export interface TextOptions {
  /** Read the RFC's single-quoted example syntax (see lenientParser). */
  lenient?: LenientParser;
  /** Parse YAML parameter lists and inventories (see parseYamlOrJson). */
  yaml?: (text: string, what: string) => unknown;
}

/** Check one text against its format. */
export function validateText(target: string, text: string, options: TextOptions = {}): ValidationReport {
  if (path.basename(target) === 'migration_device_models') {
    const {problems} = parseDeviceModels(text);
    return {target, format: 'device-models', valid: problems.length === 0, problems};
  }
  // Our own formats (param lists, inventories) are recognised by `kind`, in JSON or YAML.
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (data === undefined && options.yaml && YAML_KIND.test(text)) {
    try {
      data = options.yaml(text, target);
    } catch (error) {
      return {target, format: 'param-list', valid: false, problems: [{pointer: '', message: (error as Error).message}]};
    }
  }
  const format = formatOf(target, data);
  if (format === 'param-list' || format === 'inventory') {
    const problems = schemaProblems(format === 'param-list' ? paramListSchema : inventorySchema, data);
    return {target, format, valid: problems.length === 0, problems};
  }
  const {problems} = parseMigrationInfo(text, {lenient: options.lenient});
  return {target, format: 'migration-info', valid: problems.length === 0, problems};
}

/** Read and check a file; unreadable files are input errors (exit 2). */
export async function validateFile(file: string, options: {lenient?: boolean} = {}): Promise<ValidationReport> {
  const text = await readInputText(file, MAX_FILE_BYTES, 'document');
  // yaml costs start-up time: load it only for --lenient or a YAML document of ours.
  const textOptions: TextOptions = {};
  if (options.lenient) textOptions.lenient = await lenientParser();
  if (YAML_KIND.test(text)) textOptions.yaml = (await import('../format/yaml.js')).parseYamlOrJson;
  return validateText(file, text, textOptions);
}

/** Problem strings from enumeration look like `migration_info.json /a/b: message`. */
function splitProblem(dir: string, problem: string): {target: string; problem: Problem} {
  const match = /^(migration_info\.json|migration_device_models)(?: (\/\S*|line \d+))?: (.*)$/.exec(problem);
  if (!match) return {target: dir, problem: {pointer: '', message: problem}};
  return {target: `${dir}/${match[1]}`, problem: {pointer: match[2] ?? '', message: match[3] ?? ''}};
}

function reportsFor(dir: string, format: 'type' | 'device', problems: string[]): ValidationReport[] {
  if (problems.length === 0) return [{target: dir, format, valid: true, problems: []}];
  const byTarget = new Map<string, Problem[]>();
  for (const text of problems) {
    const {target, problem} = splitProblem(dir, text);
    byTarget.set(target, [...(byTarget.get(target) ?? []), problem]);
  }
  return [...byTarget].map(([target, list]) => ({target, format, valid: false, problems: list}));
}

/** Every type (and variant-driver device) on the host, with its vendor metadata's problems. */
export async function validateHost(sysfs: SysfsRoot): Promise<ValidationReport[]> {
  const types = await readTypes(sysfs);
  const reports = types.flatMap((t) =>
    reportsFor(sysfs.pathOf(layout.typeDir(t.parent, t.id)), 'type', t.problems),
  );
  for (const device of await readDevices(sysfs, types)) {
    const base = deviceDir(device);
    if (device.problems.length > 0 || device.migration !== null) {
      reports.push(...reportsFor(sysfs.pathOf(base), 'device', device.problems));
    }
  }
  return reports;
}
