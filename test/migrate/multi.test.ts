import {readFileSync, readdirSync} from 'node:fs';
import {cp, readdir, readFile, rm, symlink, writeFile} from 'node:fs/promises';
import path from 'node:path';

import {Ajv2020} from 'ajv/dist/2020.js';

import {ExitCode} from '../../src/lib/errors.js';
import {MigFlag, MigState} from '../../src/lib/fsm/states.js';
import {InterruptedError} from '../../src/lib/migrate/guard.js';
import {runMigration} from '../../src/lib/migrate/run.js';
import {loadDevice, loadGroup} from '../../src/lib/migrate/load.js';
import {saveDevice, saveGroup} from '../../src/lib/migrate/save.js';
import {prepareDevice} from '../../src/lib/prepare/apply.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {copyHost} from '../helpers/cli.js';
import {failure} from '../helpers/migrate.js';
import {ROOT} from '../engine/helpers.js';
import {fixtureList} from '../compat/helpers.js';
import {FakeDevice, FakeEngine} from './fake-engine.js';

// gpu-a: two 4GB sources, two 8GB destinations prepared for them (the second of each a clone).
const SRC = '50042111-191b-421a-9586-d94555853d83';
const DST = 'cb422412-cf4b-4ce8-b578-bf742f23d32d';
const SRC2 = '50042111-191b-421a-9586-d94555853d8f';
const DST2 = 'cb422412-cf4b-4ce8-b578-bf742f23d32f';
const SC = MigFlag.STOP_COPY;
const P2P = MigFlag.P2P;
const PRE = MigFlag.PRE_COPY;
const PARENT = 'sys/devices/pci0000:64/0000:64:00.0/0000:65:00.0';

let root: string;
let sysfs: SysfsRoot;

async function clone(dir: string, from: string, to: string): Promise<void> {
  await cp(path.join(dir, PARENT, from), path.join(dir, PARENT, to), {recursive: true, verbatimSymlinks: true});
  await symlink(`../../../devices/pci0000:64/0000:64:00.0/0000:65:00.0/${to}`, path.join(dir, 'sys/bus/mdev/devices', to));
}

beforeAll(async () => {
  root = await copyHost('gpu-a');
  await rm(path.join(root, 'proc/4242'), {recursive: true});
  for (const [name, value] of Object.entries({memory: '4096', ecc: '1', profile: 'v2', encoder: '0', queues: '4'})) {
    await writeFile(path.join(root, PARENT, DST, 'migration', name), `${value}\n`);
  }
  await clone(root, SRC, SRC2);
  await clone(root, DST, DST2);
  sysfs = new SysfsRoot(root);
});

/** Two pairs; each pair's engines share a wire (the socket pair), in the order run starts them. */
function world(flags: number, flagsOf: Partial<Record<string, number>> = {}) {
  const log = {entries: [] as string[]};
  const devices = new Map<string, FakeDevice>();
  for (const [id, name, fill] of [
    [SRC, 's1', 7],
    [DST, 'd1', 0],
    [SRC2, 's2', 13],
    [DST2, 'd2', 0],
  ] as const) {
    const dev = new FakeDevice(flagsOf[id] ?? flags, Buffer.from(Array.from({length: 4096}, (_, i) => (i * fill) & 0xff)));
    dev.log = {name, entries: log.entries};
    devices.set(id, dev);
  }
  const wires = [0, 1].map((i) => {
    let written = () => undefined as void;
    return {path: path.join(root, `wire-${i}-${Math.random()}`), done: new Promise<void>((resolve) => (written = resolve)), written: () => written()};
  });
  const engines: FakeEngine[] = [];
  const start = async (data?: unknown) => {
    const e = new FakeEngine(devices, undefined, wires[Math.floor(engines.length / 2)], typeof data === 'number' ? data : undefined);
    engines.push(e);
    return e;
  };
  const pairs = [
    {source: SRC, dest: DST},
    {source: SRC2, dest: DST2},
  ];
  return {s1: devices.get(SRC)!, d1: devices.get(DST)!, s2: devices.get(SRC2)!, d2: devices.get(DST2)!, log: log.entries, start, engines, pairs};
}

/** Problems of a failed run's error.details against migrate-run.schema.json#/$defs/failure. */
function failureSchemaProblems(details: unknown): unknown[] {
  const ajv = new Ajv2020({strict: true, allowUnionTypes: true, allErrors: true});
  const dir = path.join(ROOT, 'schemas');
  for (const sub of ['', 'output']) {
    for (const f of readdirSync(path.join(dir, sub)).filter((n) => n.endsWith('.schema.json'))) ajv.addSchema(JSON.parse(readFileSync(path.join(dir, sub, f), 'utf8')) as object);
  }
  const validate = ajv.compile({$ref: 'https://vfio-mig.dev/schemas/output/migrate-run.schema.json#/$defs/failure'});
  return validate(details) ? [] : (validate.errors ?? []);
}

