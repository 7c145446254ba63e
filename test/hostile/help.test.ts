/** Issue #12 item 12: every command's help gives its exit codes and examples that run on the fixtures. */
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';

import {fixture, repoRoot, runCli} from '../helpers/cli.js';

const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<string, {description?: string; examples?: string[]}>;
};
const ids = Object.keys(manifest.commands);

describe('item 12: help', () => {
  it.each(ids)('%s --help lists its exit codes, 0 and 2 at least', (id) => {
    const description = manifest.commands[id]?.description ?? '';
    expect(description).toMatch(/Exit codes:/);
    expect(description).toMatch(/\b0\b/);
    expect(description).toMatch(/\b2\b.*usage/);
  });

  it("every device id in the help examples exists in a fixture host (so they can be tried with --sysfs-root)", () => {
    const known = new Set<string>();
    for (const host of readdirSync(fixture('hosts'))) {
      for (const bus of ['sys/bus/mdev/devices', 'sys/bus/pci/devices']) {
        const dir = fixture('hosts', host, bus);
        if (existsSync(dir)) for (const name of readdirSync(dir)) known.add(name);
      }
    }
    const used = ids.flatMap((id) =>
      (manifest.commands[id]?.examples ?? []).flatMap((e) => e.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]/g) ?? []),
    );
    expect(used.length).toBeGreaterThan(5);
    expect(used.filter((u) => !known.has(u))).toEqual([]);
  });

  it('-h and help <command> show the same help as --help', () => {
    const long = runCli(['migrate', 'caps', '--help']);
    expect(long.code).toBe(0);
    expect(long.stdout).toMatch(/Exit codes:/);
    expect(runCli(['migrate', 'caps', '-h']).stdout).toBe(long.stdout);
    expect(runCli(['help', 'migrate', 'caps']).stdout).toBe(long.stdout);
  });
});
