/**
 * Nova Placement traits for the facts a trait can carry, and the flavor extra specs that
 * require them. A trait is a flat yes/no per compute node: it can say "some destination here
 * offers model M" (v3), "model M version V" (v4) and "some destination of model M accepts
 * bool parameter P = true/false". It cannot say integer ranges, string values (a type that
 * accepts any string cannot list them), that all facts hold on the SAME type, or that a free
 * destination is left: those stay with `vfio-mig compat` at pre-migration. Required traits
 * are therefore necessary, not sufficient: every host `select` accepts has them.
 *
 * Sources without vendor metadata: a trait per equality fact of a destination's identity (a
 * compared field's value, a version branch, that a rule set's destination side holds at this
 * content digest), as src/lib/rules/terms.ts publishes them. A source requires the traits of
 * its `in` requirements with one value. Traits cannot express at_least (a version range), a
 * field that must be absent, excluded pairs, or one of several declared-compatible branches:
 * compat decides those at pre-migration.
 */
import type {ParamList} from '../model/types.js';
import {factKey, type LoadedRuleSet, sourceRequirements, type TermFact} from '../rules/index.js';
import {TRAIT_NAME, traitToken} from './names.js';
import type {HostFacts} from './units.js';

export const DEFAULT_PROVIDER_CONFIG = '/etc/nova/provider_config/vfio-mig.yaml';

export function modelTrait(model: string): string {
  return `CUSTOM_VFIOMIG_MODEL_${traitToken(model)}`;
}

export function versionTrait(model: string, version: string): string {
  return `CUSTOM_VFIOMIG_V4_${traitToken(`${model}\0${version}`)}`;
}

/** The trait of an identity fact with a value (order facts have none: ranges are not traits). */
export function identityTrait(fact: TermFact, value: string): string {
  return `CUSTOM_VFIOMIG_ID_${traitToken(`${factKey(fact)}=${value}`)}`;
}

export function boolTrait(model: string, param: string, value: boolean): string {
  return `CUSTOM_VFIOMIG_BOOL_${traitToken(`${model}\0${param}`, 30)}_${value ? 'TRUE' : 'FALSE'}`;
}

/** The traits of a host: only units with a free destination count. Sorted. */
export function hostTraits(facts: HostFacts): string[] {
  const traits = new Set<string>();
  for (const unit of facts.units) {
    const f = unit.facts;
    if (f.scheme === 'v4') {
      traits.add(versionTrait(f.model, f.version));
      continue;
    }
    if (f.scheme === 'identity') {
      for (const [fact, value] of f.facts) if (fact.kind !== 'order') traits.add(identityTrait(fact, value));
      continue;
    }
    traits.add(modelTrait(f.model));
    for (const [name, alt] of f.params) {
      if (alt.type !== 'bool') continue;
      if (alt.value !== false) traits.add(boolTrait(f.model, name, true));
      if (alt.value !== true) traits.add(boolTrait(f.model, name, false));
    }
  }
  const sorted = [...traits].sort();
  for (const t of sorted) if (!TRAIT_NAME.test(t)) throw new Error(`internal: bad trait ${t}`);
  return sorted;
}

export interface ProviderConfig {
  meta: {schema_version: '1.0'};
  providers: {identification: {uuid: string} | {name: string}; traits: {additional: string[]}}[];
}

/** The provider config: this compute node (`$COMPUTE_NODE`) or a provider by name. */
export function providerConfig(traits: string[], provider?: {name: string}): ProviderConfig {
  return {
    meta: {schema_version: '1.0'},
    providers: [{identification: provider === undefined ? {uuid: '$COMPUTE_NODE'} : {name: provider.name}, traits: {additional: traits}}],
  };
}

export interface ExtraSpecs {
  /** `trait:CUSTOM_X` -> `required`. */
  extra_specs: Record<string, 'required'>;
  /** What the traits do not check, left to `vfio-mig compat` at pre-migration. */
  not_expressed: string[];
}

function describeFact(fact: TermFact): string {
  return fact.kind === 'set' ? `rule set ${fact.set}` : fact.kind === 'branch' ? `${fact.field} branch (${fact.components} part${fact.components === 1 ? '' : 's'})` : fact.field;
}

/**
 * The flavor extra specs a source needs, and what traits leave to compat. A source without
 * vendor metadata needs `rules`, the rule sets in force.
 */
export function extraSpecsFor(list: ParamList, rules: LoadedRuleSet[] = []): ExtraSpecs {
  const required: string[] = [];
  const notExpressed: string[] = [];
  if (list.scheme === 'v4') required.push(versionTrait(list.model, list.version));
  else if (list.scheme === 'none') {
    const t = sourceRequirements(list.identity, rules);
    if (!t.ok) notExpressed.push(`${'unsatisfiable' in t ? t.unsatisfiable : t.not_expressible}: compat refuses or decides every destination`);
    for (const q of t.ok ? t.requirements : []) {
      if (q.op === 'in' && q.values.length === 1) required.push(identityTrait(q.fact, q.values[0] as string));
      else if (q.op === 'in') notExpressed.push(`${describeFact(q.fact)}: one of ${q.values.join(', ')} (declared compatible)`);
      else if (q.op === 'not_in') notExpressed.push(`${describeFact(q.fact)}: none of ${q.values.join(', ')} (excluded pairs)`);
      else if (q.op === 'absent') notExpressed.push(`${describeFact(q.fact)}: absent on the destination, as on the source`);
      else notExpressed.push(`${describeFact(q.fact)}: at least the source's version (a range)`);
    }
  } else {
    required.push(modelTrait(list.model));
    for (const name of Object.keys(list.params).sort()) {
      const v = list.params[name];
      if (typeof v === 'boolean') required.push(boolTrait(list.model, name, v));
      else if (typeof v === 'number') notExpressed.push(`${name}=${v}: integer ranges (allowed_values intervals)`);
      else notExpressed.push(`${name}=${JSON.stringify(v)}: string values`);
    }
  }
  notExpressed.push('that all these facts hold on one and the same type or device');
  notExpressed.push('that a free instance or free, unused device of that type is left (not the source itself)');
  return {extra_specs: Object.fromEntries(required.map((t) => [`trait:${t}`, 'required' as const])), not_expressed: notExpressed};
}
