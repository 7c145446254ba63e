/**
 * Identity rules: whether a destination may take a source that has no vendor metadata,
 * decided by the rule set that governs the source's identity. Every verdict names its basis.
 */
import type {DeviceIdentity, IdentityField} from '../model/types.js';
import {branchOf, compareVersions, DEFAULT_RULE_SET, parseVersion, type LoadedRuleSet, type Rule, type RuleSet} from './ruleset.js';

/** What decided a verdict. The probe adds its own kind (the destination driver's answer). */
export interface Basis {
  kind: 'vendor_metadata' | 'rule_set' | 'default_rule';
  /** The rule set's name (rule_set, default_rule). */
  rule_set?: string;
  /** The file the rule set was read from. */
  file?: string;
}

export type IdentityReasonCode =
  | 'IDENTITY_MISMATCH'
  | 'BRANCH_MISMATCH'
  | 'VERSION_OLDER'
  | 'VALUE_NOT_ALLOWED'
  | 'EXCLUDED_PAIR'
  | 'OUTSIDE_RULE_SET'
  | 'IDENTITY_UNKNOWN'
  | 'NO_RULE_SET';

export interface IdentityReason {
  code: IdentityReasonCode;
  message: string;
  field?: IdentityField;
  source_value?: string | null;
  dest_value?: string | null;
  rule_set?: string;
}

export function basisOf(loaded: LoadedRuleSet): Basis {
  return {kind: loaded.set.name === DEFAULT_RULE_SET ? 'default_rule' : 'rule_set', rule_set: loaded.set.name, file: loaded.file};
}

/** `vendor metadata`, `rule set nvidia-vgpu`, `default rule`. */
export function describeBasis(basis: Basis): string {
  if (basis.kind === 'vendor_metadata') return 'vendor metadata';
  if (basis.kind === 'default_rule') return `default rule (rule set ${basis.rule_set ?? DEFAULT_RULE_SET})`;
  return `rule set ${basis.rule_set ?? '?'}`;
}

function fieldOf(identity: DeviceIdentity, field: IdentityField): string | undefined {
  return identity[field];
}

/** Whether an identity is in a rule set's `applies_to` (every listed field has one of its values). */
export function appliesTo(set: RuleSet, identity: DeviceIdentity): boolean {
  for (const [field, values] of Object.entries(set.applies_to)) {
    const v = fieldOf(identity, field as IdentityField);
    if (v === undefined || !(values as string[]).includes(v)) return false;
  }
  return true;
}

/** The rule set that governs a source: the first in force (see loadRuleSets) that applies. */
export function ruleSetFor(identity: DeviceIdentity, sets: LoadedRuleSet[]): LoadedRuleSet | undefined {
  return sets.find((s) => appliesTo(s.set, identity));
}

const show = (v: string | undefined) => (v === undefined ? '(none)' : v);

function ruleReason(rule: Rule, src: string | undefined, dst: string | undefined, name: string): IdentityReason | undefined {
  const base = {field: rule.field, source_value: src ?? null, dest_value: dst ?? null, rule_set: name};
  const why = rule.why ? ` (${rule.why})` : '';
  switch (rule.must) {
    case 'equal':
      if (src === dst) return undefined;
      return {code: 'IDENTITY_MISMATCH', message: `${rule.field}: the source has ${show(src)}, the destination ${show(dst)}; must be equal${why}`, ...base};
    case 'same_branch': {
      if (src === undefined || dst === undefined) {
        if (src === dst) return undefined;
        return {code: 'IDENTITY_MISMATCH', message: `${rule.field}: the source has ${show(src)}, the destination ${show(dst)}; the branch must match${why}`, ...base};
      }
      const a = branchOf(src, rule.components);
      const b = branchOf(dst, rule.components);
      if (a === b || (rule.compatible ?? []).some((g) => g.includes(a) && g.includes(b))) return undefined;
      return {code: 'BRANCH_MISMATCH', message: `${rule.field}: branch ${a} (${src}) on the source, ${b} (${dst}) on the destination; not declared compatible${why}`, ...base};
    }
    case 'at_least':
      // Only dotted versions are ordered: a module's srcversion (a hash) is not newer or older, only equal.
      if (src !== undefined && dst !== undefined && (src === dst || (parseVersion(src) !== undefined && parseVersion(dst) !== undefined && compareVersions(dst, src) >= 0))) {
        return undefined;
      }
      if (src === undefined && dst === undefined) return undefined;
      return {code: 'VERSION_OLDER', message: `${rule.field}: the destination has ${show(dst)}, older than the source's ${show(src)}${why}`, ...base};
    case 'may_differ': {
      for (const [side, v] of [['source', src], ['destination', dst]] as const) {
        if (v === undefined) continue;
        if (rule.values && !rule.values.includes(v)) {
          return {code: 'VALUE_NOT_ALLOWED', message: `${rule.field}: the ${side}'s ${v} is not one of ${rule.values.join(', ')}${why}`, ...base};
        }
        if ((rule.min !== undefined && compareVersions(v, rule.min) < 0) || (rule.max !== undefined && compareVersions(v, rule.max) > 0)) {
          return {code: 'VALUE_NOT_ALLOWED', message: `${rule.field}: the ${side}'s ${v} is outside ${rule.min ?? ''}..${rule.max ?? ''}${why}`, ...base};
        }
      }
      return undefined;
    }
  }
}

