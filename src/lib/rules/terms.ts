/**
 * The rule sets as scheduler terms: what a destination identity publishes (facts) and what a
 * source identity requires of them, so that a scheduler matching the requirements against the
 * facts reaches exactly checkIdentity's verdict (test/rules/terms.test.ts pins it). The fleet
 * code turns facts into node labels or traits and requirements into node-affinity
 * expressions; it never reads a rule itself.
 *
 * Facts of one destination identity, for the rule sets in force:
 *   set     a rule set whose destination side holds (applies_to, may_differ limits):
 *           its content digest (so hosts with another version of the set do not match)
 *   value   each field some rule or exclusion compares: the value as sysfs shows it
 *   branch  per same_branch rule: the value's first `components` parts
 *   order   per at_least rule: the dotted version as one non-negative integer (versionOrdinal)
 * Requirements: `in` (the fact is one of the values), `not_in` (absent or none of them),
 * `absent`, `at_least` (the integer fact is at least the value).
 */
import {createHash} from 'node:crypto';

import type {DeviceIdentity, IdentityField} from '../model/types.js';
import {appliesTo} from './index.js';
import {branchOf, compareVersions, type LoadedRuleSet, parseVersion, type RuleSet} from './ruleset.js';

export type TermFact =
  | {kind: 'set'; set: string}
  | {kind: 'value'; field: IdentityField}
  | {kind: 'branch'; field: IdentityField; components: number}
  | {kind: 'order'; field: IdentityField};

export type Requirement =
  | {fact: TermFact; op: 'in' | 'not_in'; values: string[]}
  | {fact: TermFact; op: 'absent'}
  /** The fact, a decimal integer, is at least `value` (a decimal integer). */
  | {fact: TermFact; op: 'at_least'; value: string};

/** A stable key for a fact (maps and tests). */
export function factKey(f: TermFact): string {
  switch (f.kind) {
    case 'set':
      return `set:${f.set}`;
    case 'value':
      return `value:${f.field}`;
    case 'branch':
      return `branch${f.components}:${f.field}`;
    case 'order':
      return `order:${f.field}`;
  }
}

/** A rule set's content digest: 16 base-16 characters of the SHA-256 of its canonical JSON. */
export function ruleSetDigest(set: RuleSet): string {
  return createHash('sha256').update(canonical(set)).digest('hex').slice(0, 16);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Components an ordinal keeps, and the bound each is clamped to. */
const ORDINAL_COMPONENTS = 3;
const ORDINAL_CAP = 1_000_000n;
const ORDINAL_BASE = ORDINAL_CAP + 1n;

/**
 * A dotted version as one integer (fits Kubernetes' int64 Gt/Lt): its first 3 components,
 * each clamped to 10^6, in base 10^6+1. For a source version with at most 3 components
 * (further ones 0) each below 10^6, and any dotted destination version:
 * compareVersions(dest, source) >= 0 <=> versionOrdinal(dest) >= versionOrdinal(source)
 * (clamping keeps "bigger" bigger; a destination's 4th+ components only add to an equal
 * prefix). Undefined when not a dotted version.
 */
export function versionOrdinal(version: string): bigint | undefined {
  const parts = parseVersion(version);
  if (parts === undefined) return undefined;
  let n = 0n;
  for (let i = 0; i < ORDINAL_COMPONENTS; i++) {
    const c = BigInt(parts[i] ?? 0);
    n = n * ORDINAL_BASE + (c > ORDINAL_CAP ? ORDINAL_CAP : c);
  }
  return n;
}

/** Whether a source version's ordinal is exact (see versionOrdinal). */
export function ordinalIsExact(version: string): boolean {
  const parts = parseVersion(version);
  if (parts === undefined) return false;
  return parts.every((c, i) => (i < ORDINAL_COMPONENTS ? BigInt(c) < ORDINAL_CAP : c === 0));
}

/** Whether the destination side of `set` holds for `identity`: applies_to and may_differ limits. */
function destinationSideHolds(set: RuleSet, identity: DeviceIdentity): boolean {
  return appliesTo(set, identity) && limitProblem(set, identity) === undefined;
}

/** A may_differ limit `identity` breaks (either side of a migration), or undefined. */
export function limitProblem(set: RuleSet, identity: DeviceIdentity): string | undefined {
  for (const r of set.rules) {
    const v = identity[r.field];
    if (r.must !== 'may_differ' || v === undefined) continue;
    if (r.values && !r.values.includes(v)) return `${r.field}: ${v} is not one of ${r.values.join(', ')} (rule set ${set.name})`;
    if ((r.min !== undefined && compareVersions(v, r.min) < 0) || (r.max !== undefined && compareVersions(v, r.max) > 0)) {
      return `${r.field}: ${v} is outside ${r.min ?? ''}..${r.max ?? ''} (rule set ${set.name})`;
    }
  }
  return undefined;
}

/** The fields a rule set compares between source and destination (rules other than may_differ, exclusions). */
function comparedFields(set: RuleSet): IdentityField[] {
  return [...set.rules.filter((r) => r.must !== 'may_differ').map((r) => r.field), ...(set.exclude ?? []).map((e) => e.field)];
}

/** Every fact a destination with `identity` publishes under the rule sets in force, sorted by key. */
export function destinationFacts(identity: DeviceIdentity, sets: LoadedRuleSet[]): [TermFact, string][] {
  const out = new Map<string, [TermFact, string]>();
  const put = (f: TermFact, v: string) => out.set(factKey(f), [f, v]);
  for (const {set} of sets) {
    if (destinationSideHolds(set, identity)) put({kind: 'set', set: set.name}, ruleSetDigest(set));
    for (const field of comparedFields(set)) {
      const v = identity[field];
      if (v !== undefined) put({kind: 'value', field}, v);
    }
    for (const r of set.rules) {
      const v = identity[r.field];
      if (v === undefined) continue;
      if (r.must === 'same_branch') put({kind: 'branch', field: r.field, components: r.components ?? 1}, branchOf(v, r.components));
      if (r.must === 'at_least') {
        const n = versionOrdinal(v);
        if (n !== undefined) put({kind: 'order', field: r.field}, n.toString());
      }
    }
  }
  return [...out.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, fv]) => fv);
}

