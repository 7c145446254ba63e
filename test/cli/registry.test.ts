/**
 * The bundled CLI finds its commands through src/cli/main.ts's COMMANDS (oclif's explicit
 * discovery), not by scanning a directory: a command file left out of it would silently vanish.
 * `npm run build` writes oclif.manifest.json from COMMANDS, so the manifest shows what is registered.
 */
import {spawnSync} from 'node:child_process';
import {copyFile, mkdir, mkdtemp, readFile, readdir, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {repoRoot, runCli} from '../helpers/cli.js';

async function commandIdsFromFiles(dir: string, prefix: string[] = []): Promise<string[]> {
  const ids: string[] = [];
  for (const entry of await readdir(dir, {withFileTypes: true})) {
    if (entry.isDirectory()) ids.push(...(await commandIdsFromFiles(path.join(dir, entry.name), [...prefix, entry.name])));
    else if (entry.name.endsWith('.ts')) ids.push([...prefix, entry.name.slice(0, -3)].join(':'));
  }
  return ids;
}

describe('command registry', () => {
  it('registers every file under src/commands (the built manifest is made from COMMANDS)', async () => {
    const fromFiles = (await commandIdsFromFiles(path.join(repoRoot, 'src/commands'))).sort();
    const manifest = JSON.parse(await readFile(path.join(repoRoot, 'oclif.manifest.json'), 'utf8')) as {commands: object};
    expect(fromFiles.length).toBeGreaterThanOrEqual(23);
    expect(Object.keys(manifest.commands).sort()).toEqual(fromFiles);
  });

  it('runs a command of each topic from the bundle', () => {
    expect(runCli(['fsm', 'path', 'RUNNING', 'STOP', '--flags', 'STOP_COPY']).stdout).toBe('RUNNING -> STOP\n');
    expect(runCli(['migrate', 'verify', '--help']).stdout).toMatch(/USAGE\n {2}\$ vfio-mig migrate verify/);
  });

  it('says how to build when the bundle is missing, exit 3', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vfio-mig-nobundle-'));
    await mkdir(path.join(dir, 'bin'));
    await copyFile(path.join(repoRoot, 'bin/run.js'), path.join(dir, 'bin/run.js'));
    const result = spawnSync(process.execPath, [path.join(dir, 'bin/run.js'), 'types'], {encoding: 'utf8'});
    await rm(dir, {recursive: true});
    expect(result.status).toBe(3);
    expect(result.stderr).toBe(`vfio-mig: ${dir}/dist/vfio-mig.js is missing; run \`npm run build\` in the vfio-mig package\n`);
  });
});
