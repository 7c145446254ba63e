/**
 * A generated fleet for the equivalence test: hosts whose types and devices exercise every
 * rule select applies (models, schemes, missing parameters, wrong types, multi-interval and
 * negative ranges, restricted/any strings and bools, empty allowed lists, in-use and
 * unreadable devices, no free instances, unknown free instances, PCI variant devices, long
 * names that need digests) and sources that hit each of them, IS_SOURCE included.
 */
import path from 'node:path';

import type {AllowedValue, DeviceIdentity, Inventory, MdevType, MetadataParamList as ParamList, ParamList as AnyParamList, ParamSpec, ParamValue, TypeMigration, VfioDevice} from '../../src/lib/model/types.js';
import {type LoadedRuleSet, loadRuleSets} from '../../src/lib/rules/index.js';
import {REPO} from '../compat/helpers.js';

export function rng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LONG_MODEL = `vendor-x.example.com/${'g'.repeat(70)}`;
export const MODELS = ['vendor-a.com/gfx', 'vendor-b.com/gfx', LONG_MODEL];
const LONG_PARAM = `a_parameter_name_that_is_much_longer_than_fifty_characters_${'x'.repeat(10)}`;

const INT_ALLOWED: (AllowedValue[] | undefined)[] = [['1024-8192', 16384], ['0-64'], undefined, ['-10--2', 5], [], [4, '8-8', '9-12']];
const BOOL_ALLOWED: (AllowedValue[] | undefined)[] = [undefined, [true], [false], [true, false], []];
const STR_ALLOWED: (AllowedValue[] | undefined)[] = [['v1', 'v2'], undefined, ['v1'], ['x y/z', 'v2'], ['', 'v3']];

export const PARAM_NAMES = ['mem', 'ecc', 'profile', 'q', LONG_PARAM];

function specFor(name: string, r: () => number): ParamSpec {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)] as T;
  if (name === 'ecc') {
    const allowed = pick(BOOL_ALLOWED);
    return {type: 'bool', init_value: true, off_value: false, ...(allowed === undefined ? {} : {allowed_values: allowed})};
  }
  if (name === 'profile') {
    const allowed = pick(STR_ALLOWED);
    return {type: 'str', init_value: 'v2', off_value: 'v1', ...(allowed === undefined ? {} : {allowed_values: allowed})};
  }
  const allowed = pick(INT_ALLOWED);
  return {type: 'int', init_value: 4, ...(name === 'q' ? {off_value: 0} : {}), ...(allowed === undefined ? {} : {allowed_values: allowed})};
}

function valueFor(spec: ParamSpec, r: () => number): ParamValue {
  if (spec.type === 'bool') return r() < 0.5;
  if (spec.type === 'str') return ['v1', 'v2', 'v3', 'x y/z', ''][Math.floor(r() * 5)] as string;
  return [4, 5, 16384, 8192, 9000, -5, -11, 0, 64, 65, 10, 8][Math.floor(r() * 12)] as number;
}

function migrationFor(r: () => number): TypeMigration {
  if (r() < 0.12) {
    return {scheme: 'v4', models: [{model: 'vendor-c.com/v', versions: r() < 0.5 ? ['1.0', '1.1'] : ['1.1']}]};
  }
  const params: Record<string, ParamSpec> = {};
  for (const name of PARAM_NAMES) if (r() < 0.75) params[name] = specFor(name, r);
  // A parameter of the wrong type sometimes.
  if (r() < 0.1) params.mem = {type: 'str', init_value: 'a', allowed_values: ['a']};
  return {scheme: 'v3', model: MODELS[Math.floor(r() * MODELS.length)] as string, params};
}

function hex(n: number, w: number): string {
  return n.toString(16).padStart(w, '0');
}

/**
 * The rule sets of the generated fleet: the shipped ones, a set with every kind of rule
 * (fixtures/rules/fleet-test.yaml) and an at_least one for PCI (fleet-test-pci.yaml). The
 * same on every host, as the labels assume.
 */
export async function fleetRuleSets(): Promise<LoadedRuleSet[]> {
  const dir = path.join(REPO, 'fixtures/rules');
  return loadRuleSets({extra: ['fleet-test.yaml', 'fleet-test-pci.yaml'].map((f) => path.join(dir, f))});
}

