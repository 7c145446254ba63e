/**
 * What one host can take, as the schedulers' formats need it: its "units". A unit is one
 * combination of metadata facts that a parameter list is checked against, with how many
 * destinations (free instances of a type, free devices) have it.
 *
 * The rules are the compatibility module's (src/lib/compat): a unit has the model, and for
 * each parameter ONE allowed interval (int) or ONE allowed value (str, bool, or "any").
 * A type whose parameters allow several intervals or values becomes several units (the
 * product), because Kubernetes node affinity ORs only whole terms: one term per unit index
 * then tests each listed parameter with single expressions, and the affinity stays linear in
 * the number of units. Units with identical facts on one host are merged (their slots add).
 */
import {cachedRange, deviceIdOf, deviceReasons, type Destination} from '../compat/index.js';
import {RuntimeFailure} from '../errors.js';
import {isSafeParamName, MAX_STR_VALUE} from '../model/params.js';
import type {DeviceIdentity, Inventory, MdevType, ParamList, ParamSpec, TypeMigration, VfioDevice} from '../model/types.js';
import {destinationFacts, identityLabel, type LoadedRuleSet, type TermFact} from '../rules/index.js';

/** One allowed alternative of a parameter within a unit. */
export type Alternative =
  | {type: 'int'; lo: number; hi: number}
  | {type: 'bool'; value: boolean | 'any'}
  | {type: 'str'; value: string | {any: true}}
  /** allowed_values is empty: no value is accepted. */
  | {type: 'none'};

export type UnitFacts =
  | {scheme: 'v3'; model: string; params: [string, Alternative][]}
  | {scheme: 'v4'; model: string; version: string}
  /**
   * A destination judged by its identity (sources without vendor metadata): the facts the
   * rule sets in force compare, as src/lib/rules/terms.ts publishes them; `name` for people.
   */
  | {scheme: 'identity'; name: string; facts: [TermFact, string][]};

export interface Unit {
  facts: UnitFacts;
  /** Destinations with these facts: free instances of types plus free usable devices. */
  slots: number;
  /** Free devices among the slots (device ids), for the "not the source device itself" rule. */
  devices: string[];
  /** Where the unit comes from: `<parent>/<type>` or a PCI device's BDF (for people). */
  origins: string[];
}

/** What a host offers per type: free instances (for the simple per-type labels and traits). */
export interface OfferedType {
  id: string;
  available_instances: number | null;
  models: string[];
}

export interface HostFacts {
  host: string;
  units: Unit[];
  types: OfferedType[];
}

/** A host may not describe more combinations per type than this (labels stay under 64 KiB anyway). */
export const MAX_COMBINATIONS_PER_TYPE = 4096;

const SAFE_MAX = Number.MAX_SAFE_INTEGER;

/** The disjoint, sorted intervals an int parameter allows (adjacent ones merged). */
export function intIntervals(spec: ParamSpec): {lo: number; hi: number}[] {
  if (spec.allowed_values === undefined) return [{lo: -SAFE_MAX, hi: SAFE_MAX}];
  const raw: {lo: number; hi: number}[] = [];
  for (const entry of spec.allowed_values) {
    if (typeof entry === 'number' && Number.isSafeInteger(entry)) raw.push({lo: entry, hi: entry});
    else if (typeof entry === 'string') {
      const range = cachedRange(entry);
      if (range && range.min <= range.max) raw.push({lo: range.min, hi: range.max});
    }
  }
  raw.sort((a, b) => a.lo - b.lo || a.hi - b.hi);
  const merged: {lo: number; hi: number}[] = [];
  for (const r of raw) {
    const last = merged[merged.length - 1];
    if (last !== undefined && r.lo <= last.hi + 1) last.hi = Math.max(last.hi, r.hi);
    else merged.push({...r});
  }
  return merged;
}

/** Every alternative a parameter allows (at least one: `none` when nothing is allowed). */
export function alternatives(spec: ParamSpec): Alternative[] {
  let alts: Alternative[];
  if (spec.type === 'int') {
    alts = intIntervals(spec).map((r) => ({type: 'int', ...r}));
  } else if (spec.type === 'bool') {
    if (spec.allowed_values === undefined) alts = [{type: 'bool', value: 'any'}];
    else {
      const t = spec.allowed_values.includes(true);
      const f = spec.allowed_values.includes(false);
      alts = t && f ? [{type: 'bool', value: 'any'}] : t ? [{type: 'bool', value: true}] : f ? [{type: 'bool', value: false}] : [];
    }
  } else if (spec.allowed_values === undefined) {
    alts = [{type: 'str', value: {any: true}}];
  } else {
    // A value longer than MAX_STR_VALUE is refused whatever the metadata says.
    const values = [...new Set(spec.allowed_values.filter((v): v is string => typeof v === 'string' && v.length <= MAX_STR_VALUE))].sort();
    alts = values.map((value) => ({type: 'str', value}));
  }
  return alts.length > 0 ? alts : [{type: 'none'}];
}

