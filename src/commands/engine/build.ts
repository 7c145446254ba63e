import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {exitCodes} from '../../cli/help.js';
import {fields} from '../../cli/render.js';
import {type EngineBuildResult, buildEngine} from '../../lib/engine/build.js';

export default class EngineBuild extends BaseCommand<typeof EngineBuild, EngineBuildResult> {
  static override id = 'engine:build';
  static override summary = "Build the migration engine from the package's source with this system's C compiler.";
  static override description =
    'For a platform without a prebuilt engine (the package ships static ones for linux x64 and arm64), or to ' +
    'use your own build: runs make on the shipped engine/ source with cc ($CC to choose another) in a ' +
    'temporary directory, runs the new binary\'s self test, and moves it to ' +
    '$XDG_DATA_HOME/vfio-mig/engine/<version>/<platform>/ (default ~/.local/share), where the migrate ' +
    'commands find it before the prebuilt one. Nothing is written inside the package. Needs make and a C11 ' +
    'compiler with libc headers (Debian: build-essential).' + exitCodes({0: 'built and self-tested', 3: 'the build or the self test failed'});

  static override examples = ['<%= config.bin %> engine build', 'CC=clang <%= config.bin %> engine build'];

  protected async execute(): Promise<Outcome<EngineBuildResult>> {
    const result = await buildEngine();
    return {
      result,
      exitCode: 0,
      human: () =>
        fields([
          ['built', result.path],
          ['compiler', result.cc],
          ['version', result.version],
          ['self test', result.selftest],
        ]),
    };
  }
}