type Pick = <T>(xs: T[]) => T;

function picker(r: () => number): Pick {
  return <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)] as T;
}

/** Sets the defined fields only (an absent field is a fact too). */
function identityOf(fields: Record<string, string | undefined>): DeviceIdentity {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as unknown as DeviceIdentity;
}

/**
 * A generated identity. Values hit every rule kind: equal and excluded types, branches (1.2 and
 * 1.3 declared compatible), at_least on dotted versions, srcversion hashes and (destinations
 * only: `wide`) versions too wide for a label integer, may_differ values and min/max limits.
 */
export function generateIdentity(r: () => number, bus: 'mdev' | 'pci', wide = true): DeviceIdentity {
  const pick = picker(r);
  const w = (xs: (string | undefined)[], extra: string[]) => (wide ? [...xs, ...extra] : xs);
  if (bus === 'mdev') {
    const d = r();
    return identityOf({
      bus,
      driver: d < 0.7 ? 'vgfx' : d < 0.85 ? 'mtty' : 'i915',
      driver_version: pick(['1.2.3', '1.3.0', '1.4.1', '2.0', '1.2', undefined, 'A1B2C3D4E5F6']),
      mdev_type: pick(['vgfx-a', 'vgfx-b', 'vgfx-c']),
      device_api: 'vfio-pci',
      parent_device: pick(['0x1', '0x2', '0x3', undefined]),
      parent_revision: pick(w(['1', '2', '10', '2.0.1', undefined, 'abc'], ['1.2.3.4', '2000000'])),
      parent_subsystem_device: pick(['1', '5', '10', 'abc', undefined]),
    });
  }
  const d = r();
  if (d < 0.5) {
    // A name past the label value limit (digest) and one that needs escapes.
    const t = pick([['1', 'NVIDIA L4-2Q'], ['2', 'NVIDIA L4-4Q'], [undefined, undefined], ['3', `NVIDIA ${'X'.repeat(70)}-8Q`], ['4', 'NVIDIA_ü/2Q']]);
    return identityOf({
      bus,
      driver: 'nvidia',
      vgpu_type: t[0],
      vgpu_type_name: t[1],
      vgpu_driver_version: pick(['550.54.14', '550.90.07', '535.183.01', '535.54.03', '570.1']),
      pci_vendor: '0x10de',
      pci_device: pick(['0x2331', '0x2335', '0x27b8', '0x2324']),
    });
  }
  if (d < 0.7) {
    return identityOf({bus, driver: 'mlx5_vfio_pci', driver_version: pick(['A1B2', 'C3D4']), pci_vendor: '0x15b3', pci_device: pick(['0x101e', '0x101f']), pci_subsystem_vendor: '0x15b3', pci_subsystem_device: '0x0001'});
  }
  return identityOf({bus, driver: 'vfpci', driver_version: pick(w(['1', '1.5', '2.0.1', 'srcABC', undefined], ['1.2.3.4'])), pci_vendor: '0x1af4', pci_device: pick(['0x1', '0x2'])});
}

