#!/usr/bin/env node
// vfio-mig needs Node 20; it checks that itself. oclif's own engines check loads all of
// semver (about 20 ms of every start), so it is switched off.
if (Number(process.versions.node.split('.')[0]) < 20) {
  process.stderr.write(`vfio-mig: Node.js 20 or newer is required (this is ${process.version})\n`);
  process.exit(2);
}
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1';
const {execute} = await import('@oclif/core');

await execute({dir: import.meta.url});
