/**
 * Compatibility of a parameter list with a destination (an mdev type, or a device), with
 * every reason it fails and the warnings the RFC v3 review raised. Each reason has a stable
 * `code` for programs and a `message` for people.
 *
 * Checks allocate nothing per type parameter and parse each distinct range string once, so
 * checking one list against thousands of types stays cheap (see select).
 */
import {describeValue, isAllowed, isSafeParamName, MAX_STR_VALUE, typeOfValue, valueProblemOf} from '../model/params.js';
import {type Basis, checkIdentity, type IdentityReasonCode, type LoadedRuleSet, basisOf, ruleSetFor} from '../rules/index.js';
import type {
  AllowedValue,
  DeviceIdentity,
  MdevType,
  ParamList,
  ParamSpec,
  ParamType,
  ParamValue,
  TypeMigration,
  VfioDevice,
} from '../model/types.js';

/** Reasons a destination cannot take the list (any one makes it incompatible). */
export type ReasonCode =
  | 'NO_METADATA'
  | 'SCHEME_MISMATCH'
  | 'MODEL_MISMATCH'
  | 'PARAM_MISSING'
  | 'WRONG_TYPE'
  | 'NOT_ALLOWED'
  | 'VERSION_NOT_OFFERED'
  | 'DEVICE_IN_USE'
  | 'DEVICE_UNREADABLE'
  | 'IS_SOURCE'
  | 'NO_AVAILABLE_INSTANCES'
  | IdentityReasonCode;

/** Things that do not block but that an orchestrator should know. */
export type WarningCode = 'KEEPS_NON_INIT_VALUE' | 'NO_AVAILABLE_INSTANCES';

export interface Reason {
  code: ReasonCode | WarningCode;
  /** One line for people. */
  message: string;
  param?: string;
  /** The source's value (or, for KEEPS_NON_INIT_VALUE, the destination's current value). */
  value?: ParamValue;
  expected_type?: ParamType;
  actual_type?: string;
  /** The destination's allowed_values, ranges included, as declared. */
  allowed?: AllowedValue[];
  init_value?: ParamValue;
  /** Models or version strings the destination offers. */
  offered?: string[];
  pids?: number[];
  /** Identity rules: the field compared, both values, and the rule set. */
  field?: string;
  source_value?: string | null;
  dest_value?: string | null;
  rule_set?: string;
}

/** What is checked: metadata, and optionally the device that would be prepared. */
export interface Destination {
  host: string;
  /** The mdev type (for a type, or for an mdev device's type); null for a PCI variant-driver device. */
  type: MdevType | null;
  device: VfioDevice | null;
  /** The metadata governing the destination. */
  migration: TypeMigration | null;
}

export interface DestinationRef {
  host: string;
  kind: 'type' | 'device';
  type_id?: string;
  parent?: string;
  device?: string;
}

export interface SourceRef {
  host: string;
  device: string;
  type?: string;
  parent?: string;
  scheme: 'v3' | 'v4' | 'none';
  model?: string;
  version?: string;
  /** The source's identity (format v2 lists). */
  identity?: DeviceIdentity;
}

export interface CompatResult {
  compatible: boolean;
  /** What decided: vendor metadata where the source has it, else the rule set for its identity. */
  basis: Basis;
  source: SourceRef;
  destination: DestinationRef;
  reasons: Reason[];
  warnings: Reason[];
}

// ---------------------------------------------------------------------------------------
// Metadata lookups, fast enough for fleets: no per-type allocation; each distinct range
// string ("0-64" appears in thousands of types) is parsed once.

/** The membership rule lives in model/params; re-exported for callers of this module. */
export {cachedRange, isAllowed as allows} from '../model/params.js';

/** A v3 parameter's spec by name: own properties only (`constructor` is not a parameter). */
export function paramSpec(params: Record<string, ParamSpec>, name: string): ParamSpec | undefined {
  return Object.hasOwn(params, name) ? params[name] : undefined;
}

const namesCache = new WeakMap<Record<string, ParamSpec>, string[]>();

/** The parameter names of v3 metadata in byte order (the write order), cached per object. */
export function sortedParamNames(params: Record<string, ParamSpec>): string[] {
  let names = namesCache.get(params);
  if (names === undefined) {
    names = Object.keys(params).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    namesCache.set(params, names);
  }
  return names;
}

// ---------------------------------------------------------------------------------------
// Checks

function valueReason(name: string, spec: ParamSpec, value: ParamValue): Reason | undefined {
  const problem = valueProblemOf(spec, value);
  if (problem === undefined) return undefined;
  const reason: Reason = {code: problem.code, message: `${name}: ${problem.message}`, param: name};
  if (problem.code === 'WRONG_TYPE') {
    const actual = typeOfValue(value);
    return {...reason, value, expected_type: spec.type, actual_type: actual ?? typeof value};
  }
  if (typeOfValue(value) === 'str' && (value as string).length > MAX_STR_VALUE) return reason;
  return {...reason, value, allowed: spec.allowed_values ?? []};
}

