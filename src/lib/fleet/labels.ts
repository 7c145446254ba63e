/**
 * Node labels (names without the `vfio-mig.dev/` prefix) for one host's units, and the
 * encoding the affinity generator (affinity.ts) tests. docs/fleet.md is the reference.
 *
 *   schema                      encoding version (1)
 *   units                       number of units labelled
 *   type.<id>                   an offered mdev type: its free instances (summed over parents)
 *   model.<model>               a model some type or device offers: `true`
 *   u<i>.slots                  destinations with unit i's facts (free instances + free devices)
 *   u<i>.scheme, u<i>.model     `v3`/`v4`, the model (value-escaped)
 *   u<i>.version                v4: the version string
 *   u<i>.p.<param>.lo/.hi       v3 int: the one allowed interval [lo, hi] for lo >= 0 ...
 *   u<i>.p.<param>.nlo/.nhi     ... and for lo < 0 (negated bounds, see below)
 *   u<i>.p.<param>.v            v3 bool/str: `b.true`, `b.false`, `any.b`, `s.<value>`, `any.s`
 *   u<i>.sole.<digest(host, dev)>  `true`: unit i's only slot is that free device
 *   offer.<name>                identity-judged destinations by short name (mdev type, `nvidia
 *                               <vGPU type>`, `<driver> <vendor>:<device>`): free ones
 *   u<i>.scheme=identity        a destination judged by identity (no vendor metadata); its
 *                               facts as the rule sets publish them (src/lib/rules/terms.ts):
 *   u<i>.rs.<rule set>          the rule set's destination side holds: its content digest
 *   u<i>.id.<field>             a compared identity field's value (value-escaped)
 *   u<i>.id.<field>.b<c>        its first c dot-separated parts (same_branch rules)
 *   u<i>.id.<field>.n           a dotted version as one integer (at_least rules, Gt-able)
 *
 * Label values cannot start with `-`, so an interval is written as non-negative integers:
 * `.lo` = max(lo, 0) and `.hi` = hi when hi >= 0 (absent otherwise); when lo < 0 also
 * `.nlo` = -lo and `.nhi` = max(-hi, 0). Then for v >= 0: v in [lo, hi] <=> .lo <= v <= .hi,
 * and for v < 0: <=> .nlo >= -v and .nhi <= -v.
 */
import type {TermFact} from '../rules/index.js';
import {digest32, escapeText, labelValue, nameSegment} from './names.js';
import type {Alternative, HostFacts, Unit} from './units.js';

export const LABEL_SCHEMA_VERSION = '1';

/** The default bound on units per host, shared by `labels` and `affinity` (one term per unit). */
export const DEFAULT_MAX_UNITS = 64;

/** `u<i>.` */
export function unitPrefix(i: number): string {
  return `u${i}.`;
}

/** The name segment of parameter `name` in unit `i` (room for the longest suffix, `.nhi`). */
export function paramKey(i: number, name: string): string {
  const prefix = unitPrefix(i);
  return `${prefix}${nameSegment(name, 63 - prefix.length - 4)}`;
}

/** The label name marking that unit i's only slot is device `device` of `host`. */
export function soleKey(i: number, host: string, device: string): string {
  return `${unitPrefix(i)}sole.${digest32(`${host}\0${device}`)}`;
}

export function modelValue(model: string): string {
  return labelValue(model);
}

export function versionValue(version: string): string {
  return labelValue(version);
}

/** `.v` of a bool or str parameter. */
export function boolValue(value: boolean | 'any'): string {
  return value === 'any' ? 'any.b' : `b.${value}`;
}

export function strValue(value: string | {any: true}): string {
  return typeof value === 'string' ? labelValue(value, 's.') : 'any.s';
}

/** `type.<id>` or `type-h.<digest>`; `model.<escaped>` or `model-h.<digest>`. */
export function typeKey(id: string): string {
  const seg = nameSegment(id, 63, 'type', 'type-h');
  return /[A-Za-z0-9]$/.test(seg) ? seg : `type-h.${digest32(id)}`;
}

export function modelKey(model: string): string {
  const v = labelValue(model);
  return `model.${v}`.length <= 63 && !v.startsWith('h_z') ? `model.${v}` : `model-h.${digest32(model)}`;
}

