/**
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
  scheme: 'v3' | 'v4';
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
export function planPreparation(list: ParamList, meta: TypeMigration, current: DeviceMigration | null): Plan {
  const steps: PlanStep[] = [];
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