function index(log: string[], entry: string): number {
  const i = log.indexOf(entry);
  if (i < 0) throw new Error(`${entry} not in ${log.join(' ')}`);
  return i;
}

describe('several pairs, all or nothing (QEMU order)', () => {
  it('moves both: every source quiesced before any stops, every destination validated before any runs', async () => {
    const w = world(SC | P2P);
    const r = await runMigration({sysfs, pairs: w.pairs, start: w.start});
    expect(r.pairs.map((p) => [p.source, p.dest, p.source_state, p.dest_state, p.payload_bytes])).toEqual([
      [SRC, DST, 'STOP', 'RUNNING', 4096],
      [SRC2, DST2, 'STOP', 'RUNNING', 4096],
    ]);
    expect(w.d1.memory.equals(w.s1.memory)).toBe(true);
    expect(w.d2.memory.equals(w.s2.memory)).toBe(true);
    const at = (e: string) => index(w.log, e);
    // Both sources in RUNNING_P2P before either leaves it for STOP.
    expect(Math.max(at('s1:RUNNING->RUNNING_P2P'), at('s2:RUNNING->RUNNING_P2P'))).toBeLessThan(Math.min(at('s1:RUNNING_P2P->STOP'), at('s2:RUNNING_P2P->STOP')));
    // Both destinations validated (RESUMING -> STOP) before either goes to RUNNING_P2P, both there before either runs.
    expect(Math.max(at('d1:RESUMING->STOP'), at('d2:RESUMING->STOP'))).toBeLessThan(Math.min(at('d1:STOP->RUNNING_P2P'), at('d2:STOP->RUNNING_P2P')));
    expect(Math.max(at('d1:STOP->RUNNING_P2P'), at('d2:STOP->RUNNING_P2P'))).toBeLessThan(Math.min(at('d1:RUNNING_P2P->RUNNING'), at('d2:RUNNING_P2P->RUNNING')));
    // The sources stop for good only once both destinations run.
    expect(Math.max(at('d1:RUNNING_P2P->RUNNING'), at('d2:RUNNING_P2P->RUNNING'))).toBeLessThan(Math.min(at('s1:STOP_COPY->STOP'), at('s2:STOP_COPY->STOP')));
    expect(w.s2.sets).toEqual(['RUNNING->RUNNING_P2P', 'RUNNING_P2P->STOP', 'STOP->STOP_COPY', 'STOP_COPY->STOP']);
  });

  it('with PRE_COPY the barrier is PRE_COPY_P2P', async () => {
    const w = world(SC | P2P | PRE);
    const r = await runMigration({sysfs, pairs: w.pairs, start: w.start, precopyRounds: 1, maxDowntimeMs: 0});
    expect(r.pairs.every((p) => p.precopy_rounds.length === 1)).toBe(true);
    const at = (e: string) => index(w.log, e);
    expect(Math.max(at('s1:PRE_COPY->PRE_COPY_P2P'), at('s2:PRE_COPY->PRE_COPY_P2P'))).toBeLessThan(Math.min(at('s1:PRE_COPY_P2P->STOP_COPY'), at('s2:PRE_COPY_P2P->STOP_COPY')));
    expect(w.d2.memory.equals(w.s2.memory)).toBe(true);
    // The report lists the four devices' steps in the order they were taken, so the barrier
    // can be read from it (the bed reads it so on the real kernel).
    const name: Record<string, string> = {[SRC]: 's1', [DST]: 'd1', [SRC2]: 's2', [DST2]: 'd2'};
    const reported = r.steps.map((s) => `${name[s.device]}:${s.from}->${s.to}`);
    expect(reported).toEqual(w.log.filter((e) => reported.includes(e)));
    expect(reported.indexOf('s2:PRE_COPY->PRE_COPY_P2P')).toBeLessThan(reported.indexOf('s1:PRE_COPY_P2P->STOP_COPY'));
  });

  it('the second destination rejecting its state unwinds all four: sources RUNNING, destinations reset, each named', async () => {
    const w = world(SC | P2P);
    w.d2.faults = {rejectLoad: true};
    const error = await failure(runMigration({sysfs, pairs: w.pairs, start: w.start}));
    expect(error.exitCode).toBe(ExitCode.runtime);
    expect(error.recoveries.map((r) => [r.device, r.role, r.outcome, r.state])).toEqual([
      [SRC, 'source', 'device_fine', 'RUNNING'],
      [DST, 'destination', 'device_fine', 'RUNNING'],
      [SRC2, 'source', 'device_fine', 'RUNNING'],
      [DST2, 'destination', 'device_fine', 'RUNNING'],
    ]);
    // The first destination had loaded fine: it is reset all the same.
    expect(w.d1.sets).toContain('STOP->RESUMING');
    expect(w.engines[1]!.ops).toContain('reset');
    expect(w.engines.filter((e) => e.ops.includes('commit'))).toEqual([]);
    expect(w.s1.memory[1]).toBe(7);
    expect(w.s1.state).toBe(MigState.RUNNING);
    expect(w.s2.state).toBe(MigState.RUNNING);
    // What --json puts in error.details is the documented shape.
    expect(failureSchemaProblems(error.details)).toEqual([]);
  });

  it('a device going to ERROR on the first source: the others unwound, that one reset (exit 4)', async () => {
    const w = world(SC | P2P);
    w.s1.faults = {errorArc: {from: MigState.STOP, to: MigState.STOP_COPY}};
    const error = await failure(runMigration({sysfs, pairs: w.pairs, start: w.start}));
    expect(error.exitCode).toBe(ExitCode.deviceReset);
    expect(error.recoveries.map((r) => [r.device, r.outcome])).toEqual([
      [SRC, 'device_reset'],
      [DST, 'device_fine'],
      [SRC2, 'device_fine'],
      [DST2, 'device_fine'],
    ]);
    expect([w.s1, w.d1, w.s2, w.d2].map((d) => d.state)).toEqual([0, 1, 2, 3].map(() => MigState.RUNNING));
  });

  it('a stalled transfer of one pair and a signal: the whole group is cancelled, exit 130', async () => {
    const w = world(SC | P2P);
    w.s2.faults = {stallSave: true};
    const ac = new AbortController();
    const running = runMigration({sysfs, pairs: w.pairs, start: w.start, signal: ac.signal});
    while (w.s2.state !== MigState.STOP_COPY) await new Promise((resolve) => setTimeout(resolve, 2));
    ac.abort(new InterruptedError('SIGINT'));
    const error = await failure(running);
    expect(error.exitCode).toBe(ExitCode.sigint);
    expect([w.s1, w.d1, w.s2, w.d2].map((d) => d.state)).toEqual([0, 1, 2, 3].map(() => MigState.RUNNING));
  });

  it('--timeout applies to the group', async () => {
    const w = world(SC | P2P);
    w.s1.faults = {stallSave: true};
    const error = await failure(runMigration({sysfs, pairs: w.pairs, start: w.start, timeoutMs: 50}));
    expect(error.message).toMatch(/STOP_COPY did not finish within --timeout 50 ms/);
    expect(error.recoveries).toHaveLength(4);
  });

  it('a device without P2P is refused before anything moves, naming it (exit 2)', async () => {
    const w = world(SC | P2P, {[DST2]: SC});
    const error = (await runMigration({sysfs, pairs: w.pairs, start: w.start}).catch((e: unknown) => e)) as {exitCode: number; code: string; message: string};
    expect(error).toMatchObject({exitCode: ExitCode.input, code: 'NO_P2P'});
    expect(error.message).toContain(`${DST2}: does not offer P2P`);
    expect(w.log).toEqual([]);
  });

  it('a device named in two pairs is refused', async () => {
    const w = world(SC | P2P);
    await expect(runMigration({sysfs, pairs: [w.pairs[0]!, {source: SRC2, dest: SRC}], start: w.start})).rejects.toMatchObject({code: 'DUPLICATE_DEVICE'});
  });
});

