import {existsSync} from 'node:fs';

import {BaseCommand, type Outcome} from '../../cli/base-command.js';
import {exitCodes} from '../../cli/help.js';
import {fields} from '../../cli/render.js';
import {engineVersion} from '../../lib/engine/build.js';
import {type EngineSource, engineCandidates, locateEngine} from '../../lib/engine/locate.js';

export interface EnginePathResult {
  path: string;
  source: EngineSource;
  version: string;
  /** Every place looked, in order; the first present one is used. */
  searched: {source: EngineSource; path: string; present: boolean}[];
}

const SOURCE_TEXT: Record<EngineSource, string> = {
  env: 'VFIO_MIG_ENGINE',
  checkout: "this checkout's build (npm run build)",
  user: 'your own build (vfio-mig engine build)',
  prebuilt: "the package's prebuilt engine",
};

export default class EnginePath extends BaseCommand<typeof EnginePath, EnginePathResult> {
  static override id = 'engine:path';
  static override summary = 'Show which migration engine binary the migrate commands use, and its version.';
  static override description =
    'Looks in order at $VFIO_MIG_ENGINE (alone, when set), the checkout\'s engine/build/, your own build ' +
    '(`vfio-mig engine build`: $XDG_DATA_HOME/vfio-mig/engine/<version>/<platform>/) and the package\'s ' +
    'prebuilt static engine for this platform (linux x64, arm64).' + exitCodes({0: 'the engine found and runnable', 3: 'none is there or it cannot run'});

  static override examples = ['<%= config.bin %> engine path'];

  protected async execute(): Promise<Outcome<EnginePathResult>> {
    const found = await locateEngine();
    const searched = engineCandidates().map((c) => ({...c, present: existsSync(c.path)}));
    const result: EnginePathResult = {path: found.path, source: found.source, version: engineVersion(found.path), searched};
    return {
      result,
      exitCode: 0,
      human: () =>
        fields([
          ['engine', result.path],
          ['from', SOURCE_TEXT[result.source]],
          ['version', result.version],
        ]),
    };
  }
}
