/**
 * Rule sets: for driver families that publish no migration metadata (every kernel driver
 * today), which identity fields must be equal and which may differ. Data, not code: YAML
 * files shipped in the package's `rules/` and added or overridden by users
 * (`<root>/etc/vfio-mig/rules.d/*.yaml`, `--rules DIR|FILE`). A bad file is an input error
 * naming the file, the JSON pointer and its line.
 */
import {readdir, stat} from 'node:fs/promises';
import path from 'node:path';

import {packageRoot} from '../engine/locate.js';
import {InputError} from '../errors.js';
import {readInputText} from '../format/input.js';
import type {IdentityField} from '../model/types.js';
import {ruleSet as ruleSetSchema} from '../schema/generated/rule-set.js';
import {type Problem, schemaProblems} from '../schema/index.js';
import {layout} from '../sysfs/layout.js';
import type {SysfsRoot} from '../sysfs/root.js';

export type RuleMust = 'equal' | 'same_branch' | 'at_least' | 'may_differ';

export interface Rule {
  field: IdentityField;
  must: RuleMust;
  components?: number;
  compatible?: string[][];
  values?: string[];
  min?: string;
  max?: string;
  why?: string;
}

export interface Exclusion {
  field: IdentityField;
  pairs: [string, string][];
  why: string;
}

export interface RuleSet {
  apiVersion: 'vfio-mig/v1';
  kind: 'RuleSet';
  name: string;
  description?: string;
  applies_to: Partial<Record<IdentityField, string[]>>;
  rules: Rule[];
  exclude?: Exclusion[];
}

/** A rule set and where it came from. */
export interface LoadedRuleSet {
  set: RuleSet;
  /** The file it was read from. */
  file: string;
  origin: 'shipped' | 'user';
}

/** The name of the shipped rule set that applies to any device no other set claims. */
export const DEFAULT_RULE_SET = 'default';
export const USER_RULES_DIR = layout.userRulesDir;
const MAX_RULE_FILE_BYTES = 1024 * 1024;

/** Integers written in YAML (`branches: [535, 550]`) are read as the strings they stand for. */
function stringify(set: RuleSet): RuleSet {
  const s = (v: unknown) => String(v);
  const applies: Partial<Record<IdentityField, string[]>> = {};
  for (const [k, vs] of Object.entries(set.applies_to)) applies[k as IdentityField] = (vs as unknown[]).map(s);
  return {
    ...set,
    applies_to: applies,
    rules: set.rules.map((r) => ({
      ...r,
      ...(r.compatible ? {compatible: r.compatible.map((g) => g.map(s))} : {}),
      ...(r.values ? {values: r.values.map(s)} : {}),
      ...(r.min === undefined ? {} : {min: s(r.min)}),
      ...(r.max === undefined ? {} : {max: s(r.max)}),
    })),
    ...(set.exclude ? {exclude: set.exclude.map((e) => ({...e, pairs: e.pairs.map(([a, b]) => [s(a), s(b)] as [string, string])}))} : {}),
  };
}

/** The rules a schema cannot say. */
function semanticRuleProblems(set: RuleSet): Problem[] {
  const problems: Problem[] = [];
  set.rules.forEach((r, i) => {
    if (r.must === 'may_differ' && r.values !== undefined && (r.min !== undefined || r.max !== undefined)) {
      problems.push({pointer: `/rules/${i}`, message: 'give either values or min/max, not both'});
    }
    for (const key of ['min', 'max'] as const) {
      const v = r[key];
      if (v !== undefined && parseVersion(v) === undefined) problems.push({pointer: `/rules/${i}/${key}`, message: `"${v}" is not a dotted version (digits and dots)`});
    }
    if (r.min !== undefined && r.max !== undefined && compareVersions(r.min, r.max) > 0) {
      problems.push({pointer: `/rules/${i}`, message: `min ${r.min} is above max ${r.max}`});
    }
  });
  const seen = new Set<string>();
  set.rules.forEach((r, i) => {
    if (seen.has(r.field)) problems.push({pointer: `/rules/${i}/field`, message: `${r.field} has a rule already`});
    seen.add(r.field);
  });
  return problems;
}

/** Parse and check one rule-set text; problems carry a pointer and, for YAML, a line. */
export async function parseRuleSetText(text: string): Promise<{set?: RuleSet; problems: Problem[]}> {
  const {parseDocument, LineCounter} = await import('yaml');
  const lines = new LineCounter();
  const doc = parseDocument(text, {uniqueKeys: true, strict: true, prettyErrors: true, lineCounter: lines, version: '1.1'});
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const at = e.linePos?.[0];
    // The position is in the pointer; yaml repeats it in its message (" at line 8, column 5:").
    const reason = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    return {problems: [{pointer: at ? `line ${at.line}` : '', message: `not valid YAML: ${reason}`}]};
  }
  const data: unknown = doc.toJS();
  let problems = schemaProblems(ruleSetSchema, data);
  if (problems.length === 0) problems = semanticRuleProblems(data as RuleSet);
  if (problems.length > 0) {
    const lineOf = (pointer: string): number | undefined => {
      const keys = pointer.split('/').slice(1).map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
      for (let n = keys.length; n >= 0; n--) {
        const node = doc.getIn(keys.slice(0, n).map((k) => (/^\d+$/.test(k) ? Number(k) : k)), true) as {range?: [number, number, number]} | undefined;
        if (node?.range) return lines.linePos(node.range[0]).line;
      }
      return undefined;
    };
    return {problems: problems.map((p) => {
      const line = lineOf(p.pointer);
      return line === undefined ? p : {pointer: `${p.pointer || '/'} (line ${line})`, message: p.message};
    })};
  }
  return {set: stringify(data as RuleSet), problems: []};
}

