import {chmodSync, copyFileSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {buildHeader} from '../../src/lib/migrate/header.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {ENGINE, random, responses, runEngine, tempDir} from '../engine/helpers.js';
import {fixtureHost, parseEnvelope, runCli} from '../helpers/cli.js';

const SRC = '50042111-191b-421a-9586-d94555853d83';

/** A real stream, packed by the engine with the header `migrate save` would write. */
async function packedStream(dir: string, bytes: number): Promise<{file: string; payload: Buffer}> {
  const header = await buildHeader(new SysfsRoot(fixtureHost('gpu-a')), SRC, 0x3, 'gpu-a', bytes);
  const payload = random(bytes);
  const raw = path.join(dir, 'raw');
  const file = path.join(dir, 'gpu.state');
  writeFileSync(raw, payload);
  const [reply] = responses(runEngine([{id: 1, op: 'pack', in_path: raw, out_path: file, header: JSON.stringify(header)}]).replies);
  expect(reply).toMatchObject({ok: true, payload_bytes: bytes});
  return {file, payload};
}

describe('migrate commands without a VFIO device', () => {
  const tmp = tempDir('vfio-mig-cli-');
  afterAll(() => tmp.cleanup());

  it('migrate verify reads a saved stream: header, size, chunks; --json matches its schema', async () => {
    const {file} = await packedStream(tmp.dir, 3 * 1024 * 1024 + 5);
    const human = runCli(['migrate', 'verify', '--in', file]);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`${file}: intact`);
    expect(human.stdout).toMatch(/model:\s+vendor-a\.com\/gfx/);
    const json = runCli(['migrate', 'verify', '--in', file, '--json']);
    const result = parseEnvelope(json, 'migrate verify').result;
    expect(result).toMatchObject({payload_bytes: 3 * 1024 * 1024 + 5, header: {source: {host: 'gpu-a', device: SRC}, migration_flags: ['STOP_COPY', 'P2P']}});
    expect(result.header.param_list.params).toEqual({memory: 4096, ecc: true, profile: 'v2', queues: 4});
  });

  it('migrate verify from stdin', async () => {
    const {file} = await packedStream(tmp.dir, 4096);
    const run = runCli(['migrate', 'verify', '--in', '-', '--json'], {input: readFileSync(file)});
    expect(run.code).toBe(0);
    expect(parseEnvelope(run, 'migrate verify').result.payload_bytes).toBe(4096);
  });

  it('a flipped byte or a truncation: "stream corrupt at byte N", exit 3, one line', async () => {
    const {file} = await packedStream(tmp.dir, 200_000);
    const bytes = readFileSync(file);
    const flipped = Buffer.from(bytes);
    const at = bytes.length - 1000;
    flipped[at]! ^= 0x40;
    writeFileSync(path.join(tmp.dir, 'flipped'), flipped);
    const bad = runCli(['migrate', 'verify', '--in', path.join(tmp.dir, 'flipped')]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/^vfio-mig: stream corrupt at byte \d+/);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    writeFileSync(path.join(tmp.dir, 'short'), bytes.subarray(0, 100_000));
    const short = runCli(['migrate', 'verify', '--in', path.join(tmp.dir, 'short'), '--json']);
    expect(short.code).toBe(3);
    expect(parseEnvelope(short, 'migrate verify')).toMatchObject({status: 'error', error: {code: 'STREAM_CORRUPT'}});
    expect(parseEnvelope(short, 'migrate verify').error.message).toMatch(/stream corrupt at byte 100000/);
  });

  it('the engine missing or not executable: a clear one-line error saying how to build it', () => {
    // On a host that has the device: a missing device is refused (exit 2) before the engine starts.
    const missing = runCli(['migrate', 'caps', SRC, '--sysfs-root', fixtureHost('gpu-a')], {env: {VFIO_MIG_ENGINE: '/nonexistent/vfio-mig-engine'}});
    expect(missing.code).toBe(3);
    expect(missing.stderr).toBe('vfio-mig: migration engine not found at /nonexistent/vfio-mig-engine: it is named by VFIO_MIG_ENGINE: point that at an engine, or unset it to use the package\'s\n');
    const copy = path.join(tmp.dir, 'engine-no-x');
    copyFileSync(ENGINE, copy);
    chmodSync(copy, 0o644);
    // A regular file: /dev/null, a device node, is refused before the engine starts.
    const empty = path.join(tmp.dir, 'empty.state');
    writeFileSync(empty, '');
    const noexec = runCli(['migrate', 'verify', '--in', empty], {env: {VFIO_MIG_ENGINE: copy}});
    expect(noexec.code).toBe(3);
    expect(noexec.stderr).toMatch(/not executable \(mode 644\): chmod 755 it, or it is named by VFIO_MIG_ENGINE/);
  });

  it('a device id that is not a UUID or BDF is refused before the engine starts (exit 2)', () => {
    const run = runCli(['migrate', 'state', '../../x', '--sysfs-root', fixtureHost('gpu-a')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toBe('vfio-mig: ../../x: not an mdev UUID or a PCI address (0000:65:00.0)\n');
  });

  it('a device whose VFIO group cannot be opened: exit 3 naming the device', () => {
    const run = runCli(['migrate', 'caps', SRC, '--sysfs-root', fixtureHost('gpu-a')]);
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/^vfio-mig: .*(\/dev\/vfio|group|50042111)/);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('migrate state --set refuses ERROR as a target (exit 2)', () => {
    const run = runCli(['migrate', 'state', SRC, '--set', 'error']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/ERROR cannot be set/);
  });
});
