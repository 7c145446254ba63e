/**
 * Which destination should take a source: every (host, type, free device or a new one) that
 * can, ranked. Keys, in order:
 *   1. an existing free device that needs no writes at all;
 *   2. fewest parameter writes (each write may fail or disturb pooled resources);
 *   3. most final values equal to the type's init_value (closest to the vendor's defaults);
 *   4. most available instances of the type (keeps scarce types for those that need them);
 *   then an existing device before creating one, then host, parent, type and device names
 *   (a host's PCI variant-driver devices after its mdev types).
 * Each candidate says why it is where it is (the first key that separates it from the one
 * above). The hot loop only counts (no allocation per parameter); the planned writes, reasons
 * and warnings are built for the candidates returned, so 10,000 types of 32 parameters rank
 * in tens of milliseconds.
 */
import {
  type CompatOptions,
  deviceIdOf,
  deviceReasons,
  keptValueWarnings,
  type Reason,
  type SourceRef,
  sourceRef,
  typeVerdict,
} from '../compat/index.js';
import type {Inventory, MdevType, ParamList, TypeMigration, VfioDevice} from '../model/types.js';
import {countPlan, type PlanCounts, type PlannedWrite, plannedWrites} from '../prepare/plan.js';
import {type Basis, describeBasis} from '../rules/index.js';

export type {PlannedWrite} from '../prepare/plan.js';

export interface Candidate {
  rank: number;
  /** What found it compatible: vendor metadata, a rule set, or the default rule. */
  basis: Basis;
  host: string;
  type_id: string | null;
  parent: string | null;
  /** An existing free device to prepare, or null: create a new device of the type. */
  device: string | null;
  writes: number;
  init_matches: number;
  params: number;
  available_instances: number | null;
  planned_writes: PlannedWrite[];
  /** Why this rank: the first key that separates it from the candidate above. */
  reason: string;
  warnings: Reason[];
}

export interface Rejected {
  host: string;
  type_id: string | null;
  parent: string | null;
  device: string | null;
  basis: Basis;
  reasons: Reason[];
}

export interface SelectResult {
  source: SourceRef;
  /** What was looked at, and how many candidates were found (before `limit`). */
  considered: {hosts: number; types: number; devices: number; candidates: number};
  candidates: Candidate[];
  rejected?: Rejected[];
}

export interface SelectOptions extends CompatOptions {
  /** Also return every rejected (host, type, device) with its reasons. */
  includeRejected?: boolean;
  /** Keep only the best `limit` candidates (all by default). */
  limit?: number;
}

