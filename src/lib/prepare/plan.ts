/**
 * The one planner of what must be written to a destination. prepare applies its plan,
 * select ranks by its counts and shows its writes, the stream-header check refuses a
 * destination it still has writes for; test/compat/agreement.test.ts pins that they agree.
 *
 * The preparation plan: for each destination parameter, the source value if the list has
 * it, else its off_value, else keep the current value (the RFC v3 gap, reported). Steps are
 * in parameter-name order (byte order), whatever order the vendor's JSON declares, so two
 * runs, two hosts and a dry run all agree. A write whose value is already right is skipped
 * (writing twice can release pooled resources).
 *
 * RFC v4: `device_model` (if different), then `version` (always after a model write, since
 * writing the model resets the version).
 */
import {sortedParamNames} from '../compat/index.js';
import type {DeviceMigration, ParamList, ParamSpec, ParamValue, TypeMigration} from '../model/types.js';

type V3List = Extract<ParamList, {scheme: 'v3'}>;

export type StepAction = 'write' | 'skip' | 'keep';
/** Where the target value comes from. */
export type StepSource = 'list' | 'off_value' | 'kept' | 'model';

export interface PlanStep {
  param: string;
  action: StepAction;
  /** The destination's current value; null when unknown (a v4 device not yet created). */
  current: ParamValue | null;
  target: ParamValue | null;
  source: StepSource;
}

export interface Plan {
  /** none: a device without vendor metadata; there is nothing to write. */
  scheme: 'v3' | 'v4' | 'none';
  steps: PlanStep[];
  /** Number of `write` steps. */
  writes: number;
}

/** The files of an RFC v4 device, in write order. */
export const V4_MODEL_ATTR = 'device_model';
export const V4_VERSION_ATTR = 'version';

/**
 * Plan against a destination whose current values are `current` (a device's), or, when
 * `current` is null, a device about to be created (v3: every parameter at its init_value).
 * The list must already be compatible with `meta` (see checkMetadata).
 */
export function planPreparation(list: ParamList, meta: TypeMigration | null, current: DeviceMigration | null): Plan {
  const steps: PlanStep[] = [];
  // Decided by identity rules: the driver has no parameters to write.
  if (list.scheme === 'none') return {scheme: 'none', steps, writes: 0};
  if (meta === null) throw new Error('planPreparation: the destination has no metadata');
  if (list.scheme === 'v4' || meta.scheme === 'v4') {
    if (list.scheme !== 'v4' || meta.scheme !== 'v4') throw new Error('planPreparation: scheme mismatch');
    const cur = current?.scheme === 'v4' ? current : null;
    const modelWrite = cur === null || cur.model !== list.model;
    steps.push({param: V4_MODEL_ATTR, action: modelWrite ? 'write' : 'skip', current: cur?.model ?? null, target: list.model, source: 'list'});
    const versionWrite = modelWrite || cur.version !== list.version;
    steps.push({
      param: V4_VERSION_ATTR,
      action: versionWrite ? 'write' : 'skip',
      current: cur?.version ?? null,
      target: list.version,
      source: modelWrite && cur !== null && cur.version === list.version ? 'model' : 'list',
    });
  } else {
    if (list.scheme !== 'v3' || meta.scheme !== 'v3') throw new Error('planPreparation: scheme mismatch');
    const values = current?.scheme === 'v3' ? current.values : undefined;
    for (const name of sortedParamNames(meta.params)) {
      const p = {spec: meta.params[name] as ParamSpec};
      const now: ParamValue =
        values === undefined ? p.spec.init_value : Object.hasOwn(values, name) ? (values[name] as ParamValue) : p.spec.init_value;
      if (Object.hasOwn(list.params, name)) {
        const target = list.params[name] as ParamValue;
        steps.push({param: name, action: target === now ? 'skip' : 'write', current: now, target, source: 'list'});
      } else if (p.spec.off_value !== undefined) {
        const target = p.spec.off_value;
        steps.push({param: name, action: target === now ? 'skip' : 'write', current: now, target, source: 'off_value'});
      } else {
        steps.push({param: name, action: 'keep', current: now, target: now, source: 'kept'});
      }
    }
  }
  return {scheme: meta.scheme, steps, writes: steps.filter((s) => s.action === 'write').length};
}

