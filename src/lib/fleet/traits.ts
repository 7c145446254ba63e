/**
 * Nova Placement traits for the facts a trait can carry, and the flavor extra specs that
 * require them. A trait is a flat yes/no per compute node: it can say "some destination here
 * offers model M" (v3), "model M version V" (v4) and "some destination of model M accepts
 * bool parameter P = true/false". It cannot say integer ranges, string values (a type that
 * accepts any string cannot list them), that all facts hold on the SAME type, or that a free
 * destination is left: those stay with `vfio-mig compat` at pre-migration. Required traits
 * are therefore necessary, not sufficient: every host `select` accepts has them.
 */
import type {MetadataParamList as ParamList} from '../model/types.js';
import {TRAIT_NAME, traitToken} from './names.js';
import type {HostFacts} from './units.js';

export const DEFAULT_PROVIDER_CONFIG = '/etc/nova/provider_config/vfio-mig.yaml';

export function modelTrait(model: string): string {
  return `CUSTOM_VFIOMIG_MODEL_${traitToken(model)}`;
}

export function versionTrait(model: string, version: string): string {
  return `CUSTOM_VFIOMIG_V4_${traitToken(`${model}\0${version}`)}`;
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

/** The flavor extra specs a source needs, and what traits leave to compat. */
export function extraSpecsFor(list: ParamList): ExtraSpecs {
  const required: string[] = [];
  const notExpressed: string[] = [];
  if (list.scheme === 'v4') required.push(versionTrait(list.model, list.version));
  else {
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