export type SourceTerms =
  | {ok: true; set: LoadedRuleSet; requirements: Requirement[]}
  /** No destination can take the source (no rule set, or the source breaks a limit). */
  | {ok: false; unsatisfiable: string}
  /** The rules can decide, but not as label terms (an at_least version too wide for an integer). */
  | {ok: false; not_expressible: string};

/**
 * What a source with `identity` requires of a destination's facts: exactly the destinations
 * checkIdentity accepts under the rule set that governs the source (ruleSetFor).
 */
export function sourceRequirements(identity: DeviceIdentity, sets: LoadedRuleSet[]): SourceTerms {
  const loaded = sets.find((s) => appliesTo(s.set, identity));
  if (loaded === undefined) return {ok: false, unsatisfiable: 'no rule set applies to the source'};
  const set = loaded.set;
  const problem = limitProblem(set, identity);
  if (problem !== undefined) return {ok: false, unsatisfiable: `the source's ${problem}`};
  const req: Requirement[] = [{fact: {kind: 'set', set: set.name}, op: 'in', values: [ruleSetDigest(set)]}];
  for (const r of set.rules) {
    const v = identity[r.field];
    const value: TermFact = {kind: 'value', field: r.field};
    if (r.must === 'may_differ') continue;
    // Absent on the source: equal, same_branch and at_least all ask it absent on the destination.
    if (v === undefined) {
      req.push({fact: value, op: 'absent'});
      continue;
    }
    if (r.must === 'equal') req.push({fact: value, op: 'in', values: [v]});
    else if (r.must === 'same_branch') {
      const mine = branchOf(v, r.components);
      const ok = new Set([mine, ...(r.compatible ?? []).filter((g) => g.includes(mine)).flat()]);
      req.push({fact: {kind: 'branch', field: r.field, components: r.components ?? 1}, op: 'in', values: [...ok].sort()});
    } else if (parseVersion(v) === undefined) {
      // at_least orders dotted versions only; anything else must be equal (checkIdentity).
      req.push({fact: value, op: 'in', values: [v]});
    } else if (ordinalIsExact(v)) {
      req.push({fact: {kind: 'order', field: r.field}, op: 'at_least', value: (versionOrdinal(v) as bigint).toString()});
    } else {
      return {
        ok: false,
        not_expressible: `${r.field}: the source's ${v} has more than ${ORDINAL_COMPONENTS} components or one of ${ORDINAL_CAP} or more; rule set ${set.name}'s at_least cannot be a label integer (use select or compat)`,
      };
    }
  }
  for (const e of set.exclude ?? []) {
    const a = identity[e.field];
    if (a === undefined) continue;
    const others = e.pairs.flatMap(([x, y]) => (x === a ? [y] : y === a ? [x] : []));
    if (others.length > 0) req.push({fact: {kind: 'value', field: e.field}, op: 'not_in', values: [...new Set(others)].sort()});
  }
  return {ok: true, set: loaded, requirements: req};
}
