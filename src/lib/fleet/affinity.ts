/**
 * The Kubernetes node affinity for a source: one required term per unit index, each ANDing
 * what the compatibility rules ask of that unit (labels.ts describes the labels). A node
 * matches when some unit on it can take the parameter list, exactly as `select` decides.
 */
import {InputError} from '../errors.js';
import {isSafeParamName, MAX_STR_VALUE, typeOfValue} from '../model/params.js';
import type {ParamList} from '../model/types.js';
import {type LoadedRuleSet, type Requirement, sourceRequirements} from '../rules/index.js';
import {boolValue, DEFAULT_MAX_UNITS, factLabelKey, factLabelValue, modelValue, paramKey, soleKey, strValue, unitPrefix, versionValue} from './labels.js';
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
  /** A source without vendor metadata: the rule set that judges it. */
  rule_set?: string;
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
function unsatisfiable(list: Exclude<ParamList, {scheme: 'none'}>): string | undefined {
  if (list.scheme === 'v4') return undefined;
  for (const [name, value] of Object.entries(list.params)) {
    if (!isSafeParamName(name)) return `parameter name ${JSON.stringify(name)} is not safe; no destination has it`;
    if (typeOfValue(value) === undefined) return `${name}: ${JSON.stringify(value)} is not a bool, int or str`;
    if (typeof value === 'string' && value.length > MAX_STR_VALUE) return `${name}: string longer than ${MAX_STR_VALUE} characters`;
  }
  return undefined;
}

/** A rule-set requirement (src/lib/rules/terms.ts) as an expression on unit i's labels. */
function requirementExpression(i: number, q: Requirement): NodeSelectorRequirement {
  const key = label(factLabelKey(i, q.fact));
  if (q.op === 'absent') return {key, operator: 'DoesNotExist'};
  // Gt takes an int64; the fact is an integer at least q.value, i.e. greater than q.value - 1.
  if (q.op === 'at_least') return {key, operator: 'Gt', values: [(BigInt(q.value) - 1n).toString()]};
  return {key, operator: q.op === 'in' ? 'In' : 'NotIn', values: q.values.map((v) => factLabelValue(q.fact, v))};
}

function unitTerm(list: ParamList, i: number, identity: Requirement[]): NodeSelectorTerm {
  const p = unitPrefix(i);
  const ex: NodeSelectorRequirement[] = [{key: label(`${p}slots`), operator: 'Gt', values: ['0']}];
  if (list.scheme === 'none') {
    ex.push({key: label(`${p}scheme`), operator: 'In', values: ['identity']}, ...identity.map((q) => requirementExpression(i, q)));
  } else {
    ex.push({key: label(`${p}scheme`), operator: 'In', values: [list.scheme]}, {key: label(`${p}model`), operator: 'In', values: [modelValue(list.model)]});
  }
  if (list.scheme === 'v4') {
    ex.push({key: label(`${p}version`), operator: 'In', values: [versionValue(list.version)]});
  } else if (list.scheme === 'v3') {
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

/**
 * The required node affinity selecting the hosts whose labels say they can take `list`. A
 * source without vendor metadata is judged by `rules`, the rule sets in force (the same the
 * hosts labelled with): their terms come from the rules module, never from here.
 */
export function affinityFor(list: ParamList, maxUnits = DEFAULT_MAX_UNITS, rules: LoadedRuleSet[] = []): AffinityResult {
  let reason: string | undefined;
  let identity: Requirement[] = [];
  let ruleSet: {rule_set: string} | Record<string, never> = {};
  if (list.scheme === 'none') {
    const t = sourceRequirements(list.identity, rules);
    if (t.ok) {
      identity = t.requirements;
      ruleSet = {rule_set: t.set.set.name};
    }
    else if ('unsatisfiable' in t) reason = t.unsatisfiable;
    else throw new InputError(t.not_expressible, 'NOT_EXPRESSIBLE');
  } else reason = unsatisfiable(list);
  if (reason !== undefined) {
    return {satisfiable: false, reason, max_units: maxUnits, nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [NEVER]}}};
  }
  const terms: NodeSelectorTerm[] = [];
  for (let i = 0; i < maxUnits; i++) terms.push(unitTerm(list, i, identity));
  return {satisfiable: true, ...ruleSet, max_units: maxUnits, nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: terms}}};
}
