/**
 * The library surface orchestrators import (src/lib/index.ts re-exports it): present, and
 * free of oclif (checked on the import graph of the sources).
 */
import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';

import * as compat from '../../src/lib/compat/index.js';
import * as resolve from '../../src/lib/compat/resolve.js';
import * as inventory from '../../src/lib/inventory/index.js';
import * as paramlist from '../../src/lib/paramlist/index.js';
import * as prepare from '../../src/lib/prepare/index.js';
import * as select from '../../src/lib/select/index.js';
import {REPO} from './helpers.js';

describe('library API', () => {
  it('exports the entry points', () => {
    for (const [mod, names] of [
      [paramlist, ['buildParamList', 'paramListFromDevice', 'parseParamList', 'readParamListFile', 'validateParamList', 'serializeDocument']],
      [compat, ['checkCompat', 'checkMetadata', 'keptValueWarnings', 'deviceReasons']],
      [resolve, ['liveDestination', 'inventoryDestination', 'inventoryDestinations', 'resolveSource']],
      [inventory, ['parseInventory', 'readInventoryFile', 'readInventoryFiles', 'validateInventory']],
      [select, ['selectDestinations']],
      [prepare, ['planPreparation', 'plannedWrites', 'countPlan', 'prepareDevice', 'prepareError', 'sysfsIO', 'acquireDeviceLock']],
    ] as const) {
      for (const name of names) expect(typeof (mod as Record<string, unknown>)[name]).toBe('function');
    }
  });

  it('never imports oclif or the CLI', () => {
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from|import\()\s*['"]([^'"]+)['"]/g)) {
        const spec = m[1] as string;
        expect(spec).not.toMatch(/@oclif|\/cli\//);
        if (!spec.startsWith('.')) continue;
        const ts = path.resolve(path.dirname(file), spec.replace(/\.js$/, '.ts'));
        visit(existsSync(ts) ? ts : path.resolve(path.dirname(file), spec)); // generated validators are .js
      }
    };
    for (const dir of ['paramlist', 'compat', 'inventory', 'select', 'prepare']) visit(path.join(REPO, 'src/lib', dir, 'index.ts'));
    visit(path.join(REPO, 'src/lib/compat/resolve.ts'));
    expect(seen.size).toBeGreaterThan(10);
  });
});
