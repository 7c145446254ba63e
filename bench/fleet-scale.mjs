#!/usr/bin/env node
// How a cold `vfio-mig select` grows with the fleet, in the old inventory format (v2: every
// type with its metadata inline) and the new one (v3, what `inventory` writes: each distinct
// metadata once). Inventories of 100 types (32 parameters each, 20 devices) per host, at
// 1,000, 10,000 and 100,000 types (10, 100 and 1,000 hosts). The fleet is `models` of
// bench/fleet-gen.mjs: hosts of 8 kinds (4 GPU models x 2 host drivers), 4 GPUs a host with the
// same 25 types each, hosts of a kind publishing identical metadata (as a real fleet's do):
// 25 distinct blocks a host, 200 in the fleet. Then the worst case for v3: every type's
// metadata distinct. Each run is a fresh process, `select --source <list> --inventory <files>
// --limit 10 --json`, timed by /usr/bin/time: wall, CPU (user + system; what a loaded machine
// does not inflate) and peak RSS; both formats' outputs must be byte-identical. Goal at
// 100,000 types: under 2 s and under 1 GiB. `npm run build` first.
//
//   node bench/fleet-scale.mjs [--sizes 1000,10000,100000] [--runs 1] [--no-distinct] [--keep]
import {spawnSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs';
import {availableParallelism, loadavg, tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {writeFleet} from './fleet-gen.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const {inventoryDocument, inventoryJson} = await import(path.join(root, 'dist/lib/inventory/index.js'));
const argv = process.argv;
const opt = (name, dflt) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const SIZES = opt('sizes', '1000,10000,100000').split(',').map(Number);
const RUNS = Number(opt('runs', 1));
const TYPES_PER_HOST = 100;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One cold run under /usr/bin/time: {wall, cpu} in ms, rss in MiB, and stdout. */
function timed(args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, ...args], {encoding: 'utf8', maxBuffer: 256 << 20});
  const last = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return {wall: last[0] * 1000, cpu: (last[1] + last[2]) * 1000, rss: last[3] / 1024, stdout: r.stdout, status: r.status};
}

/** Write one fleet in one format, select over it RUNS times: the figures and the output. */
function measure(dir, hosts, format, distinct) {
  const sub = path.join(dir, `${format}${distinct ? '-distinct' : ''}`);
  mkdirSync(sub);
  const serialize = format === 'v3' ? (inv) => inventoryJson(inventoryDocument(inv)) : JSON.stringify;
  const {files, bytes, listFile, distinctBlocks} = writeFleet(sub, {hosts, types: TYPES_PER_HOST, fleet: 'models', distinct, serialize});
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(timed([path.join(root, 'bin/run.js'), 'select', '--source', listFile, '--inventory', ...files, '--limit', '10', '--json']));
  const failed = runs.find((r) => r.status !== 0);
  if (failed) throw new Error(`select failed (${format}): ${failed.stdout.slice(0, 300)}`);
  return {bytes, distinctBlocks, wall: median(runs.map((r) => r.wall)), cpu: median(runs.map((r) => r.cpu)), rss: Math.max(...runs.map((r) => r.rss)), stdout: runs[0].stdout};
}

const cell = (m) => `${(m.bytes / 1e6).toFixed(1).padStart(6)} ${(m.wall / 1000).toFixed(2).padStart(6)} ${(m.cpu / 1000).toFixed(2).padStart(6)} ${m.rss.toFixed(0).padStart(6)}`;

const bare = [];
for (let i = 0; i < 3; i++) bare.push(timed(['-e', '0']));
console.log(`load average: ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${availableParallelism()} CPUs; ${RUNS} run(s) each, medians; peak RSS the largest`);
console.log(`calibration: 'node -e 0' wall ${(median(bare.map((b) => b.wall)) / 1000).toFixed(2)} s, CPU ${(median(bare.map((b) => b.cpu)) / 1000).toFixed(2)} s, RSS ${median(bare.map((b) => b.rss)).toFixed(0)} MiB`);
console.log('fleet `models`: hosts of 8 kinds (4 GPU models x 2 host drivers), 4 GPUs with the same 25 types each; hosts of a kind publish identical metadata');
console.log('');
console.log('                            old format (v2, inline)        new format (v3, table)');
console.log('TYPES   HOSTS  BLOCKS       MB  WALL s  CPU s  RSS MiB     MB  WALL s  CPU s  RSS MiB  SAME  CANDIDATES');
const rows = [];
for (const types of SIZES) {
  const hosts = Math.max(1, Math.round(types / TYPES_PER_HOST));
  const dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-scale-'));
  try {
    const old = measure(dir, hosts, 'v2', false);
    const neu = measure(dir, hosts, 'v3', false);
    const same = old.stdout === neu.stdout;
    const found = JSON.parse(neu.stdout).result.considered.candidates;
    rows.push({types, neu});
    console.log(`${String(types).padEnd(7)} ${String(hosts).padStart(5)} ${String(neu.distinctBlocks).padStart(7)}  ${cell(old)}  ${cell(neu)}  ${same ? 'yes ' : 'NO  '}  ${found}`);
    if (!same) process.exitCode = 1;
    if (!argv.includes('--no-distinct')) {
      const worst = measure(dir, hosts, 'v3', true);
      console.log(`${String(types).padEnd(7)} ${String(hosts).padStart(5)} ${String(worst.distinctBlocks).padStart(7)}  ${'(every type distinct)'.padEnd(28)}  ${cell(worst)}        ${JSON.parse(worst.stdout).result.considered.candidates}`);
    }
  } finally {
    if (argv.includes('--keep')) console.log(`kept ${dir}`);
    else rmSync(dir, {recursive: true, force: true});
  }
}
const big = rows.find((r) => r.types >= 100_000);
if (big) {
  console.log('');
  console.log(`goal at 100,000 types (new format, realistic fleet): wall ${(big.neu.wall / 1000).toFixed(2)} s < 2 s: ${big.neu.wall < 2000 ? 'met' : 'MISSED'}; peak RSS ${big.neu.rss.toFixed(0)} MiB < 1024: ${big.neu.rss < 1024 ? 'met' : 'MISSED'}`);
}