describe('an interrupted prepare of the destination is rolled back by run and load', () => {
  /** A prepare of DST towards another list, killed after its first write. */
  async function interruptedPrepare(): Promise<void> {
    const died = new Error('died');
    const hooks = {written: async (n: number) => {
      if (n === 1) throw died;
    }};
    await expect(prepareDevice(sysfs, DST, await fixtureList('gpu-a-8GB.json'), {hooks, host: 'gpu-b'})).rejects.toBe(died);
  }

  it('run: rolled back before the header check (which then passes), reported', async () => {
    await interruptedPrepare();
    const w = world(SC | P2P);
    const r = await runMigration({sysfs, pairs: [w.pairs[0]!], start: w.start});
    expect(r.pairs[0]!.recovered_prepare).toMatchObject({pid: process.pid, restored: [{ok: true}]});
    expect(w.d1.memory.equals(w.s1.memory)).toBe(true);
    // Once rolled back there is nothing left to do.
    const again = await runMigration({sysfs, pairs: [w.pairs[0]!], start: world(SC | P2P).start});
    expect(again.pairs[0]!.recovered_prepare).toBeUndefined();
  });

  it('load: the same', async () => {
    const w = world(SC);
    const file = path.join(root, 'for-load.state');
    await saveDevice({sysfs, device: SRC, output: {path: file}, start: w.start, finalState: 'running'});
    await interruptedPrepare();
    const r = await loadDevice({sysfs, device: DST, input: {path: file}, start: w.start});
    expect(r.recovered_prepare).toMatchObject({pid: process.pid, restored: [{ok: true}]});
    expect(r.final_state).toBe('RUNNING');
  });
});