/**
 * Every reason `meta` cannot take `list` (type level: model, names, types, allowed values,
 * versions). Empty when compatible. Stops at nothing: all reasons are reported.
 */
export function checkMetadata(list: ParamList, meta: TypeMigration | null): Reason[] {
  if (list.scheme === 'none') throw new Error('checkMetadata: a list without vendor metadata is checked by rule sets (checkCompat)');
  if (meta === null) {
    return [{code: 'NO_METADATA', message: 'the destination publishes no usable migration metadata'}];
  }
  if (meta.scheme !== list.scheme) {
    return [
      {
        code: 'SCHEME_MISMATCH',
        message: `the source uses RFC ${list.scheme} (${list.scheme === 'v3' ? 'parameters' : 'version strings'}), the destination RFC ${meta.scheme}`,
      },
    ];
  }
  if (meta.scheme === 'v4') {
    const v4 = list as Extract<ParamList, {scheme: 'v4'}>;
    const model = meta.models.find((m) => m.model === v4.model);
    if (model === undefined) {
      const offered = meta.models.map((m) => m.model);
      return [{code: 'MODEL_MISMATCH', message: `model ${v4.model} is not offered; the destination offers ${offered.join(', ')}`, offered}];
    }
    if (!model.versions.includes(v4.version)) {
      return [
        {
          code: 'VERSION_NOT_OFFERED',
          message: `${v4.model} version ${v4.version} is not offered; the destination offers ${model.versions.join(', ')}`,
          value: v4.version,
          offered: [...model.versions],
        },
      ];
    }
    return [];
  }
  const v3 = list as Extract<ParamList, {scheme: 'v3'}>;
  if (v3.model !== meta.model) {
    return [{code: 'MODEL_MISMATCH', message: `model ${v3.model} does not match the destination's ${meta.model}`, offered: [meta.model]}];
  }
  return checkParams(listEntries(v3), meta.params);
}

/** A v3 list's parameters with what every check needs, computed once per list. */
interface ListEntry {
  name: string;
  value: ParamValue;
  type: ParamType | undefined;
  safe: boolean;
}

const entriesCache = new WeakMap<object, ListEntry[]>();

function listEntries(list: Extract<ParamList, {scheme: 'v3'}>): ListEntry[] {
  let entries = entriesCache.get(list.params);
  if (entries === undefined) {
    entries = Object.keys(list.params).map((name) => {
      const value = list.params[name] as ParamValue;
      return {name, value, type: typeOfValue(value), safe: isSafeParamName(name)};
    });
    entriesCache.set(list.params, entries);
  }
  return entries;
}

/** The hot path of compat and select: one list against one type's parameters. */
function checkParams(entries: ListEntry[], params: Record<string, ParamSpec>): Reason[] {
  let reasons: Reason[] | undefined;
  for (const e of entries) {
    const spec = e.safe && Object.hasOwn(params, e.name) ? params[e.name] : undefined;
    let reason: Reason | undefined;
    if (spec === undefined) {
      reason = {code: 'PARAM_MISSING', message: `${e.name}: the destination has no such parameter`, param: e.name, value: e.value};
    } else if (e.type !== spec.type || !isAllowed(spec, e.value) || (e.type === 'str' && (e.value as string).length > MAX_STR_VALUE)) {
      reason = valueReason(e.name, spec, e.value);
    }
    if (reason) (reasons ??= []).push(reason);
  }
  return reasons ?? [];
}

/** Destination parameters with no off_value, absent from the list, whose value is not init_value. */
export function keptValueWarnings(
  list: ParamList,
  meta: TypeMigration | null,
  values: Record<string, ParamValue> | undefined,
): Reason[] {
  if (meta === null || meta.scheme !== 'v3' || list.scheme !== 'v3' || values === undefined) return [];
  const listed = list.params;
  const warnings: Reason[] = [];
  for (const name of sortedParamNames(meta.params)) {
    const p = {name, spec: meta.params[name] as ParamSpec};
    if (p.spec.off_value !== undefined || Object.hasOwn(listed, name) || !Object.hasOwn(values, name)) continue;
    const current = values[name] as ParamValue;
    if (current !== p.spec.init_value) {
      warnings.push({
        code: 'KEEPS_NON_INIT_VALUE',
        message: `${name}: not in the list and has no off_value, so it keeps ${describeValue(current)}, not its init_value ${describeValue(p.spec.init_value)}`,
        param: name,
        value: current,
        init_value: p.spec.init_value,
      });
    }
  }
  return warnings;
}

export function deviceIdOf(device: VfioDevice): string {
  return device.kind === 'mdev' ? device.uuid : device.bdf;
}

