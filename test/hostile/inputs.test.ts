/** Issue #12 items 3, 7 and 9: inputs that are not what they claim are refused at once, exit 2. */
import {execFileSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {fixture, fixtureHost, parseEnvelope, runCli} from '../helpers/cli.js';
import {SRC} from './corpus.js';

describe('item 3: a FIFO is refused before it is opened (no reader hangs)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-fifo-'));
  const fifo = path.join(dir, 'f');
  beforeAll(() => execFileSync('mkfifo', [fifo]));
  afterAll(() => rmSync(dir, {recursive: true, force: true}));
  const gpuA = ['--sysfs-root', fixtureHost('gpu-a')];

  it.each([
    ['validate', [fifo]],
    ['compat', ['--source', fifo, '--dest', 'vgfx-4GB', ...gpuA]],
    ['select', ['--source', fixture('params', 'gpu-a-4GB.json'), '--inventory', fifo]],
    ['prepare', [SRC, '--params', fifo, '--dry-run', ...gpuA]],
    ['migrate verify', ['--in', fifo]],
    ['migrate load', [SRC, '--in', fifo, ...gpuA]],
    ['probe', ['--in', fifo, '--dest', 'vgfx-4GB', ...gpuA]],
  ])('%s', (command, args) => {
    // runCli's own timeout (60 s) ends a hang; the check is that it never gets there.
    const started = Date.now();
    const run = runCli([...command.split(' '), ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`vfio-mig: ${fifo}: not a regular file; not a${command === 'validate' ? ' document' : command === 'compat' || command === 'prepare' ? ' parameter list' : command === 'select' ? 'n inventory' : command === 'probe' ? ' probe file' : ' state stream'} (it is a FIFO; use - for stdin)\n`);
    expect(Date.now() - started).toBeLessThan(50_000);
  });

  it('stdin (-) stays allowed', () => {
    const run = runCli(['validate', '-'], {input: '{"apiVersion": "vfio-mig/v1"'});
    expect(run.stderr).not.toMatch(/regular file/);
  });
});

describe('item 7: exit codes as the README says', () => {
  const gpuA = ['--sysfs-root', fixtureHost('gpu-a')];
  const missing = '0000:99:00.0';

  it.each([
    ['migrate caps', [missing, ...gpuA]],
    ['migrate save', [missing, '--out', '/tmp/never-written.state', '--final-state', 'stop', ...gpuA]],
    ['migrate run', ['--source', missing, '--dest', SRC, ...gpuA]],
    ['migrate state', [missing, ...gpuA]],
    ['migrate send', [missing, '--to', 'tcp:localhost:9', ...gpuA]],
    ['migrate receive', [missing, '--from', 'tcp-listen:9', ...gpuA]],
  ])('%s <unknown device>: exit 2 naming the device', (command, args) => {
    const run = runCli([...command.split(' '), ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^vfio-mig: 0000:99:00\.0: no such PCI device under .*; see 'vfio-mig list'\n$/);
  });

  it('migrate run --pair: SOURCE=DEST or one line, exit 2; a missing device in any pair is named; no devices at all is a usage error', () => {
    const bad = runCli(['migrate', 'run', '--pair', SRC, ...gpuA]);
    expect([bad.code, bad.stderr]).toEqual([2, `vfio-mig: --pair ${SRC}: not SOURCE=DEST (two device ids joined by =)\n`]);
    const second = runCli(['migrate', 'run', '--pair', `${SRC}=cb422412-cf4b-4ce8-b578-bf742f23d32d`, '--pair', `${missing}=${SRC}`, ...gpuA]);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/^vfio-mig: 0000:99:00\.0: no such PCI device under /);
    const none = runCli(['migrate', 'run', ...gpuA]);
    expect([none.code, none.stderr]).toEqual([2, 'vfio-mig: name the devices: --source DEV --dest DEV, or --pair SOURCE=DEST (repeated for several)\n']);
  });

  it('migrate verify --in /nonexistent: exit 2; --in <dir>: says it is a directory', () => {
    const none = runCli(['migrate', 'verify', '--in', '/nonexistent']);
    expect([none.code, none.stderr]).toEqual([2, 'vfio-mig: /nonexistent: cannot read state stream: no such file\n']);
    const dir = runCli(['migrate', 'verify', '--in', '/tmp']);
    expect([dir.code, dir.stderr]).toEqual([2, 'vfio-mig: /tmp: not a regular file; not a state stream (it is a directory; use - for stdin)\n']);
  });

  it('an unknown command or an extra argument: our one line, and with --json an envelope', () => {
    const unknown = runCli(['nosuch']);
    expect([unknown.code, unknown.stdout, unknown.stderr]).toEqual([2, '', `vfio-mig: "nosuch": no such command; see 'vfio-mig --help'\n`]);
    const json = runCli(['nosuch', '--json']);
    expect(parseEnvelope(json, '')).toMatchObject({status: 'error', exitCode: 2, error: {code: 'USAGE'}});
    const extra = runCli(['types', 'extra', '--json']);
    expect(parseEnvelope(extra, 'types').error.message).toBe(`types: unexpected argument "extra"; see 'vfio-mig help types'`);
    const extraArg = runCli(['migrate', 'caps', SRC, 'extra', '--json', ...gpuA]);
    expect(parseEnvelope(extraArg, 'migrate caps')).toMatchObject({status: 'error', exitCode: 2, error: {code: 'USAGE'}});
    const yaml = runCli(['types', 'extra', '--yaml']);
    expect(yaml.stdout).toMatch(/^apiVersion: vfio-mig\/v1\ncommand: types\nstatus: error\nexitCode: 2\n/);
  });
});

describe('item 9: a wrong --sysfs-root is an error, not an empty host', () => {
  it.each([['types'], ['list'], ['inventory'], ['validate']])('%s --sysfs-root /tmp: exit 2, the root has no sys/', (command) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-nosys-'));
    try {
      const run = runCli([command, '--sysfs-root', dir]);
      expect([run.code, run.stdout, run.stderr]).toEqual([2, '', `vfio-mig: sysfs root ${dir} has no sys/ directory; pass --sysfs-root DIR holding sys/ (/ on a real host)\n`]);
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
  });

  it("--sysfs-root '' is refused, not the current directory", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-cwd-'));
    mkdirSync(path.join(dir, 'sys'));
    try {
      const run = runCli(['types', '--sysfs-root', '']);
      expect([run.code, run.stderr]).toEqual([2, 'vfio-mig: the sysfs root is empty; pass --sysfs-root DIR (/ on a real host)\n']);
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
  });
});

describe('item 12: an inventory --json envelope is read by --inventory, as a params --json envelope is by --source', () => {
  it('select and compat take the envelope', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'vfio-mig-envelope-'));
    try {
      const out = runCli(['inventory', '--json', '--sysfs-root', fixtureHost('gpu-b')]);
      const file = path.join(dir, 'gpu-b.json');
      writeFileSync(file, out.stdout);
      const select = runCli(['select', '--source', fixture('params', 'gpu-a-4GB.json'), '--inventory', file]);
      expect(select.stderr).toBe('');
      expect(select.code).toBe(0);
      const compat = runCli(['compat', '--source', fixture('params', 'gpu-a-4GB.json'), '--dest', 'vgfx-8GB', '--inventory', file]);
      expect(compat.stderr).toBe('');
    } finally {
      rmSync(dir, {recursive: true, force: true});
    }
  });
});