/** A planned write as select shows it. */
export interface PlannedWrite {
  param: string;
  from: ParamValue | null;
  to: ParamValue;
}

/** The writes of planPreparation, in write order. */
export function plannedWrites(list: ParamList, meta: TypeMigration | null, current: DeviceMigration | null): PlannedWrite[] {
  const writes: PlannedWrite[] = [];
  for (const s of planPreparation(list, meta, current).steps) {
    if (s.action === 'write') writes.push({param: s.param, from: s.current, to: s.target as ParamValue});
  }
  return writes;
}

/** Per type, once: a new device's writes and init_value matches when the list is empty. */
export interface TypeSummary {
  params: number;
  writes: number;
  init: number;
}

const summaries = new WeakMap<Record<string, ParamSpec>, TypeSummary>();

/**
 * What counting needs of a type whatever the list: computed once per type object (inventory
 * reading primes it in the same pass as validation).
 */
export function typeSummary(params: Record<string, ParamSpec>): TypeSummary {
  let s = summaries.get(params);
  if (s === undefined) {
    s = {params: 0, writes: 0, init: 0};
    for (const name in params) {
      if (!Object.hasOwn(params, name)) continue;
      const spec = params[name] as ParamSpec;
      s.params++;
      // Not listed: off_value is written (if it differs from init_value), or the value is kept.
      if (spec.off_value !== undefined && spec.off_value !== spec.init_value) s.writes++;
      else s.init++;
    }
    summaries.set(params, s);
  }
  return s;
}

export interface PlanCounts {
  writes: number;
  /** Final values equal to the type's init_value (v3). */
  init: number;
  params: number;
}

/**
 * planPreparation's write count and its final values at init_value, without building the
 * plan: the hot loop of select over fleets (no allocation per parameter). A new device
 * (every value at init_value) starts from the type's summary and corrects it for the listed
 * parameters only. The list must be compatible with `meta` (names present, types right).
 */
export function countPlan(list: ParamList, meta: TypeMigration | null, current: DeviceMigration | null, listNames: string[], out: PlanCounts): void {
  if (list.scheme === 'none' || meta === null || meta.scheme === 'v4' || list.scheme === 'v4') {
    // No parameters (v4 has no init values): the plan is tiny, count it.
    out.writes = list.scheme === 'none' || meta === null ? 0 : planPreparation(list, meta, current).writes;
    out.init = 0;
    out.params = 0;
    return;
  }
  const listed = (list as V3List).params;
  const params = meta.params;
  if (current === null) {
    const s = typeSummary(params);
    let writes = s.writes;
    let init = s.init;
    for (const name of listNames) {
      const spec = params[name] as ParamSpec;
      const value = listed[name] as ParamValue;
      if (spec.off_value !== undefined && spec.off_value !== spec.init_value) writes--;
      else init--;
      if (value === spec.init_value) init++;
      else writes++;
    }
    out.writes = writes;
    out.init = init;
    out.params = s.params;
    return;
  }
  const values = current.scheme === 'v3' ? current.values : undefined;
  let writes = 0;
  let init = 0;
  let count = 0;
  for (const name in params) {
    if (!Object.hasOwn(params, name)) continue;
    count++;
    const spec = params[name] as ParamSpec;
    const now = values !== undefined && Object.hasOwn(values, name) ? (values[name] as ParamValue) : spec.init_value;
    const target = Object.hasOwn(listed, name) ? (listed[name] as ParamValue) : spec.off_value;
    const final = target === undefined ? now : target;
    if (final !== now) writes++;
    if (final === spec.init_value) init++;
  }
  out.writes = writes;
  out.init = init;
  out.params = count;
}
