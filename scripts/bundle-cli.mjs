#!/usr/bin/env node
// Bundles the compiled CLI (dist/cli/main.js), oclif and the library into dist/vfio-mig.js,
// the one file bin/run.js loads. Resolving and loading some 150 separate modules was most
// of a cold start; one file takes about a quarter off (`npm run bench:startup`).
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {build} from 'esbuild';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

await build({
  entryPoints: [path.join(root, 'dist/cli/main.js')],
  outfile: path.join(root, 'dist/vfio-mig.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // oclif is CommonJS: its require() of Node built-ins needs a real require in an ES module.
  banner: {js: "import {createRequire as __vfioMigRequire} from 'node:module';\nconst require = __vfioMigRequire(import.meta.url);"},
  // oclif loads TypeScript only to run a plugin from .ts sources, which this CLI never does.
  external: ['typescript'],
  logLevel: 'warning',
});
