#!/usr/bin/env node
// Fleet benchmark for `select`: one source against inventories totalling 10,000 mdev types
// of 32 parameters each (100 hosts x 100 types, 20 devices per host).
// Prints, through the library as an orchestrator uses it: reading + validating the inventories
// (which also precomputes each type's summary), one select of the best 10 (first call and
// warm), and a full ranking of every candidate; then the cold CLI time of
// `vfio-mig select --inventory <100 files> --limit 10`, next to `node -e 0` for calibration.
// Goals: < 50 ms in-process, < 1 s for the CLI. Run `npm run build` first.
//
//   node bench/fleet.mjs [--hosts 100] [--types 100] [--params 32] [--runs 5] [--keep]
import {execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const HOSTS = arg('hosts', 100);
const TYPES = arg('types', 100);
const PARAMS = arg('params', 32);
const RUNS = arg('runs', 5);
const MODEL = 'vendor-a.com/gfx';

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

const dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-fleet-'));
const files = [];
let bytes = 0;
for (let h = 0; h < HOSTS; h++) {
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

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (t) => `${t.toFixed(1)} ms`;

// In process, through the library as an orchestrator would use it.
const {readInventoryFiles} = await import(path.join(root, 'dist/lib/inventory/index.js'));
const {selectDestinations} = await import(path.join(root, 'dist/lib/select/index.js'));
let t0 = performance.now();
const inventories = await readInventoryFiles(files);
const tRead = performance.now() - t0;
// First call: also builds the per-type summaries and the range cache.
t0 = performance.now();
let result = selectDestinations(list, inventories, {limit: 10});
const tFirst = performance.now() - t0;
const warm = [];
const full = [];
const warmCpu = [];
const cpuMs = (u) => (u.user + u.system) / 1000;
for (let i = 0; i < Math.max(RUNS, 7); i++) {
  let c0 = process.cpuUsage();
  t0 = performance.now();
  result = selectDestinations(list, inventories, {limit: 10});
  warm.push(performance.now() - t0);
  warmCpu.push(cpuMs(process.cpuUsage(c0)));
  t0 = performance.now();
  const all = selectDestinations(list, inventories);
  full.push(performance.now() - t0);
  if (i === 0) console.log(`full ranking: ${all.candidates.length} candidates`);
}
const types = inventories.reduce((n, inv) => n + inv.types.length, 0);

// Calibration for a loaded machine: bare node and the CLI doing nothing.
const bare = [];
const help = [];
for (let i = 0; i < RUNS; i++) {
  t0 = performance.now();
  execFileSync(process.execPath, ['-e', '0']);
  bare.push(performance.now() - t0);
  t0 = performance.now();
  execFileSync(process.execPath, [path.join(root, 'bin/run.js'), 'select', '--help']);
  help.push(performance.now() - t0);
}

// Cold CLI: a fresh node process per run.
const cli = [];
let cliOut = '';
for (let i = 0; i < RUNS; i++) {
  t0 = performance.now();
  cliOut = execFileSync(process.execPath, [path.join(root, 'bin/run.js'), 'select', '--source', listFile, '--inventory', ...files, '--limit', '10'], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  cli.push(performance.now() - t0);
}

console.log(`load average: ${(await import('node:os')).loadavg().map((x) => x.toFixed(2)).join(' ')} on ${(await import('node:os')).availableParallelism()} CPUs`);
console.log(`fleet: ${HOSTS} inventories, ${types} types x ${PARAMS} params, ${(bytes / 1e6).toFixed(1)} MB of JSON`);
console.log(`candidates: ${result.candidates.length} (best: ${result.candidates[0]?.host} ${result.candidates[0]?.type_id} ${result.candidates[0]?.device ?? '(new)'}, ${result.candidates[0]?.writes} writes)`);
console.log(`in-process: read+validate inventories ${ms(tRead)}`);
console.log(`in-process: select top 10, first call (builds per-type summaries) ${ms(tFirst)}`);
console.log(`in-process: select top 10, median of ${warm.length} ${ms(median(warm))} (min ${ms(Math.min(...warm))}, CPU ${ms(median(warmCpu))})   goal < 50 ms: ${median(warm) < 50 ? 'ok' : 'MISSED'}`);
console.log(`in-process: select full ranking (every candidate with its writes and reason), median ${ms(median(full))} (min ${ms(Math.min(...full))})`);
console.log(`calibration: 'node -e 0' median ${ms(median(bare))}, 'vfio-mig select --help' median ${ms(median(help))}`);
console.log(`cold CLI: 'vfio-mig select --inventory <${HOSTS} files> --limit 10' median of ${RUNS} ${ms(median(cli))} (min ${ms(Math.min(...cli))})   goal < 1 s: ${median(cli) < 1000 ? 'ok' : 'MISSED'}`);
if (!cliOut.includes('RANK')) console.log('unexpected CLI output:', cliOut.slice(0, 500));
if (process.argv.includes('--keep')) console.log(`kept ${dir}`);
else rmSync(dir, {recursive: true, force: true});
