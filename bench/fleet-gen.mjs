// The synthetic fleets of the select benchmarks (bench/fleet.mjs, bench/fleet-scale.mjs) and
// of the old-format/new-format equivalence test (test/compat/inventory-v3.test.ts).
// Deterministic: the same arguments give the same inventories. Two fleets:
//
// - `legacy` (bench/fleet.mjs, the figures since the first fleet benchmark): TYPES mdev types
//   per host with PARAMS parameters each (ints with ranges, strs, bools; one type in ten of
//   another model), the metadata varying with (type + host): every host carries the same 12
//   distinct metadata blocks.
// - `models` (bench/fleet-scale.mjs): what a real fleet looks like. A host has 4 GPUs of one
//   model, each offering the same TYPES/4 types (as an NVIDIA L4 offers its 1Q..24Q, B and A
//   profiles); hosts come in 8 kinds (4 GPU models x 2 host driver versions, the driver
//   changing one parameter's allowed values), and hosts of one kind publish identical type
//   metadata. So a host holds TYPES/4 distinct metadata blocks and the whole fleet 8 x TYPES/4
//   (200 at 100 types per host), however many hosts.
//   `distinct: true` makes every type's metadata unique (one extra allowed value each): the
//   worst case for a format that stores each distinct block once.
//
// Every fleet has 20 devices per host (30 % in use) with values for every parameter, and one
// source list (vendor-a.com/gfx) that most types of that model accept.
import {writeFileSync} from 'node:fs';
import path from 'node:path';

export const MODEL = 'vendor-a.com/gfx';
const OTHER = 'vendor-b.com/other';