/** The unit facts a type's metadata expands to (the product of its parameters' alternatives). */
export function expandMetadata(meta: TypeMigration, where: string): UnitFacts[] {
  if (meta.scheme === 'v4') {
    const out: UnitFacts[] = [];
    for (const m of meta.models) for (const version of new Set(m.versions)) out.push({scheme: 'v4', model: m.model, version});
    return out;
  }
  const names = Object.keys(meta.params)
    .filter((n) => isSafeParamName(n))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const perParam = names.map((n) => alternatives(meta.params[n] as ParamSpec));
  const count = perParam.reduce((n, alts) => n * alts.length, 1);
  if (count > MAX_COMBINATIONS_PER_TYPE) {
    throw new RuntimeFailure(
      `${where}: its allowed_values combine into ${count} alternatives, more than ${MAX_COMBINATIONS_PER_TYPE}; scheduler labels cannot describe it (use select or compat)`,
      'TOO_MANY_COMBINATIONS',
    );
  }
  let combos: [string, Alternative][][] = [[]];
  names.forEach((name, i) => {
    const next: [string, Alternative][][] = [];
    for (const combo of combos) for (const alt of perParam[i] as Alternative[]) next.push([...combo, [name, alt]]);
    combos = next;
  });
  return combos.map((params) => ({scheme: 'v3', model: meta.model, params}));
}

/** Lists that name no real source: deviceReasons is asked about the device alone. */
const PROBE: ParamList = {apiVersion: 'vfio-mig/v1', kind: 'ParamList', scheme: 'v4', model: '', version: '', source: {host: '\0', device: '\0'}};
const PROBE_IDENTITY: ParamList = {apiVersion: 'vfio-mig/v2', kind: 'ParamList', scheme: 'none', identity: {bus: 'pci'}, source: {host: '\0', device: '\0'}};

/**
 * Whether select could prepare `device` for some source other than itself: not in use, and
 * for sources with vendor metadata (`meta`) its values readable.
 */
function usableDevice(host: string, type: MdevType | null, device: VfioDevice, meta: TypeMigration | null): boolean {
  const dest: Destination = {host, type, device, migration: meta};
  return deviceReasons(meta === null ? PROBE_IDENTITY : PROBE, dest).every((r) => r.code === 'IS_SOURCE');
}

/**
 * The units of one host snapshot, in a stable order (by facts). `rules`: the rule sets in
 * force (the same on every host), which say what identity facts a destination publishes.
 */
export function hostFacts(inv: Inventory, rules: LoadedRuleSet[]): HostFacts {
  const byKey = new Map<string, Unit>();
  const identityUnit = (identity: DeviceIdentity): UnitFacts[] => [{scheme: 'identity', name: identityLabel(identity), facts: destinationFacts(identity, rules)}];
  const add = (meta: TypeMigration | DeviceIdentity, slots: number, devices: string[], origin: string) => {
    if (slots === 0) return;
    for (const facts of 'bus' in meta ? identityUnit(meta) : expandMetadata(meta, `${inv.host} ${origin}`)) {
      const key = JSON.stringify(facts);
      const unit = byKey.get(key);
      if (unit) {
        unit.slots += slots;
        unit.devices.push(...devices);
        unit.origins.push(origin);
      } else byKey.set(key, {facts, slots, devices: [...devices], origins: [origin]});
    }
  };
  const types: OfferedType[] = [];
  for (const type of inv.types) {
    const meta = type.migration;
    const models = meta === null ? [] : meta.scheme === 'v3' ? [meta.model] : meta.models.map((m) => m.model);
    types.push({id: type.id, available_instances: type.available_instances ?? null, models});
    const ofType = inv.devices.filter((d) => d.kind === 'mdev' && d.parent === type.parent && d.type_id === type.id);
    // Unknown available_instances: select still offers a new device of the type.
    const fresh = type.available_instances === undefined ? 1 : type.available_instances;
    if (meta !== null) {
      const devices = ofType.filter((d) => usableDevice(inv.host, type, d, meta)).map(deviceIdOf);
      add(meta, fresh + devices.length, devices, `${type.parent}/${type.id}`);
    }
    // A source without vendor metadata is judged on the type's identity, metadata or not (compat's typeVerdict).
    if (type.identity !== undefined) {
      const devices = ofType.filter((d) => usableDevice(inv.host, type, d, null)).map(deviceIdOf);
      add(type.identity, fresh + devices.length, devices, `${type.parent}/${type.id}`);
    }
  }
  for (const d of inv.devices) {
    if (d.kind !== 'pci') continue;
    if (d.type_migration !== null && usableDevice(inv.host, null, d, d.type_migration)) add(d.type_migration, 1, [d.bdf], d.bdf);
    if (d.identity !== undefined && usableDevice(inv.host, null, d, null)) add(d.identity, 1, [d.bdf], d.bdf);
  }
  const units = [...byKey.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, u]) => u);
  return {host: inv.host, units, types};
}