/** Device-level reasons: in use, unreadable values (vendor metadata only), or the source device itself. */
export function deviceReasons(list: ParamList, dest: Destination): Reason[] {
  const device = dest.device;
  if (device === null) return [];
  const reasons: Reason[] = [];
  const id = deviceIdOf(device);
  if (dest.host === list.source.host && id === list.source.device) {
    reasons.push({code: 'IS_SOURCE', message: `${id} is the source device itself`});
  }
  if (device.in_use !== null) {
    reasons.push({
      code: 'DEVICE_IN_USE',
      message: `${id} is open (VFIO group or cdev held by pid ${device.in_use.pids.join(', ')}); its parameters cannot be written`,
      pids: device.in_use.pids,
    });
  }
  const meta = list.scheme === 'none' ? null : dest.migration;
  const current = device.migration;
  if (meta !== null) {
    if (current === null || current.scheme !== meta.scheme) {
      reasons.push({code: 'DEVICE_UNREADABLE', message: `${id}: its migration/ values cannot be read${device.problems.length ? ` (${device.problems.join('; ')})` : ''}`});
    } else if (current.scheme === 'v3' && meta.scheme === 'v3') {
      const missing = Object.keys(meta.params).filter((n) => !Object.hasOwn(current.values, n));
      if (missing.length > 0) {
        reasons.push({code: 'DEVICE_UNREADABLE', message: `${id}: cannot read migration/${missing.join(', migration/')}`});
      }
    }
  }
  return reasons;
}

export function sourceRef(list: ParamList): SourceRef {
  return {
    host: list.source.host,
    device: list.source.device,
    ...(list.source.type === undefined ? {} : {type: list.source.type}),
    ...(list.source.parent === undefined ? {} : {parent: list.source.parent}),
    scheme: list.scheme,
    ...(list.scheme === 'none' ? {} : {model: list.model}),
    ...(list.scheme === 'v4' ? {version: list.version} : {}),
    ...(list.identity === undefined ? {} : {identity: list.identity}),
  };
}

export function destinationRef(dest: Destination): DestinationRef {
  const ref: DestinationRef = {host: dest.host, kind: dest.device === null ? 'type' : 'device'};
  if (dest.type !== null) {
    ref.type_id = dest.type.id;
    ref.parent = dest.type.parent;
  }
  if (dest.device !== null) ref.device = deviceIdOf(dest.device);
  return ref;
}

export interface CompatOptions {
  /** The rule sets in force (loadRuleSets); needed when the source has no vendor metadata. */
  rules?: LoadedRuleSet[];
}

export const VENDOR_METADATA: Basis = {kind: 'vendor_metadata'};

/** The identity a destination has: its device's, else its type's. */
export function destinationIdentity(dest: Destination): DeviceIdentity | undefined {
  return dest.device?.identity ?? dest.type?.identity;
}

/**
 * The type-level verdict (no device state): vendor metadata when the source list carries
 * it, else the rule set that governs the source's identity. select calls this once per type.
 */
export function typeVerdict(list: ParamList, dest: Destination, options: CompatOptions = {}): {basis: Basis; reasons: Reason[]} {
  if (list.scheme === 'none') {
    const loaded = ruleSetFor(list.identity, rulesOf(options));
    if (loaded === undefined) {
      return {basis: {kind: 'default_rule'}, reasons: [{code: 'NO_RULE_SET', message: 'no rule set applies to the source and the default rule set was removed'}]};
    }
    return {basis: basisOf(loaded), reasons: checkIdentity(list.identity, destinationIdentity(dest), loaded)};
  }
  const typeProblems = dest.migration === null ? (dest.type?.problems ?? []) : [];
  const reasons =
    typeProblems.length > 0
      ? typeProblems.map((problem): Reason => ({code: 'NO_METADATA', message: `unusable migration metadata: ${problem}`}))
      : checkMetadata(list, dest.migration);
  return {basis: VENDOR_METADATA, reasons};
}

function rulesOf(options: CompatOptions): LoadedRuleSet[] {
  if (options.rules === undefined) throw new Error('checkCompat: the source has no vendor metadata; pass {rules: await loadRuleSets()}');
  return options.rules;
}

/** The verdict for one destination, with its basis, every reason and warning. */
export function checkCompat(list: ParamList, dest: Destination, options: CompatOptions = {}): CompatResult {
  const {basis, reasons} = typeVerdict(list, dest, options);
  reasons.push(...deviceReasons(list, dest));
  const warnings: Reason[] = [];
  if (dest.device !== null) {
    const current = dest.device.migration;
    warnings.push(...keptValueWarnings(list, dest.migration, current?.scheme === 'v3' ? current.values : undefined));
  } else if (dest.type !== null && dest.type.available_instances === 0) {
    warnings.push({
      code: 'NO_AVAILABLE_INSTANCES',
      message: `${dest.type.id} has no available instances: no new device of it can be created`,
    });
  }
  return {compatible: reasons.length === 0, basis, source: sourceRef(list), destination: destinationRef(dest), reasons, warnings};
}
