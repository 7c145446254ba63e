/**
 * Issue #12 item 12: shell completion. The generated scripts run in the real shells: bash with
 * COMP_WORDS/COMP_CWORD set as readline sets them, fish with `complete -C`, zsh through its
 * bashcompinit layer. Expected words come from the manifest, so a new command or flag is
 * checked without editing this file.
 */
import {spawnSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {parseEnvelope, repoRoot, runCli} from '../helpers/cli.js';

interface ManifestFlag {
  name: string;
  char?: string;
  type: string;
  options?: string[];
  hidden?: boolean;
}
const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'oclif.manifest.json'), 'utf8')) as {
  commands: Record<string, {flags: Record<string, ManifestFlag>; hidden?: boolean}>;
};
const ids = Object.keys(manifest.commands).filter((id) => !manifest.commands[id]!.hidden);
const dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-completion-'));
afterAll(() => rmSync(dir, {recursive: true, force: true}));

function script(shell: string): string {
  const run = runCli(['completion', shell]);
  expect([run.code, run.stderr]).toEqual([0, '']);
  const file = path.join(dir, `completion.${shell}`);
  writeFileSync(file, run.stdout);
  return file;
}

/** The words after the command's id that can follow `prefix` (the top level: topics, commands, help). */
function nextWords(prefix: string[]): string[] {
  const words = new Set(ids.map((id) => id.split(':')).filter((w) => w.length > prefix.length && prefix.every((p, i) => w[i] === p)).map((w) => w[prefix.length]!));
  if (prefix.length === 0) words.add('help');
  return [...words].sort();
}

function flagsOf(id: string): string[] {
  return [...Object.values(manifest.commands[id]!.flags).filter((f) => !f.hidden).flatMap((f) => [`--${f.name}`, ...(f.char ? [`-${f.char}`] : [])]), '--help'].sort();
}

describe('item 12: bash completion', () => {
  let file: string;
  beforeAll(() => {
    file = script('bash');
  });

  /** COMPREPLY for a command line whose last word is being completed. */
  function complete(words: string[]): string[] {
    const driver = `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=\${#COMP_LINE}; _vfio_mig; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const run = spawnSync('bash', ['--norc', '-c', driver, 'bash', file, 'vfio-mig', ...words], {encoding: 'utf8', cwd: repoRoot});
    expect(run.stderr).toBe('');
    return run.stdout.split('\n').filter((l) => l !== '').sort();
  }

  it('is registered for vfio-mig', () => {
    const run = spawnSync('bash', ['--norc', '-c', 'source "$1"; complete -p vfio-mig', 'bash', file], {encoding: 'utf8'});
    expect(run.stdout.trim()).toBe('complete -F _vfio_mig vfio-mig');
  });

  it('command and topic words, from the manifest', () => {
    expect(complete([''])).toEqual(nextWords([]));
    expect(complete(['mi'])).toEqual(['migrate']);
    expect(complete(['migrate', ''])).toEqual(nextWords(['migrate']));
    expect(complete(['migrate', 've'])).toEqual(['verify']);
    expect(complete(['help', 'migrate', ''])).toEqual(nextWords(['migrate']));
    expect(complete(['fsm', ''])).toEqual(['path']);
  });

  it.each(ids)('%s: its flags', (id) => {
    expect(complete([...id.split(':'), '--'])).toEqual(flagsOf(id).filter((f) => f.startsWith('--')));
  });

  it("a flag's option values, for every flag that has them", () => {
    let checked = 0;
    for (const id of ids) {
      for (const f of Object.values(manifest.commands[id]!.flags).filter((x) => x.options && !x.hidden)) {
        expect({id, flag: f.name, values: complete([...id.split(':'), `--${f.name}`, ''])}).toEqual({id, flag: f.name, values: [...f.options!].sort()});
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(4);
    expect(complete(['fsm', 'path', 'running', 'stop', '--kernel', '6'])).toEqual(['6.1']);
    expect(complete(['migrate', 'save', 'x', '--final-state', 'r'])).toEqual(['running']);
  });

  it('file names for a flag that takes a file and for arguments', () => {
    expect(complete(['compat', '--source', 'fixtures/par'])).toEqual(['fixtures/params']);
    expect(complete(['validate', 'fixtures/par'])).toEqual(['fixtures/params']);
    expect(complete(['validate', '--'])).toContain('--lenient');
  });
});

describe('item 12: zsh and fish completion', () => {
  it('zsh: the script loads in zsh (bashcompinit) and completes as bash does', () => {
    const file = script('zsh');
    // Called as zsh's bash layer calls it: sh emulation, 0-based COMP_WORDS.
    const driver = 'source "$1"; emulate -L sh; setopt kshglob noshglob braceexpand; COMP_WORDS=(vfio-mig fsm path --kernel ""); COMP_CWORD=4; _vfio_mig; print -l -- "${COMPREPLY[@]}"';
    const run = spawnSync('zsh', ['-f', '-c', driver, 'zsh', file], {encoding: 'utf8'});
    expect(run.stderr).toBe('');
    expect(run.stdout.split('\n').filter((l) => l !== '').sort()).toEqual(['6.1', 'latest']);
    const registered = spawnSync('zsh', ['-f', '-c', 'source "$1"; print -- ${_comps[vfio-mig]}', 'zsh', file], {encoding: 'utf8'});
    expect(registered.stdout.trim()).toMatch(/_bash_complete/);
  });

  it('fish: complete -C gives commands, verbs, flags and option values', () => {
    const file = script('fish');
    const complete = (line: string): string[] => {
      const run = spawnSync('fish', ['--no-config', '-c', `source $argv[1]; complete -C${JSON.stringify(line)}`, file], {encoding: 'utf8', cwd: repoRoot});
      expect(run.stderr).toBe('');
      return run.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0]!).sort();
    };
    expect(complete('vfio-mig ')).toEqual(nextWords([]));
    expect(complete('vfio-mig migrate ')).toEqual(nextWords(['migrate']));
    expect(complete('vfio-mig fsm path running stop --kernel ')).toEqual(['6.1', 'latest']);
    expect(complete('vfio-mig inventory --format ')).toEqual(['json', 'yaml']);
    expect(complete('vfio-mig migrate caps --')).toEqual(flagsOf('migrate:caps').filter((f) => f.startsWith('--')));
  });
});

describe('item 12: completion command', () => {
  it('--json carries the same script; an unknown shell is a usage error', () => {
    const human = runCli(['completion', 'bash']);
    expect(parseEnvelope(runCli(['completion', 'bash', '--json']), 'completion').result).toEqual({shell: 'bash', script: human.stdout});
    const bad = runCli(['completion', 'tcsh']);
    expect(bad.code).toBe(2);
  });
});
