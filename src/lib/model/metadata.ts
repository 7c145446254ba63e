import {migrationInfo} from '../schema/generated/migration-info.js';
import {duplicateJsonKey} from './json.js';
import {pointerOf, type Problem, schemaProblems} from '../schema/index.js';
import {allowedEntryProblem, describeValue, isAllowed, isObjectPrototypeName, isSafeParamName, parseIntRange, typeOfValue, withArticle} from './params.js';
import type {MigrationInfoFile, ParamSpec, ParamType, TypeMigration} from './types.js';

export const MODEL_NAME = /^[!-~]+\/[!-~]+$/;
export const VERSION_STRING = /^[!-~]{1,128}$/;

export interface ParsedMetadata {
  info?: MigrationInfoFile;
  problems: Problem[];
}

/** A parser for the RFC's own example syntax (see lenientParser); loaded only when asked for. */
export type LenientParser = (text: string) => unknown;

/** YAML's flow syntax reads the RFC's example text: single quotes, trailing commas. */
export async function lenientParser(): Promise<LenientParser> {
  const {parse} = await import('yaml');
  return (text) => parse(text, {uniqueKeys: true, strict: true});
}

/** Parse `migration_info.json`: strict JSON, or with `lenient` the RFC's own example syntax. */
export function parseMigrationInfo(text: string, options: {lenient?: LenientParser} = {}): ParsedMetadata {
  let data: unknown;
  try {
    data = options.lenient ? options.lenient(text) : JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? 'syntax error';
    const hint = options.lenient ? '' : ' (the RFC example uses single quotes: try --lenient)';
    return {problems: [{pointer: '', message: `not valid JSON: ${message}${options.lenient ? '' : hint}`}]};
  }
  // JSON.parse keeps the last of duplicate keys: which parameter did the vendor mean?
  const dup = options.lenient ? undefined : duplicateJsonKey(text);
  if (dup !== undefined) return {problems: [{pointer: dup, message: 'duplicate key'}]};
  const problems = schemaProblems(migrationInfo, data);
  if (problems.length === 0) problems.push(...semanticProblems(data as MigrationInfoFile));
  return problems.length === 0 ? {info: data as MigrationInfoFile, problems} : {problems};
}

/** The rules a schema cannot say: values of the declared type, ranges, allowed init/off values. */
export function semanticProblems(info: MigrationInfoFile): Problem[] {
  const problems: Problem[] = [];
  for (const [model, body] of Object.entries(info.models)) {
    for (const [name, spec] of Object.entries(body.params ?? {})) {
      problems.push(...paramSpecProblems(spec, ['models', model, 'params', name]));
      if (!isSafeParamName(name)) {
        problems.push({pointer: pointerOf('models', model, 'params', name), message: `unsafe parameter name ${JSON.stringify(name)}`});
      } else if (isObjectPrototypeName(name)) {
        problems.push({pointer: pointerOf('models', model, 'params', name), message: `parameter name ${JSON.stringify(name)} is reserved (every JavaScript object has it); rename it`});
      }
    }
  }
  return problems;
}

function paramSpecProblems(spec: ParamSpec, at: string[]): Problem[] {
  const problems: Problem[] = [];
  const type: ParamType = spec.type;
  for (const key of ['init_value', 'off_value'] as const) {
    const value = spec[key];
    if (value === undefined) continue;
    if (typeOfValue(value) !== type) {
      problems.push({pointer: pointerOf(...at, key), message: `${describeValue(value)} is not ${withArticle(type)}`});
    }
  }
  spec.allowed_values?.forEach((entry, index) => {
    let problem = allowedEntryProblem(type, entry);
    if (problem === undefined && type === 'str' && typeof entry === 'string' && parseIntRange(entry)) {
      problem = `range "${entry}" given for a str parameter`;
    }
    if (problem) problems.push({pointer: pointerOf(...at, 'allowed_values', index), message: problem});
  });
  if (problems.length > 0 || spec.allowed_values === undefined) return problems;
  for (const key of ['init_value', 'off_value'] as const) {
    const value = spec[key];
    if (value !== undefined && !isAllowed(spec, value)) {
      problems.push({pointer: pointerOf(...at, key), message: `${describeValue(value)} is not in allowed_values`});
    }
  }
  return problems;
}

/** One model of a (RFC v3) type: "each mdev type supports one device model". */
export function typeMigrationFromInfo(info: MigrationInfoFile): {migration: TypeMigration | null; problems: string[]} {
  const entries = Object.entries(info.models);
  const v3 = entries.filter(([, body]) => body.params !== undefined);
  const v4 = entries.filter(([, body]) => body.versions !== undefined);
  if (v3.length > 0 && v4.length > 0) {
    return {migration: null, problems: ['migration_info.json mixes v3 params and v4 versions']};
  }
  if (v4.length > 0) {
    return {migration: {scheme: 'v4', models: v4.map(([model, body]) => ({model, versions: body.versions ?? []}))}, problems: []};
  }
  const [first, ...rest] = v3;
  if (!first || rest.length > 0) {
    return {migration: null, problems: [`migration_info.json: a type supports exactly one device model, found ${v3.length}`]};
  }
  return {migration: {scheme: 'v3', model: first[0], params: first[1].params ?? {}}, problems: []};
}

/**
 * Parse RFC v4 `migration_device_models`: lines `<model>:`, each followed by that model's
 * version strings, one per line.
 */
export function parseDeviceModels(text: string): {models?: {model: string; versions: string[]}[]; problems: Problem[]} {
  const models: {model: string; versions: string[]}[] = [];
  const problems: Problem[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    const where = `line ${index + 1}`;
    if (line === '') return;
    if (line.endsWith(':')) {
      const model = line.slice(0, -1).trim();
      if (!MODEL_NAME.test(model)) problems.push({pointer: where, message: `invalid model name ${JSON.stringify(model)}`});
      else if (models.some((m) => m.model === model)) problems.push({pointer: where, message: `model ${model} listed twice`});
      else models.push({model, versions: []});
      return;
    }
    const current = models.at(-1);
    if (!current) problems.push({pointer: where, message: `version ${JSON.stringify(line)} before any "<model>:" line`});
    else if (!VERSION_STRING.test(line)) problems.push({pointer: where, message: `invalid version string ${JSON.stringify(line)}`});
    else if (!current.versions.includes(line)) current.versions.push(line);
  });
  for (const m of models) {
    if (m.versions.length === 0) problems.push({pointer: '', message: `model ${m.model} lists no version`});
  }
  if (models.length === 0 && problems.length === 0) problems.push({pointer: '', message: 'no model listed'});
  return problems.length === 0 ? {models, problems} : {problems};
}
