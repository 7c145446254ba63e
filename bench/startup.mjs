#!/usr/bin/env node
// Cold start-up of the CLI beside bare `node -e 0`, median of several runs, measured side
// by side in one run (interleaved, so machine noise hits every command alike).
// Goal: `types --json` on the GPU fixture host under 2.5x bare node.
import {spawnSync} from 'node:child_process';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const runs = Number(process.env.RUNS ?? 15);
const cli = path.join(root, 'bin/run.js');
const host = path.join(root, 'fixtures/hosts/gpu-a');

const cases = [
  ['node -e 0', ['-e', '0']],
  ['vfio-mig --version', [cli, '--version']],
  ['vfio-mig types --json (gpu-a)', [cli, 'types', '--json', '--sysfs-root', host]],
  ['vfio-mig validate --sysfs-root gpu-a', [cli, 'validate', '--sysfs-root', host]],
];

const times = new Map(cases.map(([name]) => [name, []]));
for (let i = 0; i < runs + 1; i++) {
  for (const [name, args] of cases) {
    const start = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, {stdio: ['ignore', 'ignore', 'pipe'], env: {...process.env, NODE_OPTIONS: ''}});
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (result.status !== 0) throw new Error(`${name} exited ${result.status}: ${result.stderr}`);
    if (i > 0) times.get(name).push(ms); // the first round warms the page cache
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(times.get('node -e 0'));
console.log(`cold start, median of ${runs} runs (node ${process.version})`);
for (const [name] of cases) {
  const m = median(times.get(name));
  console.log(`${name.padEnd(40)} ${m.toFixed(1).padStart(7)} ms  ${(m / base).toFixed(2)}x node`);
}
const ratio = median(times.get('vfio-mig types --json (gpu-a)')) / base;
console.log(`types --json / node -e 0 = ${ratio.toFixed(2)}x (goal < 2.5x): ${ratio < 2.5 ? 'met' : 'NOT met'}`);
