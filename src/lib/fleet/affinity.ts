/**
 * The Kubernetes node affinity for a source: one required term per unit index, each ANDing
 * what the compatibility rules ask of that unit (labels.ts describes the labels). A node
 * matches when some unit on it can take the parameter list, exactly as `select` decides.
 */
import {isSafeParamName, MAX_STR_VALUE, typeOfValue} from '../model/params.js';
import type {MetadataParamList as ParamList} from '../model/types.js';
import {boolValue, DEFAULT_MAX_UNITS, modelValue, paramKey, soleKey, strValue, unitPrefix, versionValue} from './labels.js';
import {LABEL_NAMESPACE} from './names.js';

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt';

export interface NodeSelectorRequirement {
  key: string;
  operator: Operator;
  values?: string[];
}

export interface NodeSelectorTerm {
  matchExpressions: NodeSelectorRequirement[];
}

export interface NodeAffinity {
  requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: NodeSelectorTerm[]};
}

export interface AffinityResult {
  /** False when no host can take the source whatever its labels (the affinity then matches nothing). */
  satisfiable: boolean;
  /** Why it is not satisfiable. */
  reason?: string;
  max_units: number;
  nodeAffinity: NodeAffinity;
}

/** A label name with the namespace. */
export function label(name: string): string {
  return `${LABEL_NAMESPACE}/${name}`;
}

/** Kubernetes refuses an empty term list; a label vfio-mig never writes matches no node. */
const NEVER: NodeSelectorTerm = {matchExpressions: [{key: label('never'), operator: 'Exists'}]};

/** Why no destination can take `list` whatever it offers, or undefined. */
function unsatisfiable(list: ParamList): string | undefined {
  if (list.scheme === 'v4') return undefined;
  for (const [name, value] of Object.entries(list.params)) {
    if (!isSafeParamName(name)) return `parameter name ${JSON.stringify(name)} is not safe; no destination has it`;
    if (typeOfValue(value) === undefined) return `${name}: ${JSON.stringify(value)} is not a bool, int or str`;
    if (typeof value === 'string' && value.length > MAX_STR_VALUE) return `${name}: string longer than ${MAX_STR_VALUE} characters`;
  }
  return undefined;
}

function unitTerm(list: ParamList, i: number): NodeSelectorTerm {
  const p = unitPrefix(i);
  const ex: NodeSelectorRequirement[] = [
    {key: label(`${p}slots`), operator: 'Gt', values: ['0']},
    {key: label(`${p}scheme`), operator: 'In', values: [list.scheme]},
    {key: label(`${p}model`), operator: 'In', values: [modelValue(list.model)]},
  ];
  if (list.scheme === 'v4') {
    ex.push({key: label(`${p}version`), operator: 'In', values: [versionValue(list.version)]});
  } else {
    const names = Object.keys(list.params).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      const key = paramKey(i, name);
      const v = list.params[name];
      if (typeof v === 'boolean') ex.push({key: label(`${key}.v`), operator: 'In', values: [boolValue(v), boolValue('any')]});
      else if (typeof v === 'string') ex.push({key: label(`${key}.v`), operator: 'In', values: [strValue(v), strValue({any: true})]});
      else if (typeof v === 'number' && v >= 0) {
        ex.push({key: label(`${key}.lo`), operator: 'Lt', values: [String(v + 1)]}, {key: label(`${key}.hi`), operator: 'Gt', values: [String(v - 1)]});
      } else if (typeof v === 'number') {
        ex.push({key: label(`${key}.nlo`), operator: 'Gt', values: [String(-v - 1)]}, {key: label(`${key}.nhi`), operator: 'Lt', values: [String(-v + 1)]});
      }
    }
  }
  // Not the source device itself (select's IS_SOURCE): the unit's only slot is not it.
  ex.push({key: label(soleKey(i, list.source.host, list.source.device)), operator: 'DoesNotExist'});
  return {matchExpressions: ex};
}

/** The required node affinity selecting the hosts whose labels say they can take `list`. */
export function affinityFor(list: ParamList, maxUnits = DEFAULT_MAX_UNITS): AffinityResult {
  const reason = unsatisfiable(list);
  if (reason !== undefined) {
    return {satisfiable: false, reason, max_units: maxUnits, nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [NEVER]}}};
  }
  const terms: NodeSelectorTerm[] = [];
  for (let i = 0; i < maxUnits; i++) terms.push(unitTerm(list, i));
  return {satisfiable: true, max_units: maxUnits, nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: terms}}};
}
