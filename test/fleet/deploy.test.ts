/** The shipped systemd units run commands the CLI accepts, and systemd accepts the units. */
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {fixtureHost, repoRoot, runCli} from '../helpers/cli.js';

const UNITS = path.join(repoRoot, 'deploy/systemd');

/** ExecStart of a unit as argv, with `${VAR}` from its Environment= lines. */
async function execStart(unit: string): Promise<string[]> {
  const text = await readFile(path.join(UNITS, unit), 'utf8');
  const env = new Map([...text.matchAll(/^Environment=([A-Z_]+)=(.*)$/gm)].map((m) => [m[1] as string, m[2] as string]));
  const line = /^ExecStart=(.*)$/m.exec(text)?.[1] ?? '';
  return line.split(/\s+/).map((w) => w.replace(/\$\{([A-Z_]+)\}/g, (_m, v: string) => env.get(v) ?? ''));
}

describe('deploy/systemd', () => {
  it('ships a service and a timer for labels and for traits', async () => {
    expect((await readdir(UNITS)).sort()).toEqual(['vfio-mig-labels.service', 'vfio-mig-labels.timer', 'vfio-mig-traits.service', 'vfio-mig-traits.timer']);
  });

  it.each(['vfio-mig-labels.service', 'vfio-mig-traits.service'])('%s: its ExecStart works (paths moved to a temp dir)', async (unit) => {
    const argv = await execStart(unit);
    expect(argv[0]).toBe('/usr/bin/vfio-mig');
    const dir = await mkdtemp(path.join(tmpdir(), 'vfio-mig-unit-'));
    try {
      const args = argv.slice(1).map((a) => (!a.startsWith('/etc/') ? a : a.endsWith('.yaml') ? path.join(dir, path.basename(a)) : dir));
      const run = runCli([...args, '--sysfs-root', fixtureHost('gpu-a')]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect((await readdir(dir)).length).toBe(1);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });

  const analyze = existsSync('/usr/bin/systemd-analyze') ? it : it.skip;
  analyze('systemd-analyze verify finds nothing but the binary not being installed here', () => {
    const files = ['vfio-mig-labels.service', 'vfio-mig-labels.timer', 'vfio-mig-traits.service', 'vfio-mig-traits.timer'].map((f) => path.join(UNITS, f));
    const r = spawnSync('/usr/bin/systemd-analyze', ['verify', ...files], {encoding: 'utf8'});
    const problems = `${r.stdout}${r.stderr}`
      .split('\n')
      .filter((l) => l.trim() !== '' && !/Command \/usr\/bin\/vfio-mig is not executable/.test(l));
    expect(problems).toEqual([]);
  });
});
