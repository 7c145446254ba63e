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
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {writeFleet} from './fleet-gen.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const HOSTS = arg('hosts', 100);
const TYPES = arg('types', 100);
const PARAMS = arg('params', 32);
const RUNS = arg('runs', 5);
const dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-fleet-'));
const {files, bytes, list, listFile} = writeFleet(dir, {hosts: HOSTS, types: TYPES, params: PARAMS});

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
