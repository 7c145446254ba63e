/** Issue #12 item 1: text from another host, a file, a stream or sysfs never reaches the terminal raw. */
import {chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {buildHeader} from '../../src/lib/migrate/header.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {random, responses, runEngine} from '../engine/helpers.js';
import {fixture, fixtureHost, parseEnvelope, repoRoot, runCli} from '../helpers/cli.js';
import {CONTROL, DEVICES, EVIL, FORGED, hostileTree, paramList, SRC, writeJson} from './corpus.js';

describe('item 1: terminal escapes are escaped in human output, exact in --json', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-hostile-'));
  afterAll(() => rmSync(dir, {recursive: true, force: true}));

  it('compat: a source.host that would overwrite the verdict is shown escaped', () => {
    const file = writeJson(dir, 'evil-source.json', paramList((l) => {
      l.source.host = EVIL;
      l.params.memory = 99999;
    }));
    const run = runCli(['compat', '--source', file, '--dest', 'vgfx-8GB', '--sysfs-root', fixtureHost('gpu-b')]);
    expect(run.stdout).toMatch(/^NOT compatible: /);
    expect(run.stdout).not.toMatch(CONTROL);
    expect(run.stdout).toContain('evil\\x1b[2K\\rcompatible: all good\\x07\\0\\u202e\\x9b');
    const json = runCli(['compat', '--source', file, '--dest', 'vgfx-8GB', '--sysfs-root', fixtureHost('gpu-b'), '--json']);
    expect(parseEnvelope(json, 'compat').result.source.host).toBe(EVIL);
  });

  it('select: an inventory host is shown escaped', () => {
    const inventory = JSON.parse(runCli(['inventory', '--json', '--sysfs-root', fixtureHost('gpu-b')]).stdout).result;
    inventory.host = EVIL;
    const inv = writeJson(dir, 'evil-inventory.json', inventory);
    const run = runCli(['select', '--source', fixture('params', 'gpu-a-4GB.json'), '--inventory', inv, '--all']);
    expect(run.stdout).toContain('evil\\x1b[2K');
    expect(run.stdout + run.stderr).not.toMatch(CONTROL);
  });

  it('migrate verify: a stream header source.host is shown escaped', async () => {
    const header = await buildHeader(new SysfsRoot(fixtureHost('gpu-a')), SRC, 0x3, EVIL, 4096);
    const raw = path.join(dir, 'raw');
    const file = path.join(dir, 'evil.state');
    writeFileSync(raw, random(4096));
    const [reply] = responses(runEngine([{id: 1, op: 'pack', in_path: raw, out_path: file, header: JSON.stringify(header)}]).replies);
    expect(reply).toMatchObject({ok: true});
    const run = runCli(['migrate', 'verify', '--in', file]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('evil\\x1b[2K');
    expect(run.stdout).not.toMatch(CONTROL);
    expect(parseEnvelope(runCli(['migrate', 'verify', '--in', file, '--json']), 'migrate verify').result.header.source.host).toBe(EVIL);
  });

  it('error messages quoting a parameter name or a JSON pointer are escaped', () => {
    const file = writeJson(dir, 'evil-name.json', paramList((l) => (l.params[`mem${EVIL}`] = 1)));
    for (const args of [
      ['compat', '--source', file, '--dest', 'vgfx-4GB', '--sysfs-root', fixtureHost('gpu-a')],
      ['validate', file],
      ['prepare', SRC, '--params', file, '--dry-run', '--sysfs-root', fixtureHost('gpu-a')],
    ]) {
      const run = runCli(args);
      expect(run.code).not.toBe(0);
      expect(run.stdout + run.stderr).toContain('\\x1b[2K');
      expect(run.stdout + run.stderr).not.toMatch(CONTROL);
    }
  });

  it('sysfs strings (type name, description, host name, values, file names) are escaped', async () => {
    const root = await hostileTree();
    try {
      for (const args of [['types'], ['list'], ['show', SRC], ['validate']]) {
        const run = runCli([...args, '--sysfs-root', root]);
        // Escaped by the renderer (\x1b) or shown as JSON (\u001b): either way, visible.
        expect(`${args[0]}: ${run.stdout}${run.stderr}`).toMatch(/\\(x1b|u001b)\[2K/);
        expect(run.stdout + run.stderr).not.toMatch(CONTROL);
      }
    } finally {
      rmSync(root, {recursive: true, force: true});
    }
  });
});

/** Every command, from the manifest: a command added without a case here fails the first test. */
const manifest = JSON.parse(readFileSync(path.join(repoRoot, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, unknown>};

describe('acceptance: every command on a tree full of hostile strings prints no control character but newline, and no forged line', () => {
  let root: string;
  let dir: string;
  let cases: Record<string, string[][]>;
  /** Argv cannot hold NUL: hostile names given on the command line carry the rest. */
  const evilArg = EVIL.replace('\u0000', '');
  const evilDevice = `${SRC}${evilArg}${FORGED}`;

  beforeAll(async () => {
    root = await hostileTree();
    dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-hostile-'));
    const list = writeJson(dir, 'list.json', paramList((l) => {
      l.source.host = `${EVIL}${FORGED}`;
      l.source.device = SRC;
      l.model = `${l.model}${evilArg}${FORGED}`;
    }));
    const evilDeviceList = writeJson(dir, 'device.json', paramList((l) => (l.source.device = evilDevice)));
    const inventory = JSON.parse(runCli(['inventory', '--json', '--sysfs-root', root]).stdout).result;
    inventory.host = `${EVIL}${FORGED}`;
    const inv = writeJson(dir, 'inventory.json', inventory);
    const stream = path.join(dir, 'x.state');
    writeFileSync(stream, `VFIOMIGS${EVIL}${FORGED}`);
    // An engine binary whose path holds escapes: engine path shows it.
    const engine = path.join(dir, `engine${evilArg.replace(/\//g, '')}${FORGED}`);
    copyFileSync('/bin/true', engine);
    chmodSync(engine, 0o755);
    const out = (name: string) => path.join(dir, name);
    cases = {
      affinity: [['--source', list, '--inventory', inv], ['--source', evilDeviceList]],
      completion: [['bash'], ['zsh'], ['fish'], [`tcsh${evilArg}${FORGED}`]],
      compat: [['--source', list, '--dest', 'vgfx-8GB'], ['--source', SRC, '--dest', 'vgfx-8GB'], ['--source', list, '--dest', evilDevice], ['--source', list, '--dest', 'vgfx-8GB', '--inventory', inv]],
      'engine:build': [[]],
      'engine:path': [[]],
      'fsm:path': [['running', 'stop_copy'], [`running${evilArg}${FORGED}`, 'stop']],
      inventory: [[], ['--out', out('inv.json')], ['--host', `${evilArg}${FORGED}`]],
      labels: [['--inventory', inv], ['--out', out('labels.txt')], ['--host', `${evilArg}${FORGED}`]],
      list: [[]],
      'migrate:caps': [[SRC], [evilDevice]],
      'migrate:load': [[SRC, '--in', stream], [evilDevice, '--in', stream]],
      'migrate:receive': [[SRC, '--from', `unix-listen:${out('r.sock')}`, '--peer-timeout', '300'], [evilDevice, '--from', 'stdio'], [SRC, '--from', `exec:x${evilArg}${FORGED}`]],
      'migrate:run': [['--source', SRC, '--dest', SRC], ['--source', evilDevice, '--dest', SRC], ['--pair', `${evilDevice}=${SRC}`], ['--pair', `x${evilArg}${FORGED}`]],
      'migrate:send': [[SRC, '--to', `unix:${out('none.sock')}`, '--peer-timeout', '500'], [evilDevice, '--to', 'tcp:localhost:9'], [SRC, '--to', `tcp:x${evilArg}${FORGED}:1`]],
      'migrate:save': [[SRC, '--out', out('out.state')], [evilDevice, '--out', out('out2.state')]],
      'migrate:state': [[SRC], [evilDevice]],
      'migrate:verify': [['--in', stream]],
      params: [[SRC], [SRC, '--out', out('params.json')], [evilDevice]],
      prepare: [[SRC, '--params', list, '--dry-run'], [evilDevice, '--params', list, '--dry-run']],
      probe: [['--in', stream, '--dest', 'vgfx-4GB'], ['--source', evilDevice, '--dest', 'vgfx-4GB']],
      select: [['--source', list, '--inventory', inv, '--all'], ['--source', list, '--all']],
      show: [[SRC], ['vgfx-4GB'], [evilDevice]],
      traits: [['--inventory', inv], ['--out', out('traits.yaml')], ['--source', list, '--inventory', inv]],
      types: [[]],
      validate: [[], [list], [inv], [stream]],
    };
  });
  afterAll(() => {
    rmSync(root, {recursive: true, force: true});
    rmSync(dir, {recursive: true, force: true});
  });

  it('has a case for every command of the manifest', () => {
    expect(Object.keys(cases).sort()).toEqual(Object.keys(manifest.commands).sort());
  });

  it.each(Object.keys(manifest.commands).sort())('%s, success or failure', (id) => {
    const runs = cases[id] ?? [];
    expect(runs.length).toBeGreaterThan(0);
    const engine = path.join(dir, `engine${evilArg.replace(/\//g, '')}${FORGED}`);
    const bad: {what: string; control?: string; forged?: string[]}[] = [];
    for (const args of runs) {
      const argv = [...id.split(':'), ...args, '--sysfs-root', root];
      const env = {VFIO_MIG_ENGINE: id === 'engine:path' ? engine : '/bin/false', CC: '/bin/false', XDG_DATA_HOME: dir};
      const run = runCli(argv, {env});
      const text = run.stdout + run.stderr;
      const control = CONTROL.exec(text)?.[0];
      // A newline inside a foreign string stays inside its line (escaped), never a line of its own.
      const forged = text.split('\n').filter((line) => line.trimStart().startsWith(FORGED.trim()));
      if (control !== undefined || forged.length > 0) bad.push({what: argv.join(' '), ...(control === undefined ? {} : {control}), ...(forged.length > 0 ? {forged} : {})});
    }
    expect(bad).toEqual([]);
  });

  it('the words of an unknown command or an extra argument', () => {
    for (const args of [[`nosuch${evilArg}`], ['types', `extra${evilArg}${FORGED}`]]) {
      const run = runCli([...args, '--sysfs-root', root]);
      expect(run.code).toBe(2);
      expect(run.stdout + run.stderr).not.toMatch(CONTROL);
      expect(run.stderr.split('\n').filter((l) => l.startsWith(FORGED.trim()))).toEqual([]);
    }
  });
});