/** One line for a bad rule-set file, as for bad vendor metadata: file, pointer (line), reason. */
export function ruleSetError(file: string, problems: Problem[]): InputError {
  const first = problems[0]!;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
  return new InputError(`${file}: not a valid rule set: ${first.pointer ? `${first.pointer}: ` : ''}${first.message}${more}`, 'BAD_RULE_SET', {problems});
}

export async function readRuleSetFile(file: string, origin: LoadedRuleSet['origin']): Promise<LoadedRuleSet> {
  const text = await readInputText(file, MAX_RULE_FILE_BYTES, 'rule set');
  const {set, problems} = await parseRuleSetText(text);
  if (!set) throw ruleSetError(file, problems);
  return {set, file, origin};
}

/** The rule-set files of a directory (`*.yaml`, `*.yml`, `*.json`; dot-files skipped), in name order. */
async function filesOf(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw new InputError(`${dir}: cannot read the rule-set directory: ${error.code ?? error.message}`, error.code ?? 'EIO');
  });
  return names.filter((n) => !n.startsWith('.') && /\.(ya?ml|json)$/.test(n)).sort().map((n) => path.join(dir, n));
}

export function shippedRulesDir(): string {
  return path.join(packageRoot(), 'rules');
}

export interface RuleSetSources {
  /** `--rules`: files or directories, read before the configuration directory. */
  extra?: string[];
  /** The root whose `etc/vfio-mig/rules.d/` holds the host's own rule sets. */
  sysfs?: SysfsRoot;
  /** Skip the package's own rule sets (tests). */
  noShipped?: boolean;
}

/**
 * The rule sets in force, in the order they are consulted: `--rules` first, then the
 * configuration directory, then the shipped ones (a user set named like a shipped one
 * replaces it); within each, sets with an `applies_to` before catch-all ones.
 */
export async function loadRuleSets(sources: RuleSetSources = {}): Promise<LoadedRuleSet[]> {
  const user: LoadedRuleSet[] = [];
  for (const entry of sources.extra ?? []) {
    const st = await stat(entry).catch(() => undefined);
    if (st === undefined) throw new InputError(`${entry}: no such rule-set file or directory`, 'ENOENT');
    const files = st.isDirectory() ? await filesOf(entry) : [entry];
    for (const f of files) user.push(await readRuleSetFile(f, 'user'));
  }
  if (sources.sysfs) for (const f of await filesOf(sources.sysfs.pathOf(USER_RULES_DIR))) user.push(await readRuleSetFile(f, 'user'));
  const seen = new Map<string, string>();
  for (const u of user) {
    const before = seen.get(u.set.name);
    if (before !== undefined) throw new InputError(`${u.file}: rule set ${u.set.name} is also defined by ${before}`, 'DUPLICATE_RULE_SET');
    seen.set(u.set.name, u.file);
  }
  const shipped = sources.noShipped ? [] : await loadShipped();
  const all = [...user, ...shipped.filter((s) => !seen.has(s.set.name))];
  const catchAll = (s: LoadedRuleSet) => (Object.keys(s.set.applies_to).length === 0 ? 1 : 0);
  // Stable: user before shipped, then by file order.
  return [...all.filter((s) => s.origin === 'user'), ...all.filter((s) => s.origin === 'shipped')]
    .map((s, i) => ({s, i}))
    .sort((a, b) => catchAll(a.s) - catchAll(b.s) || a.i - b.i)
    .map(({s}) => s);
}

let shippedCache: Promise<LoadedRuleSet[]> | undefined;

async function loadShipped(): Promise<LoadedRuleSet[]> {
  shippedCache ??= (async () => Promise.all((await filesOf(shippedRulesDir())).map((f) => readRuleSetFile(f, 'shipped'))))();
  return shippedCache;
}

// ---------------------------------------------------------------------------------------
// Versions

/** `550.54.14` -> [550, 54, 14]; undefined when not digits and dots. */
export function parseVersion(text: string): number[] | undefined {
  if (!/^\d{1,9}(\.\d{1,9}){0,7}$/.test(text)) return undefined;
  return text.split('.').map(Number);
}

/** Dotted numeric order (missing components count as 0); non-numeric versions compare as strings. */
export function compareVersions(a: string, b: string): number {
  const x = parseVersion(a);
  const y = parseVersion(b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** The branch of a version: its first `components` dot-separated parts (`550.54.14` -> `550`). */
export function branchOf(version: string, components = 1): string {
  return version.split('.').slice(0, components).join('.');
}

/**
 * The rule sets a command needs for `list`: loaded when the list has no vendor metadata, or
 * when the user named some (a bad file is reported even if vendor metadata decides).
 */
export async function ruleSetsFor(list: {scheme: string}, sources: RuleSetSources): Promise<LoadedRuleSet[] | undefined> {
  if (list.scheme !== 'none' && (sources.extra ?? []).length === 0) return undefined;
  return loadRuleSets(sources);
}
