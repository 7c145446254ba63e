/**
 * The static engines `npm run build` puts in engine/prebuilt/ for the package: the right ELF
 * machine, no dynamic loader, mode 755, and each one runs: x64 natively, arm64 under
 * qemu-aarch64 (Debian's qemu-user-static or qemu-user; .ci/run installs it): the CRC32C self
 * test, the protocol's hello, and a stream verified (the reader/writer threads).
 */
import {spawnSync} from 'node:child_process';
import {readFileSync, statSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {ROOT, ensureEngine, random, responses, runEngine, tempDir} from '../engine/helpers.js';
import {ensurePrebuilt} from './helpers.js';

const ELF_MACHINE: Record<string, number> = {x64: 62, arm64: 183};
const PT_INTERP = 3;

function elf(file: string): {machine: number; interpreter: boolean} {
  const b = readFileSync(file);
  expect(b.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  expect(b[4]).toBe(2); // 64-bit
  const phoff = Number(b.readBigUInt64LE(0x20));
  const phentsize = b.readUInt16LE(0x36);
  const phnum = b.readUInt16LE(0x38);
  let interpreter = false;
  for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === PT_INTERP) interpreter = true;
  return {machine: b.readUInt16LE(0x12), interpreter};
}

/** How to run a binary of `arch` here: directly on the same arch, else through qemu-user. */
function runner(arch: string): string[] {
  if (arch === process.arch) return [];
  if (arch !== 'arm64') throw new Error(`no emulator chosen for ${arch}`);
  for (const q of ['qemu-aarch64-static', 'qemu-aarch64']) {
    if (spawnSync(q, ['--version']).status === 0) return [q];
  }
  throw new Error('qemu-aarch64 not found: install qemu-user-static (or qemu-user) to test the arm64 engine');
}

let tmp: {dir: string; cleanup: () => void};
beforeAll(() => {
  ensurePrebuilt();
  tmp = tempDir('vfio-mig-prebuilt-');
});
afterAll(() => tmp.cleanup());

describe.each(['x64', 'arm64'])('engine/prebuilt/linux-%s', (arch) => {
  const binary = path.join(ROOT, 'engine/prebuilt', `linux-${arch}`, 'vfio-mig-engine');
  const run = (args: string[], input?: string) => {
    const [cmd, ...pre] = [...runner(arch), binary];
    return spawnSync(cmd as string, [...pre, ...args], {encoding: 'utf8', input, timeout: 60_000});
  };

  test('a static executable for its machine, mode 755', () => {
    expect(elf(binary)).toEqual({machine: ELF_MACHINE[arch], interpreter: false});
    expect(statSync(binary).mode & 0o777).toBe(0o755);
  });

  test('runs: self test, version, hello', () => {
    const selftest = run(['--selftest']);
    expect([selftest.status, selftest.stderr]).toEqual([0, '']);
    expect(selftest.stdout).toMatch(/^crc32c selftest: impl=\S+ vectors=5 random=\d+ failures=0\n$/);
    expect(run(['--version']).stdout).toMatch(/^vfio-mig-engine \d+\.\d+\.\d+ \(protocol 1, stream format 1, crc32c \S+\)\n$/);
    const hello = JSON.parse(run([], '{"v":1,"id":1,"op":"hello"}\n').stdout.split('\n')[0] as string) as Record<string, unknown>;
    expect(hello).toMatchObject({v: 1, id: 1, op: 'hello', ok: true, protocol: 1});
  });

  test('verifies a 3 MiB stream (packed by the local test build: pack is not shipped)', () => {
    const input = path.join(tmp.dir, `${arch}.bin`);
    const stream = path.join(tmp.dir, `${arch}.vfm`);
    writeFileSync(input, random(3 << 20));
    ensureEngine();
    expect(responses(runEngine([{v: 1, id: 1, op: 'pack', in_path: input, out_path: stream, header: '{}'}]).replies)).toMatchObject([
      {id: 1, ok: true, payload_bytes: 3 << 20},
    ]);
    const requests = [{v: 1, id: 2, op: 'verify', in_path: stream}];
    const out = run([], requests.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const replies = out.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.event === undefined);
    expect(replies).toMatchObject([{id: 2, ok: true, payload_bytes: 3 << 20, header: '{}'}]);
  });
});
