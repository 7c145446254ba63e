// The synthetic fleet of the select benchmarks (bench/fleet.mjs, bench/fleet-scale.mjs):
// hosts of TYPES mdev types with PARAMS parameters each (ints with ranges, strs, bools; one
// type in ten of another model) and 20 devices per host (30 % in use), and one source list.
// Deterministic: the same arguments write the same files.
import {writeFileSync} from 'node:fs';
import path from 'node:path';

export const MODEL = 'vendor-a.com/gfx';

// Deterministic pseudo-random numbers (mulberry32).
let seed = 0x5eed;
let TYPES = 100;
let PARAMS = 32;
function rand() {
  seed |= 0;
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (n) => Math.floor(rand() * n);

/** Parameter i: int (ranges), bool or str; some without off_value. */
function spec(i, typeIndex) {
  const name = `p${String(i).padStart(2, '0')}`;
  const kind = i % 4;
  if (kind === 3) return [name, {type: 'bool', init_value: true, off_value: false}];
  if (kind === 2) return [name, {type: 'str', init_value: 'v2', off_value: 'v1', allowed_values: ['v1', 'v2', ...(typeIndex % 3 === 0 ? ['v3'] : [])]}];
  const max = 64 << (typeIndex % 4);
  const s = {type: 'int', init_value: 4, allowed_values: [`0-${max}`, 4096]};
  if (kind === 0) s.off_value = 0; // kind 1: no off_value
  return [name, s];
}

function inventory(h) {
  const types = [];
  const devices = [];
  for (let t = 0; t < TYPES; t++) {
    const parent = `0000:${(0x60 + (t % 4)).toString(16)}:00.0`;
    const params = Object.fromEntries(Array.from({length: PARAMS}, (_, i) => spec(i, t + h)));
    const model = (t + h) % 10 === 0 ? 'vendor-b.com/other' : MODEL;
    types.push({
      id: `vgfx-${t}`,
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
  return {apiVersion: 'vfio-mig/v1', kind: 'Inventory', host: `host-${String(h).padStart(3, '0')}`, taken_at: '2026-11-22T00:00:00Z', types, devices};
}


/** Write `hosts` inventory files and the source list into `dir`; returns the paths and bytes. */
export function writeFleet(dir, {hosts, types = 100, params: nParams = 32}) {
  seed = 0x5eed;
  TYPES = types;
  PARAMS = nParams;
  const files = [];
  let bytes = 0;
  for (let h = 0; h < hosts; h++) {
    const file = path.join(dir, `host-${h}.json`);
    const text = JSON.stringify(inventory(h));
    bytes += text.length;
    writeFileSync(file, text);
    files.push(file);
  }
  const params = {};
  for (let i = 0; i < PARAMS; i++) {
    const [name, s] = spec(i, 0);
    if (s.type === 'int') {
      if (s.off_value === undefined || i % 8 === 0) params[name] = i % 8 === 0 ? 16 : 4;
    } else if (s.type === 'str') params[name] = 'v2';
    else if (i % 8 === 3) params[name] = true;
  }
  const list = {apiVersion: 'vfio-mig/v1', kind: 'ParamList', scheme: 'v3', model: MODEL, params, source: {host: 'source-host', device: '11111111-2222-4333-8444-555555555555'}};
  const listFile = path.join(dir, 'source.json');
  writeFileSync(listFile, JSON.stringify(list));
  return {files, bytes, list, listFile};
}