// Deterministic pseudo-random numbers (mulberry32).
let seed = 0x5eed;
function rand() {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (n) => Math.floor(rand() * n);
const pname = (i) => `p${String(i).padStart(2, '0')}`;

/** legacy parameter i: int (ranges), bool or str; some without off_value. */
function legacySpec(i, typeIndex) {
  const kind = i % 4;
  if (kind === 3) return {type: 'bool', init_value: true, off_value: false};
  if (kind === 2) return {type: 'str', init_value: 'v2', off_value: 'v1', allowed_values: ['v1', 'v2', ...(typeIndex % 3 === 0 ? ['v3'] : [])]};
  const max = 64 << (typeIndex % 4);
  const s = {type: 'int', init_value: 4, allowed_values: [`0-${max}`, 4096]};
  if (kind === 0) s.off_value = 0; // kind 1: no off_value
  return s;
}

/** models parameter i of profile k on GPU model g with host driver d (unique: an extra value). */
function modelSpec(i, k, g, d, unique) {
  const kind = i % 4;
  if (kind === 3) return {type: 'bool', init_value: true, off_value: false};
  if (kind === 2) return {type: 'str', init_value: 'v2', off_value: 'v1', allowed_values: ['v1', 'v2', ...(d === 1 && i === 2 ? ['v3'] : [])]};
  const max = 64 << (k % 8);
  const s = {type: 'int', init_value: 4, allowed_values: [`0-${max}`, 4096 + 16 * k + g]};
  if (i === 0 && unique !== undefined) s.allowed_values.push(1_000_000 + unique);
  if (kind === 0) s.off_value = 0;
  return s;
}

function inventory(h, {types: TYPES, params: PARAMS, fleet, distinct}) {
  const types = [];
  const devices = [];
  const kind = h % 8;
  const gpu = kind % 4;
  const driver = kind >> 2;
  const perParent = Math.max(1, Math.ceil(TYPES / 4));
  for (let t = 0; t < TYPES; t++) {
    let parent;
    let model;
    let params;
    if (fleet === 'legacy') {
      parent = `0000:${(0x60 + (t % 4)).toString(16)}:00.0`;
      model = (t + h) % 10 === 0 ? OTHER : MODEL;
      params = Object.fromEntries(Array.from({length: PARAMS}, (_, i) => [pname(i), legacySpec(i, t + h)]));
    } else {
      const k = t % perParent;
      parent = `0000:${(0x60 + Math.floor(t / perParent)).toString(16)}:00.0`;
      model = gpu === 3 ? OTHER : MODEL;
      const unique = distinct ? h * TYPES + t : undefined;
      params = Object.fromEntries(Array.from({length: PARAMS}, (_, i) => [pname(i), modelSpec(i, k, gpu, driver, unique)]));
    }
    types.push({
      id: `vgfx-${fleet === 'legacy' ? t : t % perParent}`,
      parent,
      name: `vgfx ${t}`,
      device_api: 'vfio-pci',
      available_instances: pick(8),
      migration: {scheme: 'v3', model, params},
      problems: [],
    });
  }
  for (let d = 0; d < 20; d++) {
    const type = types[pick(TYPES)];
    const values = {};
    for (const [name, s] of Object.entries(type.migration.params)) {
      values[name] = s.type === 'int' ? pick(3) * 4 : s.type === 'bool' ? rand() < 0.5 : 'v2';
    }
    const hex = (n, w) => n.toString(16).padStart(w, '0');
    devices.push({
      kind: 'mdev',
      uuid: `${hex(h, 8)}-0000-4000-8000-${hex(d, 12)}`,
      parent: type.parent,
      type_id: type.id,
      iommu_group: d,
      driver: 'vfio_mdev',
      migration: {scheme: 'v3', model: type.migration.model, values},
      in_use: rand() < 0.3 ? {pids: [1000 + d]} : null,
      problems: [],
    });
  }
  return {apiVersion: 'vfio-mig/v1', kind: 'Inventory', host: `host-${String(h).padStart(4, '0')}`, taken_at: '2026-11-22T00:00:00Z', types, devices};
}

/** The source parameter list (most vendor-a types accept it). */
export function sourceList(params = 32) {
  const list = {};
  for (let i = 0; i < params; i++) {
    const s = legacySpec(i, 0);
    if (s.type === 'int') {
      if (s.off_value === undefined || i % 8 === 0) list[pname(i)] = i % 8 === 0 ? 16 : 4;
    } else if (s.type === 'str') list[pname(i)] = 'v2';
    else if (i % 8 === 3) list[pname(i)] = true;
  }
  return {apiVersion: 'vfio-mig/v1', kind: 'ParamList', scheme: 'v3', model: MODEL, params: list, source: {host: 'source-host', device: '11111111-2222-4333-8444-555555555555'}};
}

/**
 * The inventories of a fleet (model objects, as `vfio-mig inventory` takes them), and the
 * number of distinct type metadata blocks in it.
 */
export function fleetInventories({hosts, types = 100, params = 32, fleet = 'legacy', distinct = false}) {
  seed = 0x5eed;
  const inventories = [];
  for (let h = 0; h < hosts; h++) inventories.push(inventory(h, {types, params, fleet, distinct}));
  const blocks = new Set();
  for (const inv of inventories) for (const t of inv.types) blocks.add(JSON.stringify(t.migration));
  return {inventories, distinctBlocks: blocks.size};
}

/**
 * Write a fleet's inventory files and the source list into `dir`. `serialize` turns an
 * inventory into file text (default: the inline format, every type with its metadata).
 */
export function writeFleet(dir, {hosts, types = 100, params = 32, fleet = 'legacy', distinct = false, serialize = JSON.stringify}) {
  const {inventories, distinctBlocks} = fleetInventories({hosts, types, params, fleet, distinct});
  const files = [];
  let bytes = 0;
  inventories.forEach((inv, h) => {
    const file = path.join(dir, `host-${h}.json`);
    const text = serialize(inv);
    bytes += Buffer.byteLength(text);
    writeFileSync(file, text);
    files.push(file);
  });
  const list = sourceList(params);
  const listFile = path.join(dir, 'source.json');
  writeFileSync(listFile, JSON.stringify(list));
  return {files, bytes, list, listFile, distinctBlocks};
}
