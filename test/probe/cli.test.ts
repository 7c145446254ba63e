import {writeFileSync} from 'node:fs';
import path from 'node:path';

import {renderProbe, type ProbeResult} from '../../src/commands/probe.js';
import {buildHeader} from '../../src/lib/migrate/header.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {responses, runEngine, tempDir} from '../engine/helpers.js';
import {copyHost, fixtureHost, parseEnvelope, runCli} from '../helpers/cli.js';

const SRC = '50042111-191b-421a-9586-d94555853d83';
const BUSY = 'cb422412-cf4b-4ce8-b578-bf742f23d32d'; // held by pid 4242 in gpu-a

const tmp = tempDir('vfio-mig-probe-cli-');
afterAll(() => tmp.cleanup());

/** A file in the stream format packed by the engine with the given header. */
function packed(name: string, header: unknown): string {
  const raw = path.join(tmp.dir, `${name}.raw`);
  const file = path.join(tmp.dir, name);
  writeFileSync(raw, Buffer.alloc(24, 7));
  const [reply] = responses(runEngine([{id: 1, op: 'pack', in_path: raw, out_path: file, header: JSON.stringify(header)}]).replies);
  expect(reply).toMatchObject({ok: true});
  return file;
}

describe('vfio-mig probe without a VFIO device', () => {
  test.each([
    [[], 'give --source DEV'],
    [['--in', 'x.probe'], '--in FILE needs --dest'],
    [['--source', SRC], 'needs --dest TYPE|DEV, or --out FILE'],
    [['--source', SRC, '--in', 'x.probe', '--dest', 'vgfx-8GB'], '--in'],
    [['--source', SRC, '--out', 'x', '--max-bytes', '0'], 'max-bytes'],
  ])('usage %j: exit 2 with one line', (args, text) => {
    const run = runCli(['probe', ...args, '--sysfs-root', fixtureHost('gpu-a')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(text);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  test('a source in use is never touched: exit 2, DEVICE_IN_USE, error envelope valid', () => {
    const run = runCli(['probe', '--source', BUSY, '--out', path.join(tmp.dir, 'busy.probe'), '--sysfs-root', fixtureHost('gpu-a'), '--json']);
    const env = parseEnvelope(run, 'probe');
    expect(env).toMatchObject({status: 'error', exitCode: 2, error: {code: 'DEVICE_IN_USE'}});
    expect(env.error.message).toContain('pid 4242');
  });

  test('a scratch device in use: exit 2 before the probe file is even read', () => {
    const run = runCli(['probe', '--in', path.join(tmp.dir, 'none'), '--dest', BUSY, '--sysfs-root', fixtureHost('gpu-a'), '--json']);
    expect(parseEnvelope(run, 'probe')).toMatchObject({exitCode: 2, error: {code: 'DEVICE_IN_USE'}});
  });

  test('a migration stream, a garbage file and a missing file are not probe files: exit 2, nothing touched', async () => {
    const root = await copyHost('gpu-a');
    const stream = packed('gpu.state', await buildHeader(new SysfsRoot(fixtureHost('gpu-a')), SRC, 0x3, 'gpu-a'));
    const garbage = path.join(tmp.dir, 'garbage');
    writeFileSync(garbage, 'not a stream at all, just text\n');
    for (const [file, code] of [
      [stream, 'NOT_A_PROBE'],
      [garbage, 'BAD_PROBE_FILE'],
      [path.join(tmp.dir, 'missing'), 'BAD_PROBE_FILE'],
    ]) {
      const run = runCli(['probe', '--in', file!, '--dest', 'vgfx-8GB', '--sysfs-root', root, '--json']);
      expect(parseEnvelope(run, 'probe')).toMatchObject({exitCode: 2, error: {code}});
    }
    const human = runCli(['probe', '--in', stream, '--dest', 'vgfx-8GB', '--sysfs-root', root]);
    expect(human.stderr).toMatch(/^vfio-mig: .*a migration stream, not a probe file: make one with 'vfio-mig probe --source <device> --out FILE'\n$/);
  });

  test('--help documents the exit codes', () => {
    const run = runCli(['probe', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('0 compatible');
    expect(run.stdout).toContain('1 not compatible');
    expect(run.stdout).toContain('--allow-source-stop');
  });
});

describe('human output', () => {
  test('strings from the probe file and sysfs are escaped', () => {
    const result: ProbeResult = {
      capture: null,
      verdict: {
        compatible: false,
        basis: {kind: 'driver'},
        source: {host: 'evil\u001b[2J\nhost', device: SRC},
        destination: {host: 'dst\u202e', kind: 'type', type_id: 'mtty-1\r', parent: 'mtty'},
        scratch: {device: SRC, created: true, removed: true, final_state: 'RUNNING'},
        bytes_accepted: null,
        reasons: [{code: 'DRIVER_REFUSED', message: 'refused', errno: 14, errno_name: 'EFAULT'}],
        steps: [],
      },
    };
    const text = renderProbe(result);
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u202e]/);
    // The newline inside the host name stays inside its line: escaped, not a line of its own.
    expect(text).toContain('evil\\x1b[2J\\nhost');
    expect(text.split('\n').some((line) => line.startsWith('host'))).toBe(false);
    expect(text).toContain('dst\\u202e');
    expect(text).toContain('NOT compatible');
    expect(text).toContain('DRIVER_REFUSED  refused');
  });
});