/**
 * Every reason the destination identity may not take the source under `loaded` (empty: it
 * may). The destination must be in the rule set's family too.
 */
export function checkIdentity(source: DeviceIdentity, dest: DeviceIdentity | undefined, loaded: LoadedRuleSet): IdentityReason[] {
  const set = loaded.set;
  if (dest === undefined) {
    return [{code: 'IDENTITY_UNKNOWN', message: 'the destination has no recorded identity (an inventory of format v1: take it again)', rule_set: set.name}];
  }
  const reasons: IdentityReason[] = [];
  if (!appliesTo(set, dest)) {
    const off = Object.keys(set.applies_to).filter((f) => !(set.applies_to[f as IdentityField] as string[]).includes(fieldOf(dest, f as IdentityField) ?? '\0'));
    reasons.push({
      code: 'OUTSIDE_RULE_SET',
      message: `the destination is not a ${set.name} device (${off.map((f) => `${f} ${show(fieldOf(dest, f as IdentityField))}`).join(', ')})`,
      rule_set: set.name,
    });
  }
  for (const rule of set.rules) {
    const r = ruleReason(rule, fieldOf(source, rule.field), fieldOf(dest, rule.field), set.name);
    if (r) reasons.push(r);
  }
  for (const ex of set.exclude ?? []) {
    const a = fieldOf(source, ex.field);
    const b = fieldOf(dest, ex.field);
    if (a === undefined || b === undefined) continue;
    if (ex.pairs.some(([x, y]) => (x === a && y === b) || (x === b && y === a))) {
      reasons.push({code: 'EXCLUDED_PAIR', message: `${ex.field}: ${a} -> ${b} is excluded: ${ex.why}`, field: ex.field, source_value: a, dest_value: b, rule_set: set.name});
    }
  }
  return reasons;
}

/** A short name for a device without a model: its mdev type, vGPU type, or driver and PCI ids. */
export function identityLabel(identity: DeviceIdentity): string {
  if (identity.mdev_type !== undefined) return identity.mdev_type;
  if (identity.vgpu_type_name !== undefined) return `${identity.driver ?? 'nvidia'} ${identity.vgpu_type_name}`;
  const ids = identity.pci_vendor && identity.pci_device ? ` ${identity.pci_vendor.replace(/^0x/, '')}:${identity.pci_device.replace(/^0x/, '')}` : '';
  return `${identity.driver ?? identity.bus}${ids}`;
}

/** A one-line identity for people: the fields that are set. */
export function describeIdentity(identity: DeviceIdentity): string {
  const parts: string[] = [identity.bus];
  for (const [k, v] of Object.entries(identity)) if (k !== 'bus' && k !== 'driver_version_from' && v !== undefined) parts.push(`${k}=${v}`);
  return parts.join(' ');
}

export * from './ruleset.js';
export * from './identity.js';
export * from './terms.js';
