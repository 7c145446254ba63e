/**
 * The CLI's entry point: every command, for oclif's explicit command discovery, and `run()`.
 *
 * `npm run build` bundles this module, oclif and the library into one file, dist/vfio-mig.js
 * (scripts/bundle-cli.mjs), which is all `bin/run.js` loads: one file instead of some 150
 * modules is most of what keeps a cold start near 2x bare node. Add a new command here.
 */
import {execute, settings} from '@oclif/core';

import Compat from '../commands/compat.js';
import EngineBuild from '../commands/engine/build.js';
import EnginePath from '../commands/engine/path.js';
import FsmPath from '../commands/fsm/path.js';
import InventoryCommand from '../commands/inventory.js';
import List from '../commands/list.js';
import MigrateCaps from '../commands/migrate/caps.js';
import MigrateLoad from '../commands/migrate/load.js';
import MigrateRun from '../commands/migrate/run.js';
import MigrateSave from '../commands/migrate/save.js';
import MigrateState from '../commands/migrate/state.js';
import MigrateVerify from '../commands/migrate/verify.js';
import Params from '../commands/params.js';
import Prepare from '../commands/prepare.js';
import Probe from '../commands/probe.js';
import Select from '../commands/select.js';
import Show from '../commands/show.js';
import Types from '../commands/types.js';
import Validate from '../commands/validate.js';

/** Command id (oclif's `topic:verb`) to class; package.json's oclif.commands points here. */
export const COMMANDS = {
  compat: Compat,
  'engine:build': EngineBuild,
  'engine:path': EnginePath,
  'fsm:path': FsmPath,
  inventory: InventoryCommand,
  list: List,
  'migrate:caps': MigrateCaps,
  'migrate:load': MigrateLoad,
  'migrate:run': MigrateRun,
  'migrate:save': MigrateSave,
  'migrate:state': MigrateState,
  'migrate:verify': MigrateVerify,
  params: Params,
  prepare: Prepare,
  probe: Probe,
  select: Select,
  show: Show,
  types: Types,
  validate: Validate,
};

/** Runs the command line in process.argv; oclif finds package.json above this file. */
export async function run(): Promise<void> {
  // The commands are in this bundle, never TypeScript sources: with NODE_ENV=development or
  // test oclif would otherwise look for typescript and, in an installed package, warn on stderr.
  settings.enableAutoTranspile = false;
  await execute({dir: import.meta.url});
}