/** A candidate while ranking: counts only; the rest is built for those returned. */
interface Scored {
  host: string;
  type: MdevType | null;
  meta: TypeMigration | null;
  basis: Basis;
  dev: VfioDevice | null;
  type_id: string | null;
  parent: string | null;
  device: string | null;
  writes: number;
  init_matches: number;
  params: number;
  available_instances: number | null;
  /** Position in name order: host, parent, type id, device (PCI devices after a host's types). */
  seq: number;
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Numbers only: names are already in `seq` (candidates are generated in name order). */
function compare(a: Scored, b: Scored): number {
  const az = a.device !== null && a.writes === 0 ? 0 : 1;
  const bz = b.device !== null && b.writes === 0 ? 0 : 1;
  return (
    az - bz ||
    a.writes - b.writes ||
    b.init_matches - a.init_matches ||
    (b.available_instances ?? -1) - (a.available_instances ?? -1) ||
    (a.device === null ? 1 : 0) - (b.device === null ? 1 : 0) ||
    a.seq - b.seq
  );
}

/** `items` in `compare` order: as given when already sorted (as enumeration writes them), else a sorted copy. */
function sortedBy<T>(items: T[], compare: (a: T, b: T) => number): T[] {
  for (let i = 1; i < items.length; i++) {
    if (compare(items[i - 1] as T, items[i] as T) > 0) return [...items].sort(compare);
  }
  return items;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function describe(c: Scored, planned: PlannedWrite[]): string {
  const what = `${c.device === null ? `new ${c.type_id ?? 'device'}` : `free device`} (${describeBasis(c.basis)})`;
  const writes = c.writes === 0 ? 'no writes' : `${plural(c.writes, 'write')} (${planned.map((w) => w.param).join(', ')})`;
  const inst = c.available_instances === null ? '' : `, ${c.available_instances} free instance${c.available_instances === 1 ? '' : 's'}`;
  const init = c.params === 0 ? '' : `, ${c.init_matches}/${c.params} values at init_value`;
  return `${what}: ${writes}${init}${inst}`;
}

/** Why `c` ranks where it does relative to `above` (rank - 1). */
function rankReason(c: Scored, planned: PlannedWrite[], above: Scored | undefined, rankAbove: number): string {
  const self = describe(c, planned);
  if (above === undefined) {
    return c.device !== null && c.writes === 0 ? `best: existing free device needing no writes; ${self}` : `best: ${self}`;
  }
  const at = `#${rankAbove}`;
  const aboveZero = above.device !== null && above.writes === 0;
  if (aboveZero && !(c.device !== null && c.writes === 0)) return `below ${at}, which is an existing free device needing no writes; ${self}`;
  if (c.writes !== above.writes) return `more writes than ${at} (${c.writes} vs ${above.writes}); ${self}`;
  if (c.init_matches !== above.init_matches) return `fewer values at init_value than ${at} (${c.init_matches} vs ${above.init_matches}); ${self}`;
  if (c.available_instances !== above.available_instances) {
    return `fewer free instances than ${at} (${c.available_instances ?? 'unknown'} vs ${above.available_instances ?? 'unknown'}); ${self}`;
  }
  if (c.device === null && above.device !== null) return `ties with ${at}, which reuses an existing device; ${self}`;
  return `ties with ${at} on every key; ordered by name; ${self}`;
}

/**
 * Rank every destination in `inventories` that can take `list`. Compatibility is checked
 * with the same rules as `checkCompat` (type metadata, then device state).
 */
export function selectDestinations(list: ParamList, inventories: Inventory[], options: SelectOptions = {}): SelectResult {
  // With a limit, only the best `limit` are kept (in order, by insertion): a fleet's other
  // candidates are counted and dropped young instead of held and sorted.
  const keep = options.limit === undefined ? Infinity : Math.max(0, options.limit);
  const scored: Scored[] = [];
  let found = 0;
  const add = (c: Scored) => {
    found++;
    if (keep === Infinity) return void scored.push(c);
    if (scored.length === keep && (keep === 0 || compare(c, scored[keep - 1] as Scored) >= 0)) return;
    let lo = 0;
    let hi = scored.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compare(scored[mid] as Scored, c) <= 0) lo = mid + 1;
      else hi = mid;
    }
    scored.splice(lo, 0, c);
    if (scored.length > keep) scored.pop();
  };
  const rejected: Rejected[] = [];
  const wantRejected = options.includeRejected === true;
  let typeCount = 0;
  let deviceCount = 0;
  const reject = (host: string, type: MdevType | null, device: VfioDevice | null, basis: Basis, reasons: Reason[]) => {
    if (wantRejected) {
      rejected.push({host, type_id: type?.id ?? null, parent: type?.parent ?? null, device: device ? deviceIdOf(device) : null, basis, reasons});
    }
  };
  const counts: PlanCounts = {writes: 0, init: 0, params: 0};
  const listNames = list.scheme === 'v3' ? Object.keys(list.params) : [];
  // Types of equal metadata share one object (inventory format v3; hosts of one model), so
  // the verdict and a new device's counts are computed once per distinct metadata: both
  // depend on the source and the metadata alone (identity rules also on the type: not cached).
  const verdicts = new Map<TypeMigration, {basis: Basis; reasons: Reason[]}>();
  const newCounts = new Map<TypeMigration, PlanCounts>();
  const consider = (host: string, type: MdevType | null, meta: TypeMigration | null, basis: Basis, device: VfioDevice | null) => {
    if (device !== null) {
      const reasons = deviceReasons(list, {host, type, device, migration: meta});
      if (reasons.length > 0) return reject(host, type, device, basis, reasons);
      countPlan(list, meta, device.migration, listNames, counts);
    } else if (meta === null) {
      countPlan(list, meta, null, listNames, counts);
    } else {
      let known = newCounts.get(meta);
      if (known === undefined) {
        countPlan(list, meta, null, listNames, counts);
        newCounts.set(meta, (known = {...counts}));
      }
      Object.assign(counts, known);
    }
    add({
      host,
      type,
      meta,
      basis,
      dev: device,
      type_id: type?.id ?? null,
      parent: type?.parent ?? (device?.kind === 'pci' ? (device.physfn ?? null) : null),
      device: device ? deviceIdOf(device) : null,
      writes: counts.writes,
      init_matches: counts.init,
      params: counts.params,
      available_instances: type?.available_instances ?? null,
      seq: found,
    });
  };

