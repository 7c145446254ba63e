import path from 'node:path';

import {readInputText} from '../format/input.js';
import {deviceDir, deviceTypeMigration, parseMetadataProblem, readDevices, readTypes} from '../enumerate/index.js';
import {layout} from '../sysfs/layout.js';
import {type LenientParser, lenientParser, parseDeviceModels, parseMigrationInfo} from '../model/metadata.js';
import {InputError} from '../errors.js';
import {isInventoryEnvelope, parseInventory} from '../inventory/index.js';
import {valueProblemOf} from '../model/params.js';
import {isEnvelopeOfParams, parseParamList} from '../paramlist/index.js';
import {parseRuleSetText} from '../rules/ruleset.js';
import type {Problem} from '../schema/index.js';
import type {SysfsRoot} from '../sysfs/root.js';

export type ValidatedFormat = 'migration-info' | 'device-models' | 'param-list' | 'inventory' | 'rule-set';

export interface ValidationReport {
  /** A file path, or a type/device directory when checking a host. */
  target: string;
  format: ValidatedFormat | 'type' | 'device';
  valid: boolean;
  problems: Problem[];
}

/** Metadata and list files are small; inventories of large hosts are the biggest. */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

/**
 * Which format a file holds: by name for v4 `migration_device_models`, else by its `kind`, or
 * as the `params`/`inventory` envelope the readers take (the same tests they use).
 */
function formatOf(file: string, data: unknown): ValidatedFormat {
  if (path.basename(file) === 'migration_device_models') return 'device-models';
  const kind = (data as {kind?: unknown} | null)?.kind;
  if (kind === 'ParamList' || isEnvelopeOfParams(data)) return 'param-list';
  if (kind === 'Inventory' || isInventoryEnvelope(data)) return 'inventory';
  if (kind === 'RuleSet') return 'rule-set';
  return 'migration-info';
}

/** Our own formats in YAML: recognised by their `kind` line, parsed only then. */
const YAML_KIND = /^kind:\s*(ParamList|Inventory|RuleSet)\s*$/m;
/** A `--yaml` envelope of params or inventory, which the readers take as the document it carries. */
const YAML_ENVELOPE = /^command:\s*(params|inventory)\s*$/m;

export interface TextOptions {
  /** Read the RFC's single-quoted example syntax (see lenientParser). */
  lenient?: LenientParser;
}

/** The problems of an InputError raised by the readers compat and select use (same pointer, same message). */
function problemsOf(error: unknown): Problem[] {
  if (!(error instanceof InputError)) throw error;
  const problems = (error.details as {problems?: Problem[]} | undefined)?.problems;
  if (problems && problems.length > 0) return problems;
  // Parse errors name the document first (`<what>: not valid JSON: ...`): the reason is the rest.
  return [{pointer: '', message: error.message.replace(/^[^:]*: /, '')}];
}

/**
 * Check one text against its format. Parameter lists and inventories go through the very
 * readers compat, select and prepare use (parseParamList, parseInventory), rule sets through
 * the rule-set reader, so validate refuses exactly what they refuse, with the same message.
 */
export async function validateText(target: string, text: string, options: TextOptions = {}): Promise<ValidationReport> {
  if (path.basename(target) === 'migration_device_models') {
    const {problems} = parseDeviceModels(text);
    return {target, format: 'device-models', valid: problems.length === 0, problems};
  }
  // Our own formats (param lists, inventories, rule sets) are recognised by `kind`, in JSON or YAML.
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  let format: ValidatedFormat = formatOf(target, data);
  if (data === undefined && YAML_KIND.test(text)) {
    const kind = YAML_KIND.exec(text)?.[1];
    format = kind === 'ParamList' ? 'param-list' : kind === 'Inventory' ? 'inventory' : 'rule-set';
  } else if (data === undefined && /^apiVersion:/m.test(text) && YAML_ENVELOPE.test(text)) {
    format = YAML_ENVELOPE.exec(text)?.[1] === 'params' ? 'param-list' : 'inventory';
  }
  const report = (problems: Problem[]): ValidationReport => ({target, format, valid: problems.length === 0, problems});
  if (format === 'param-list') {
    return parseParamList(text, target).then(() => report([]), (error: unknown) => report(problemsOf(error)));
  }
  if (format === 'inventory') {
    return parseInventory(text, target).then(() => report([]), (error: unknown) => report(problemsOf(error)));
  }
  if (format === 'rule-set') return report((await parseRuleSetText(text)).problems);
  const {problems} = parseMigrationInfo(text, {lenient: options.lenient});
  return {target, format: 'migration-info', valid: problems.length === 0, problems};
}

/** Read and check a file; unreadable files are input errors (exit 2). */
export async function validateFile(file: string, options: {lenient?: boolean} = {}): Promise<ValidationReport> {
  const text = await readInputText(file, MAX_FILE_BYTES, 'document');
  // yaml costs start-up time: load it only for --lenient.
  const textOptions: TextOptions = {};
  if (options.lenient) textOptions.lenient = await lenientParser();
  return validateText(file, text, textOptions);
}

/** Problem strings from enumeration: a metadata file's (pointer and message as in file mode), or the object's own. */
function splitProblem(dir: string, problem: string): {target: string; problem: Problem} {
  const parsed = parseMetadataProblem(problem);
  if (!parsed) return {target: dir, problem: {pointer: '', message: problem}};
  return {target: `${dir}/${parsed.file}`, problem: parsed.problem};
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
    // Current values against their type's rules (the one value rule): memory=99999 is not fine.
    const meta = deviceTypeMigration(device, types);
    const problems = [...device.problems];
    if (meta?.scheme === 'v3' && device.migration?.scheme === 'v3') {
      for (const [name, value] of Object.entries(device.migration.values)) {
        const spec = Object.hasOwn(meta.params, name) ? meta.params[name] : undefined;
        const problem = spec === undefined ? undefined : valueProblemOf(spec, value);
        if (problem) problems.push(`migration/${name}: ${problem.message}`);
      }
    }
    if (problems.length > 0 || device.migration !== null) {
      reports.push(...reportsFor(sysfs.pathOf(base), 'device', problems));
    }
  }
  return reports;
}
