/** Issue #12 item 1: text from another host, a file, a stream or sysfs never reaches the terminal raw. */
import {readFileSync, rmSync, writeFileSync} from 'node:fs';
import {mkdtempSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {buildHeader} from '../../src/lib/migrate/header.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {random, responses, runEngine} from '../engine/helpers.js';
import {fixture, fixtureHost, parseEnvelope, runCli} from '../helpers/cli.js';
import {CONTROL, EVIL, hostileTree, paramList, SRC, writeJson} from './corpus.js';

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

describe('acceptance: every command on a tree full of hostile strings prints no control character but newline', () => {
  let root: string;
  let dir: string;
  beforeAll(async () => {
    root = await hostileTree();
    dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-hostile-'));
  });
  afterAll(() => {
    rmSync(root, {recursive: true, force: true});
    rmSync(dir, {recursive: true, force: true});
  });

  it('each command, success or failure', () => {
    const list = writeJson(dir, 'list.json', paramList((l) => {
      l.source.host = EVIL;
      l.source.device = SRC;
    }));
    const inventory = JSON.parse(runCli(['inventory', '--json', '--sysfs-root', root]).stdout).result;
    const inv = writeJson(dir, 'inventory.json', inventory);
    const stream = path.join(dir, 'x.state');
    writeFileSync(stream, `VFIOMIGS${EVIL}`);
    const commands = [
      ['types'],
      ['list'],
      ['show', SRC],
      ['show', 'vgfx-4GB'],
      ['params', SRC],
      ['compat', '--source', list, '--dest', 'vgfx-8GB'],
      ['compat', '--source', SRC, '--dest', 'vgfx-8GB'],
      ['select', '--source', list, '--inventory', inv, '--all'],
      ['select', '--source', list, '--all'],
      ['inventory'],
      ['validate'],
      ['validate', list],
      ['validate', inv],
      ['prepare', SRC, '--params', list, '--dry-run'],
      ['fsm', 'path', 'running', 'stop_copy'],
      ['migrate', 'verify', '--in', stream],
      ['migrate', 'caps', SRC],
      ['migrate', 'state', SRC],
      ['migrate', 'save', SRC, '--out', path.join(dir, 'out.state')],
      ['migrate', 'load', SRC, '--in', stream],
      ['migrate', 'run', '--source', SRC, '--dest', SRC],
      // argv cannot hold NUL.
      [`nosuch${EVIL.replace('\u0000', '')}`],
      ['types', `extra${EVIL.replace('\u0000', '')}`],
    ];
    for (const args of commands) {
      const run = runCli([...args, '--sysfs-root', root], {env: {VFIO_MIG_ENGINE: '/bin/false'}});
      expect({args: args.join(' '), control: CONTROL.exec(run.stdout + run.stderr)?.[0]}).toEqual({args: args.join(' '), control: undefined});
    }
    expect(readFileSync(inv, 'utf8')).toContain('\\u001b');
  });
});
