import {execFileSync} from 'node:child_process';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {ROOT} from '../engine/helpers.js';

/** `make -C engine prebuilt` (up to date after `npm run build`), serialised like ensureEngine. */
export function ensurePrebuilt(): void {
  execFileSync('flock', [path.join(tmpdir(), 'vfio-mig-engine-build.lock'), 'make', '-s', '-C', path.join(ROOT, 'engine'), 'prebuilt'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
