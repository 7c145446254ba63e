/**
 * The CLI's entry point: every command, for oclif's explicit command discovery, and `run()`.
 *
 * `npm run build` bundles this module, oclif and the library into one file, dist/vfio-mig.js
 * (scripts/bundle-cli.mjs), which is all `bin/run.js` loads: one file instead of some 150
 * modules is most of what keeps a cold start near 2x bare node. Add a new command here.
 */
import {execute, settings} from '@oclif/core';

import Affinity from '../commands/affinity.js';
import Compat from '../commands/compat.js';
import Completion from '../commands/completion.js';
import EngineBuild from '../commands/engine/build.js';
import EnginePath from '../commands/engine/path.js';
import FsmPath from '../commands/fsm/path.js';
import InventoryCommand from '../commands/inventory.js';
import Labels from '../commands/labels.js';
import List from '../commands/list.js';
import MigrateCaps from '../commands/migrate/caps.js';
import MigrateLoad from '../commands/migrate/load.js';
import MigrateReceive from '../commands/migrate/receive.js';
import MigrateRun from '../commands/migrate/run.js';
import MigrateSend from '../commands/migrate/send.js';
import MigrateSave from '../commands/migrate/save.js';
import MigrateState from '../commands/migrate/state.js';
import MigrateVerify from '../commands/migrate/verify.js';
import Params from '../commands/params.js';
import Prepare from '../commands/prepare.js';
import Probe from '../commands/probe.js';
import Select from '../commands/select.js';
import Show from '../commands/show.js';
import Traits from '../commands/traits.js';
import Types from '../commands/types.js';
import Validate from '../commands/validate.js';
import {ENVELOPE_API_VERSION} from './base-command.js';
import {escapeControls} from './render.js';

/** Command id (oclif's `topic:verb`) to class; package.json's oclif.commands points here. */
export const COMMANDS = {
  affinity: Affinity,
  compat: Compat,
  completion: Completion,
  'engine:build': EngineBuild,
  'engine:path': EnginePath,
  'fsm:path': FsmPath,
  inventory: InventoryCommand,
  labels: Labels,
  list: List,
  'migrate:caps': MigrateCaps,
  'migrate:load': MigrateLoad,
  'migrate:receive': MigrateReceive,
  'migrate:run': MigrateRun,
  'migrate:send': MigrateSend,
  'migrate:save': MigrateSave,
  'migrate:state': MigrateState,
  'migrate:verify': MigrateVerify,
  params: Params,
  prepare: Prepare,
  probe: Probe,
  select: Select,
  show: Show,
  traits: Traits,
  types: Types,
  validate: Validate,
};

/**
 * What the words of a command line name: the longest command id they start with (`migrate
 * caps`), and the words that follow it before any flag. oclif joins every leading word into
 * one id (`types extra` -> `types:extra`), so an extra argument reads as an unknown command.
 */
export function splitCommand(argv: string[]): {id: string | undefined; words: string[]; rest: string[]} {
  const words: string[] = [];
  for (const arg of argv) {
    if (arg.startsWith('-')) break;
    words.push(arg);
  }
  for (let n = words.length; n > 0; n--) {
    const id = words.slice(0, n).join(':');
    if (Object.hasOwn(COMMANDS, id)) return {id, words: words.slice(0, n), rest: words.slice(n)};
  }
  return {id: undefined, words, rest: []};
}

/** The usage error for words that name no command: one line, or an envelope with --json/--yaml. */
async function unknownCommand(argv: string[]): Promise<never> {
  const {id, words, rest} = splitCommand(argv);
  const command = id === undefined ? '' : id.replaceAll(':', ' ');
  const message =
    id === undefined
      ? `${JSON.stringify(words.join(' '))}: no such command; see 'vfio-mig --help'`
      : `${command}: unexpected argument ${JSON.stringify(rest[0])}; see 'vfio-mig help ${command}'`;
  const json = argv.includes('--json');
  if (json || argv.includes('--yaml')) {
    const envelope = {apiVersion: ENVELOPE_API_VERSION, command, status: 'error', exitCode: 2, error: {code: 'USAGE', message}};
    if (json) process.stdout.write(`${JSON.stringify(envelope, null, 2)}\n`);
    else process.stdout.write((await import('../lib/format/yaml.js')).toYaml(envelope));
  } else {
    process.stderr.write(`vfio-mig: ${escapeControls(message)}\n`);
  }
  process.exit(2);
}

/**
 * Runs the command line in process.argv; oclif finds package.json above this file.
 * `help <command>` is `<command> --help`; a line naming no command is a usage error (exit 2)
 * in this tool's own words, found before oclif would print its own.
 */
export async function run(argv = process.argv.slice(2)): Promise<void> {
  let args = argv;
  if (args[0] === 'help') args = [...args.slice(1), '--help'];
  const helpWanted = args.includes('--help') || args.includes('-h');
  const {id, words, rest} = splitCommand(args);
  // A topic alone (`migrate`) shows its help, as oclif does.
  const isTopic = id === undefined && Object.keys(COMMANDS).some((c) => c.startsWith(`${words.join(':')}:`));
  // A command with positional arguments takes the words after its id; oclif checks their number.
  const takesArgs = id !== undefined && Object.keys(COMMANDS[id as keyof typeof COMMANDS].args ?? {}).length > 0;
  if (words.length > 0 && !helpWanted && !isTopic && (id === undefined || (rest.length > 0 && !takesArgs))) await unknownCommand(args);
  // The commands are in this bundle, never TypeScript sources: with NODE_ENV=development or
  // test oclif would otherwise look for typescript and, in an installed package, warn on stderr.
  settings.enableAutoTranspile = false;
  await execute({dir: import.meta.url, args});
}