export function generateHost(h: number, r: () => number, ri: () => number = rng(h + 1000)): Inventory {
  const host = h === 7 ? `host-${'long'.repeat(20)}-${h}` : `host-${String(h).padStart(3, '0')}`;
  const types: MdevType[] = [];
  const devices: VfioDevice[] = [];
  const nTypes = 1 + Math.floor(r() * 4);
  for (let t = 0; t < nTypes; t++) {
    const meta = r() < 0.05 ? null : migrationFor(r);
    const aiPick = r();
    const type: MdevType = {
      id: `vgfx-${t}`,
      parent: `0000:${hex(0x60 + (t % 2), 2)}:00.0`,
      migration: meta,
      problems: meta === null ? ['bad metadata'] : [],
      ...(aiPick < 0.1 ? {} : {available_instances: aiPick < 0.45 ? 0 : Math.floor(r() * 4)}),
      // Identities come from their own stream, so the metadata fleet stays what it was.
      ...(ri() < 0.85 ? {identity: generateIdentity(ri, 'mdev')} : {}),
    };
    types.push(type);
    const nDev = Math.floor(r() * 3);
    for (let d = 0; d < nDev; d++) {
      let migration: VfioDevice['migration'] = null;
      if (meta?.scheme === 'v3' && r() < 0.9) {
        const values: Record<string, ParamValue> = {};
        for (const [name, spec] of Object.entries(meta.params)) values[name] = spec.init_value;
        migration = {scheme: 'v3', model: meta.model, values};
      } else if (meta?.scheme === 'v4' && r() < 0.9) {
        migration = {scheme: 'v4', model: meta.models[0]!.model, version: meta.models[0]!.versions[0]!};
      }
      devices.push({
        kind: 'mdev',
        uuid: `${hex(h, 8)}-${hex(t, 4)}-4000-8000-${hex(d, 12)}`,
        parent: type.parent,
        type_id: type.id,
        migration,
        in_use: r() < 0.3 ? {pids: [100 + d]} : null,
        problems: [],
        ...(type.identity === undefined ? {} : {identity: type.identity}),
      });
    }
  }
  if (r() < 0.2) {
    const meta = migrationFor(r);
    const values: Record<string, ParamValue> = {};
    if (meta.scheme === 'v3') for (const [name, spec] of Object.entries(meta.params)) values[name] = spec.init_value;
    devices.push({
      kind: 'pci',
      bdf: '0000:01:00.2',
      driver: 'mlx5_vfio_pci',
      type_migration: meta,
      migration: meta.scheme === 'v3' ? {scheme: 'v3', model: meta.model, values} : {scheme: 'v4', model: meta.models[0]!.model, version: meta.models[0]!.versions[0]!},
      in_use: r() < 0.3 ? {pids: [7]} : null,
      problems: [],
    });
  }
  // PCI functions judged by identity only (variant drivers, NVIDIA per-VF vGPU).
  const nPci = Math.floor(ri() * 3);
  for (let k = 0; k < nPci; k++) {
    devices.push({
      kind: 'pci',
      bdf: `0000:41:00.${k + 4}`,
      driver: 'vfio-pci',
      type_migration: null,
      migration: null,
      in_use: ri() < 0.3 ? {pids: [9 + k]} : null,
      problems: [],
      identity: generateIdentity(ri, 'pci'),
    });
  }
  return {apiVersion: 'vfio-mig/v2', kind: 'Inventory', host, taken_at: '2026-12-03T00:00:00Z', types, devices};
}

export function generateFleet(hosts: number, seed = 14): Inventory[] {
  const r = rng(seed);
  const ri = rng(seed + 7);
  return Array.from({length: hosts}, (_, h) => generateHost(h, r, ri));
}

/** Random identity sources (scheme none) over the same vocabulary; some fit nowhere. */
export function generateIdentityLists(count: number, seed = 43): AnyParamList[] {
  const r = rng(seed);
  return Array.from({length: count}, (_, i) => ({
    apiVersion: 'vfio-mig/v2' as const,
    kind: 'ParamList' as const,
    scheme: 'none' as const,
    source: {host: `host-${String(Math.floor(r() * 250)).padStart(3, '0')}`, device: `0000:41:00.${i % 3 + 4}`},
    identity: generateIdentity(r, r() < 0.5 ? 'mdev' : 'pci', false),
  }));
}

/** Random parameter lists over the same vocabulary (some fit nowhere). */
export function generateLists(count: number, seed = 41): ParamList[] {
  const r = rng(seed);
  const lists: ParamList[] = [];
  for (let i = 0; i < count; i++) {
    const source = {host: `host-${String(Math.floor(r() * 250)).padStart(3, '0')}`, device: `${hex(i, 8)}-0000-4000-8000-000000000000`};
    if (r() < 0.1) {
      lists.push({apiVersion: 'vfio-mig/v1', kind: 'ParamList', scheme: 'v4', model: 'vendor-c.com/v', version: r() < 0.5 ? '1.0' : '1.1', source});
      continue;
    }
    const params: Record<string, ParamValue> = {};
    for (const name of PARAM_NAMES) {
      if (r() < 0.5) continue;
      params[name] = valueFor(name === 'ecc' ? {type: 'bool', init_value: true} : name === 'profile' ? {type: 'str', init_value: ''} : {type: 'int', init_value: 0}, r);
    }
    lists.push({apiVersion: 'vfio-mig/v1', kind: 'ParamList', scheme: 'v3', model: MODELS[Math.floor(r() * MODELS.length)] as string, params, source});
  }
  return lists;
}
