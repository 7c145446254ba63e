#!/usr/bin/env node
// How a cold `vfio-mig select` grows with the fleet: inventories of 100 types (32 parameters
// each, 20 devices) per host, at 1,000, 10,000 and 100,000 types (10, 100 and 1,000 hosts).
// Each run is a fresh process, `select --source <list> --inventory <files> --limit 10`, timed
// by /usr/bin/time: wall time, CPU time (user + system; what a loaded machine does not
// inflate) and peak RSS. Goal at 100,000 types: under 2 s and under 1 GiB. Build first.
//
//   node bench/fleet-scale.mjs [--sizes 1000,10000,100000] [--runs 3] [--keep]
import {spawnSync} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {availableParallelism, loadavg, tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {writeFleet} from './fleet-gen.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const argv = process.argv;
const opt = (name, dflt) => (argv.includes(`--${name}`) ? argv[argv.indexOf(`--${name}`) + 1] : dflt);
const SIZES = opt('sizes', '1000,10000,100000').split(',').map(Number);
const RUNS = Number(opt('runs', 3));
const TYPES_PER_HOST = 100;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One cold run under /usr/bin/time: {wall, cpu} in ms, rss in MiB, and stdout. */
function timed(args) {
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', process.execPath, ...args], {encoding: 'utf8', maxBuffer: 256 << 20});
  const last = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return {wall: last[0] * 1000, cpu: (last[1] + last[2]) * 1000, rss: last[3] / 1024, stdout: r.stdout, status: r.status};
}

const bare = [];
for (let i = 0; i < RUNS; i++) bare.push(timed(['-e', '0']));
console.log(`load average: ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${availableParallelism()} CPUs`);
console.log(`calibration: 'node -e 0' wall ${median(bare.map((b) => b.wall)).toFixed(0)} ms, CPU ${median(bare.map((b) => b.cpu)).toFixed(0)} ms, RSS ${median(bare.map((b) => b.rss)).toFixed(0)} MiB`);
console.log('TYPES    HOSTS  JSON MB  WALL ms (min)     CPU ms  PEAK RSS MiB  CANDIDATES');
for (const types of SIZES) {
  const hosts = Math.max(1, Math.round(types / TYPES_PER_HOST));
  const dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-scale-'));
  const {files, bytes, listFile} = writeFleet(dir, {hosts, types: TYPES_PER_HOST});
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(timed([path.join(root, 'bin/run.js'), 'select', '--source', listFile, '--inventory', ...files, '--limit', '10', '--json']));
  const ok = runs.every((r) => r.status === 0);
  const found = ok ? JSON.parse(runs[0].stdout).result.considered.candidates : `FAILED: ${runs[0].stdout.slice(0, 200)}`;
  const wall = median(runs.map((r) => r.wall));
  const rss = Math.max(...runs.map((r) => r.rss));
  const goal = types >= 100_000 ? `   goal < 2000 ms, < 1024 MiB: ${wall < 2000 && rss < 1024 ? 'ok' : 'MISSED'}` : '';
  console.log(
    `${String(types).padEnd(8)} ${String(hosts).padEnd(6)} ${(bytes / 1e6).toFixed(1).padStart(7)}  ${wall.toFixed(0).padStart(7)} (${Math.min(...runs.map((r) => r.wall)).toFixed(0)})`.padEnd(42) +
      `${median(runs.map((r) => r.cpu)).toFixed(0).padStart(6)}  ${rss.toFixed(0).padStart(12)}  ${found}${goal}`,
  );
  if (argv.includes('--keep')) console.log(`kept ${dir}`);
  else rmSync(dir, {recursive: true, force: true});
}