  for (const inv of sortedBy(inventories, (a, b) => byName(a.host, b.host))) {
    // Devices by type, once per inventory, in id order.
    const byType = new Map<string, VfioDevice[]>();
    const pcis: Extract<VfioDevice, {kind: 'pci'}>[] = [];
    for (const d of sortedBy(inv.devices, (a, b) => byName(deviceIdOf(a), deviceIdOf(b)))) {
      deviceCount++;
      if (d.kind === 'pci') {
        pcis.push(d);
        continue;
      }
      const key = `${d.parent}\0${d.type_id}`;
      const list2 = byType.get(key);
      if (list2) list2.push(d);
      else byType.set(key, [d]);
    }
    for (const type of sortedBy(inv.types, (a, b) => byName(a.parent, b.parent) || byName(a.id, b.id))) {
      typeCount++;
      // The same type-level verdict as checkCompat (vendor metadata or identity rules), once per type.
      const meta = type.migration;
      let verdict = list.scheme !== 'none' && meta !== null ? verdicts.get(meta) : undefined;
      if (verdict === undefined) {
        verdict = typeVerdict(list, {host: inv.host, type, device: null, migration: meta}, options);
        if (list.scheme !== 'none' && meta !== null) verdicts.set(meta, verdict);
      }
      const {basis, reasons} = verdict;
      const devices = byType.get(`${type.parent}\0${type.id}`) ?? [];
      if (reasons.length > 0) {
        reject(inv.host, type, null, basis, reasons);
        continue;
      }
      for (const d of devices) consider(inv.host, type, meta, basis, d);
      if (type.available_instances === 0) {
        reject(inv.host, type, null, basis, [{code: 'NO_AVAILABLE_INSTANCES', message: `${type.id} has no available instances: no new device can be created`}]);
      } else {
        consider(inv.host, type, meta, basis, null);
      }
    }
    // PCI devices: a variant driver's own metadata, or their identity.
    for (const d of pcis) {
      const {basis, reasons} = typeVerdict(list, {host: inv.host, type: null, device: d, migration: d.type_migration}, options);
      if (reasons.length > 0) reject(inv.host, null, d, basis, reasons);
      else consider(inv.host, null, d.type_migration, basis, d);
    }
  }

  if (keep === Infinity) scored.sort(compare);
  const limit = scored.length;
  const candidates: Candidate[] = [];
  for (let i = 0; i < Math.min(limit, scored.length); i++) {
    const s = scored[i] as Scored;
    const current = s.dev?.migration ?? null;
    const planned = plannedWrites(list, s.meta, current);
    candidates.push({
      rank: i + 1,
      basis: s.basis,
      host: s.host,
      type_id: s.type_id,
      parent: s.parent,
      device: s.device,
      writes: s.writes,
      init_matches: s.init_matches,
      params: s.params,
      available_instances: s.available_instances,
      planned_writes: planned,
      reason: rankReason(s, planned, scored[i - 1], i),
      warnings: s.dev === null ? [] : keptValueWarnings(list, s.meta, current?.scheme === 'v3' ? current.values : undefined),
    });
  }
  const result: SelectResult = {
    source: sourceRef(list),
    considered: {hosts: inventories.length, types: typeCount, devices: deviceCount, candidates: found},
    candidates,
  };
  if (wantRejected) result.rejected = rejected;
  return result;
}
