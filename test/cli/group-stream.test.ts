import {readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {buildHeader, type StreamHeader} from '../../src/lib/migrate/header.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {ensureEngine, random, responses, runEngine, tempDir} from '../engine/helpers.js';
import {fixtureHost, parseEnvelope, runCli} from '../helpers/cli.js';

// gpu-a's two instances, saved together as `migrate save A B` writes them.
const A = '50042111-191b-421a-9586-d94555853d83';
const B = 'cb422412-cf4b-4ce8-b578-bf742f23d32d';

/** One member stream, packed by the engine with the given header. */
function pack(dir: string, name: string, header: StreamHeader, payload: Buffer): Buffer {
  const raw = path.join(dir, `${name}.raw`);
  const out = path.join(dir, `${name}.part`);
  writeFileSync(raw, payload);
  const [reply] = responses(runEngine([{id: 1, op: 'pack', in_path: raw, out_path: out, header: JSON.stringify(header)}]).replies);
  expect(reply).toMatchObject({ok: true});
  return readFileSync(out);
}

/** A group stream of A and B (member 0 announces member 1), and its two parts. */
async function groupStream(dir: string): Promise<{file: string; parts: Buffer[]; headers: StreamHeader[]}> {
  const sysfs = new SysfsRoot(fixtureHost('gpu-a'));
  const a = await buildHeader(sysfs, A, 0x3, 'gpu-a', 70_000);
  const b = await buildHeader(sysfs, B, 0x3, 'gpu-a', 50_000);
  const headers = [
    {...a, group: {index: 0, count: 2, members: [b]}},
    {...b, group: {index: 1, count: 2}},
  ];
  const parts = [pack(dir, 'a', headers[0]!, random(70_000)), pack(dir, 'b', headers[1]!, random(50_000))];
  const file = path.join(dir, 'vm.state');
  writeFileSync(file, Buffer.concat(parts));
  return {file, parts, headers};
}

describe('group streams (several devices in one stream): migrate verify', () => {
  const tmp = tempDir('vfio-mig-group-');
  // The streams are packed by the test build of the engine.
  beforeAll(() => ensureEngine());
  afterAll(() => tmp.cleanup());

  it('checks every member; --json lists them and the totals, and matches its schema', async () => {
    const {file, parts} = await groupStream(tmp.dir);
    const run = runCli(['migrate', 'verify', '--in', file, '--json']);
    const result = parseEnvelope(run, 'migrate verify').result;
    expect(run.code).toBe(0);
    expect(result.members.map((m: {header: StreamHeader; payload_bytes: number}) => [m.header.source.device, m.payload_bytes])).toEqual([
      [A, 70_000],
      [B, 50_000],
    ]);
    expect(result).toMatchObject({payload_bytes: 120_000, stream_bytes: parts[0]!.length + parts[1]!.length, header: {group: {index: 0, count: 2}}});
    const human = runCli(['migrate', 'verify', '--in', '-'], {input: readFileSync(file)});
    expect(human.stdout).toContain('-: intact (2 devices)');
  });

  it('a flipped byte in the second member is reported at its byte in the whole stream (exit 3)', async () => {
    const {file, parts} = await groupStream(tmp.dir);
    const bytes = readFileSync(file);
    const at = parts[0]!.length + 2000;
    bytes[at]! ^= 0x01;
    const bad = path.join(tmp.dir, 'flipped');
    writeFileSync(bad, bytes);
    const run = runCli(['migrate', 'verify', '--in', bad]);
    expect(run.code).toBe(3);
    const n = Number(/stream corrupt at byte (\d+)/.exec(run.stderr)?.[1]);
    // The chunk holding the flipped byte is reported at its payload's start, inside member 2.
    expect(n).toBeGreaterThan(parts[0]!.length);
    expect(n).toBeLessThanOrEqual(at);
  });

  it('a member cut off, a member that is not the announced device, data after a one-device stream: refused', async () => {
    const {file, parts, headers} = await groupStream(tmp.dir);
    const short = path.join(tmp.dir, 'short');
    writeFileSync(short, parts[0]!);
    const cut = runCli(['migrate', 'verify', '--in', short, '--json']);
    expect(parseEnvelope(cut, 'migrate verify')).toMatchObject({exitCode: 3, error: {code: 'STREAM_CORRUPT'}});
    // Member 1 claims another device than the one announced.
    const other = pack(tmp.dir, 'c', {...headers[1]!, source: {...headers[1]!.source, device: A}}, random(10));
    const swapped = path.join(tmp.dir, 'swapped');
    writeFileSync(swapped, Buffer.concat([parts[0]!, other]));
    const wrong = runCli(['migrate', 'verify', '--in', swapped]);
    expect([wrong.code, wrong.stderr]).toEqual([2, `vfio-mig: ${swapped}: member 1 of the group stream is not the device its first header announced\n`]);
    // A one-device stream with bytes after its trailer.
    const single = pack(tmp.dir, 'single', await buildHeader(new SysfsRoot(fixtureHost('gpu-a')), A, 0x3, 'gpu-a', 10), random(10));
    const tail = path.join(tmp.dir, 'tail');
    writeFileSync(tail, Buffer.concat([single, Buffer.from('x')]));
    const extra = runCli(['migrate', 'verify', '--in', tail]);
    expect([extra.code, extra.stderr]).toEqual([3, `vfio-mig: stream corrupt at byte ${single.length}: unexpected data after the trailer\n`]);
    expect(runCli(['migrate', 'verify', '--in', file]).code).toBe(0);
  });

  it('migrate load: a group stream needs one destination per device, named in order (exit 2, before any device)', async () => {
    const {file} = await groupStream(tmp.dir);
    const one = runCli(['migrate', 'load', B, '--in', file, '--sysfs-root', fixtureHost('gpu-a')]);
    expect([one.code, one.stderr]).toEqual([2, `vfio-mig: ${file}: holds 2 devices (${A}, ${B}); name 2 destinations, in that order\n`]);
  });
});