function paramLabels(out: Map<string, string>, key: string, alt: Alternative): void {
  if (alt.type === 'none') return;
  if (alt.type === 'bool') out.set(`${key}.v`, boolValue(alt.value));
  else if (alt.type === 'str') out.set(`${key}.v`, strValue(alt.value));
  else {
    out.set(`${key}.lo`, String(Math.max(alt.lo, 0)));
    if (alt.hi >= 0) out.set(`${key}.hi`, String(alt.hi));
    if (alt.lo < 0) {
      out.set(`${key}.nlo`, String(-alt.lo));
      out.set(`${key}.nhi`, String(Math.max(-alt.hi, 0)));
    }
  }
}

/** The label name of an identity fact of unit i. */
export function factLabelKey(i: number, fact: TermFact): string {
  const p = unitPrefix(i);
  switch (fact.kind) {
    case 'set': {
      // Rule-set names may end in `.` or `-`, which a label name may not.
      const seg = nameSegment(fact.set, 63 - p.length, 'rs', 'rsh');
      return /[A-Za-z0-9]$/.test(seg) ? `${p}${seg}` : `${p}rsh.${digest32(fact.set)}`;
    }
    case 'value':
      return `${p}id.${fact.field}`;
    case 'branch':
      return `${p}id.${fact.field}.b${fact.components}`;
    case 'order':
      return `${p}id.${fact.field}.n`;
  }
}

/** The label value of an identity fact: integers and digests as they are, text escaped. */
export function factLabelValue(fact: TermFact, value: string): string {
  return fact.kind === 'value' || fact.kind === 'branch' ? labelValue(value) : value;
}

/** `offer.<escaped name>`, or `offer-h.<digest>` when it does not fit. */
export function offerKey(name: string): string {
  const key = `offer.${escapeText(name)}`;
  return key.length <= 63 && /[A-Za-z0-9]$/.test(key) ? key : `offer-h.${digest32(name)}`;
}

function unitLabels(out: Map<string, string>, host: string, i: number, unit: Unit): void {
  const p = unitPrefix(i);
  const f = unit.facts;
  out.set(`${p}slots`, String(unit.slots));
  out.set(`${p}scheme`, f.scheme);
  if (f.scheme === 'identity') for (const [fact, value] of f.facts) out.set(factLabelKey(i, fact), factLabelValue(fact, value));
  else {
    out.set(`${p}model`, modelValue(f.model));
    if (f.scheme === 'v4') out.set(`${p}version`, versionValue(f.version));
    else for (const [name, alt] of f.params) paramLabels(out, paramKey(i, name), alt);
  }
  if (unit.slots === 1 && unit.devices.length === 1) out.set(soleKey(i, host, unit.devices[0] as string), 'true');
}

export class TooManyUnits extends Error {}

/** Every label of a host, sorted by name. Throws TooManyUnits when there are more than maxUnits. */
export function hostLabels(facts: HostFacts, maxUnits = DEFAULT_MAX_UNITS): Map<string, string> {
  if (facts.units.length > maxUnits) {
    throw new TooManyUnits(`${facts.host} has ${facts.units.length} distinct units, more than --max-units ${maxUnits}`);
  }
  const out = new Map<string, string>();
  out.set('schema', LABEL_SCHEMA_VERSION);
  out.set('units', String(facts.units.length));
  const free = new Map<string, number>();
  const models = new Set<string>();
  for (const t of facts.types) {
    free.set(t.id, (free.get(t.id) ?? 0) + (t.available_instances ?? 0));
    for (const m of t.models) models.add(m);
  }
  const offers = new Map<string, number>();
  for (const u of facts.units) {
    if (u.facts.scheme === 'identity') offers.set(u.facts.name, (offers.get(u.facts.name) ?? 0) + u.slots);
    else models.add(u.facts.model);
  }
  for (const [id, n] of free) out.set(typeKey(id), String(n));
  for (const [name, n] of offers) out.set(offerKey(name), String(n));
  for (const m of models) out.set(modelKey(m), 'true');
  facts.units.forEach((unit, i) => unitLabels(out, facts.host, i, unit));
  return new Map([...out.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
}
