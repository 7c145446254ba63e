#!/usr/bin/env node
// vfio-mig needs Node 20; it checks that itself. oclif's own engines check loads all of
// semver (about 20 ms of every start), so it is switched off.
if (Number(process.versions.node.split('.')[0]) < 20) {
  process.stderr.write(`vfio-mig: Node.js 20 or newer is required (this is ${process.version})\n`);
  process.exit(2);
}
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';

// The whole CLI is one bundled file, made by `npm run build`.
const bundle = new URL('../dist/vfio-mig.js', import.meta.url);
let cli;
try {
  cli = await import(bundle.href);
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes(bundle.pathname)) throw error;
  process.stderr.write(`vfio-mig: ${bundle.pathname} is missing; run \`npm run build\` in the vfio-mig package\n`);
  process.exit(3);
}
await cli.run();