describe('several devices to one stream (saveGroup)', () => {
  it('QEMU order, the transfers into part files joined in order; the first header announces the second', async () => {
    const w = world(SC | P2P);
    const out = path.join(root, 'group.state');
    const r = await saveGroup({sysfs, devices: [SRC, SRC2], output: {path: out}, start: w.start, finalState: 'running'});
    expect(r.members.map((m) => [m.device, m.final_state, m.payload_bytes])).toEqual([
      [SRC, 'RUNNING', 4096],
      [SRC2, 'RUNNING', 4096],
    ]);
    const at = (e: string) => index(w.log, e);
    expect(Math.max(at('s1:RUNNING->RUNNING_P2P'), at('s2:RUNNING->RUNNING_P2P'))).toBeLessThan(Math.min(at('s1:RUNNING_P2P->STOP'), at('s2:RUNNING_P2P->STOP')));
    // The fake writes each member as a header line then its bytes: the first header comes first.
    const text = await readFile(out);
    const first = JSON.parse(text.subarray(0, text.indexOf(10)).toString()) as {group: {index: number; count: number; members: {source: {device: string}}[]}};
    expect(first.group).toMatchObject({index: 0, count: 2});
    expect(first.group.members.map((h) => h.source.device)).toEqual([SRC2]);
    expect(text.length).toBeGreaterThan(2 * 4096);
    expect((await readdir(root)).filter((f) => f.includes('.part-') || f.includes('.partial-'))).toEqual([]);
  });

  it('not through a pipe (--out - / --in -): refused before anything moves (exit 2)', async () => {
    const w = world(SC | P2P);
    await expect(saveGroup({sysfs, devices: [SRC, SRC2], output: {fd: 1}, start: w.start, finalState: 'stop'})).rejects.toMatchObject({code: 'GROUP_PIPE', exitCode: ExitCode.input});
    await expect(loadGroup({sysfs, devices: [DST, DST2], input: {fd: 0}, start: w.start})).rejects.toMatchObject({code: 'GROUP_PIPE', exitCode: ExitCode.input});
    expect(w.log).toEqual([]);
  });

  it('the second source failing mid-read unwinds both, leaves no file, names both (exit 3)', async () => {
    const w = world(SC | P2P);
    w.s2.faults = {failReadAfter: 100};
    const out = path.join(root, 'group-bad.state');
    const error = await failure(saveGroup({sysfs, devices: [SRC, SRC2], output: {path: out}, start: w.start, finalState: 'stop'}));
    expect(error.exitCode).toBe(ExitCode.runtime);
    expect(error.recoveries.map((r) => [r.device, r.role, r.state])).toEqual([
      [SRC, 'source', 'RUNNING'],
      [SRC2, 'source', 'RUNNING'],
    ]);
    expect(w.engines.filter((e) => e.ops.includes('commit'))).toEqual([]);
    expect((await readdir(root)).filter((f) => f.startsWith('group-bad') || f.includes('.part-'))).toEqual([]);
  });

  it('refused before anything moves: a device without P2P (exit 2), --raw with several, a device named twice', async () => {
    const w = world(SC | P2P, {[SRC2]: SC});
    const out = {path: path.join(root, 'never.state')};
    await expect(saveGroup({sysfs, devices: [SRC, SRC2], output: out, start: w.start, finalState: 'stop'})).rejects.toMatchObject({code: 'NO_P2P', exitCode: ExitCode.input});
    await expect(saveGroup({sysfs, devices: [SRC, SRC2], output: out, raw: true, start: w.start, finalState: 'stop'})).rejects.toMatchObject({code: 'RAW_GROUP'});
    await expect(saveGroup({sysfs, devices: [SRC, SRC], output: out, start: w.start, finalState: 'stop'})).rejects.toMatchObject({code: 'DUPLICATE_DEVICE'});
    expect(w.log).toEqual([]);
  });

  it('loadGroup: a one-device stream for two destinations is refused before any device is touched', async () => {
    const w = world(SC | P2P);
    const file = path.join(root, 'one.state');
    await saveDevice({sysfs, device: SRC, output: {path: file}, start: w.start, finalState: 'running'});
    const before = w.log.length;
    await expect(loadGroup({sysfs, devices: [DST, DST2], input: {path: file}, start: w.start})).rejects.toMatchObject({code: 'GROUP_COUNT', exitCode: ExitCode.input});
    expect(w.log.length).toBe(before);
  });
});
