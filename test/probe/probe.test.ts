import {EventEmitter} from 'node:events';
import {existsSync, readFileSync} from 'node:fs';
import {mkdir, mkdtemp, readdir, rm, symlink, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';

import {ExitCode, VfioMigError} from '../../src/lib/errors.js';
import {MigFlag, MigState} from '../../src/lib/fsm/states.js';
import {MigrationFailedError} from '../../src/lib/migrate/recover.js';
import type {MdevType} from '../../src/lib/model/types.js';
import {captureProbe, type CaptureOptions} from '../../src/lib/probe/capture.js';
import type {SignalHost} from '../../src/lib/probe/guard.js';
import {judgeProbe, type JudgeOptions} from '../../src/lib/probe/judge.js';
import type {ScratchMdev} from '../../src/lib/probe/scratch.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {parseProbeHeader} from '../../src/lib/probe/header.js';
import {output_probe} from '../../src/lib/schema/generated/output-validators.js';
import {copyHost} from '../helpers/cli.js';
import {FakeDevice, FakeEngine, type Faults} from '../migrate/fake-engine.js';

// gpu-a: SRC is a free 4GB instance; DST (an 8GB instance) is held by pid 4242 unless freed.
const SRC = '50042111-191b-421a-9586-d94555853d83';
const DST = 'cb422412-cf4b-4ce8-b578-bf742f23d32d';
const SCRATCH = '0b9c5d1e-6f7a-4b8c-9d0e-1f2a3b4c5d6e';
const ALL = MigFlag.STOP_COPY | MigFlag.P2P | MigFlag.PRE_COPY;
const NO_PRE = MigFlag.STOP_COPY | MigFlag.P2P;

let root: string;
let busyRoot: string;
let work: string;

beforeAll(async () => {
  busyRoot = await copyHost('gpu-a');
  root = await copyHost('gpu-a');
  await rm(path.join(root, 'proc/4242'), {recursive: true});
  work = await mkdtemp(path.join(tmpdir(), 'vfio-mig-probe-test-'));
});
afterAll(async () => {
  for (const d of [root, busyRoot, work]) await rm(d, {recursive: true, force: true});
});

/** A source, a free device, and a scratch mdev the injected factory "creates". */
function world(opts: {srcFlags?: number; memory?: number; scratchFaults?: Faults; dstFaults?: Faults; srcFaults?: Faults} = {}) {
  const memory = Buffer.from(Array.from({length: opts.memory ?? 4096}, (_, i) => (i * 7) & 0xff));
  const devices = new Map<string, FakeDevice>([
    [SRC, new FakeDevice(opts.srcFlags ?? ALL, memory, opts.srcFaults)],
    [DST, new FakeDevice(ALL, Buffer.alloc(4096), opts.dstFaults)],
  ]);
  const engines: FakeEngine[] = [];
  const start = async () => {
    const e = new FakeEngine(devices);
    engines.push(e);
    return e;
  };
  const mdevs = {created: [] as string[], removed: [] as string[]};
  const createScratch = async (s: SysfsRoot, type: MdevType): Promise<ScratchMdev> => {
    devices.set(SCRATCH, new FakeDevice(ALL, Buffer.alloc(4096), opts.scratchFaults));
    // As the kernel does: the new mdev appears in sysfs with its IOMMU group, and the group node in /dev.
    const dir = s.pathOf(`sys/bus/mdev/devices/${SCRATCH}`);
    await mkdir(dir, {recursive: true});
    await symlink('../../../../kernel/iommu_groups/43', path.join(dir, 'iommu_group'));
    await writeFile(s.pathOf('dev/vfio/43'), '');
    mdevs.created.push(`${type.parent}/${type.id}`);
    const scratch: ScratchMdev = {
      uuid: SCRATCH,
      type,
      removed: false,
      async remove() {
        if (scratch.removed) return;
        // The removal must come after the engine let the device go.
        expect(engines.every((e) => e.closed)).toBe(true);
        mdevs.removed.push(SCRATCH);
        await rm(s.pathOf(`sys/bus/mdev/devices/${SCRATCH}`), {recursive: true});
        await rm(s.pathOf('dev/vfio/43'));
        devices.delete(SCRATCH);
        scratch.removed = true;
      },
    };
    return scratch;
  };
  const signals = new FakeSignals();
  return {devices, src: devices.get(SRC)!, dst: devices.get(DST)!, start, engines, mdevs, createScratch, signals};
}

class FakeSignals extends EventEmitter implements SignalHost {
  raised: string[] = [];
  override on(s: NodeJS.Signals, l: (s: NodeJS.Signals) => void): this {
    return super.on(s, l);
  }
  override off(s: NodeJS.Signals, l: (s: NodeJS.Signals) => void): this {
    return super.off(s, l);
  }
  kill(s: NodeJS.Signals): void {
    this.raised.push(s);
  }
}

type World = ReturnType<typeof world>;
let n = 0;
function capture(w: World, extra: Partial<CaptureOptions> = {}) {
  const out = path.join(work, `p${++n}.probe`);
  return captureProbe({sysfs: new SysfsRoot(root), device: SRC, out, start: w.start, signals: w.signals, ...extra});
}
function judge(w: World, input: string, extra: Partial<JudgeOptions> = {}) {
  return judgeProbe({sysfs: new SysfsRoot(root), dest: 'vgfx-8GB', input, start: w.start, signals: w.signals, createScratch: w.createScratch, ...extra});
}
async function rejection(p: Promise<unknown>): Promise<VfioMigError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(VfioMigError);
  return e as VfioMigError;
}
async function leftovers(): Promise<string[]> {
  return (await readdir(work)).filter((f) => f.includes('.partial-'));
}

describe('probe capture (source side)', () => {
  test('PRE_COPY: the source goes RUNNING -> PRE_COPY -> RUNNING, never stopped, and the bytes are capped', async () => {
    const w = world({memory: 100_000});
    const c = await capture(w, {maxBytes: 1000});
    expect(c).toMatchObject({mode: 'pre_copy', initial_bytes: 100_000, max_bytes: 1000, bytes: 1000, truncated: true});
    expect(c.source_states).toEqual(['RUNNING', 'PRE_COPY', 'RUNNING']);
    expect(w.src.sets).toEqual(['RUNNING->PRE_COPY', 'PRE_COPY->RUNNING']);
    expect(w.src.state).toBe(MigState.RUNNING);
    expect(existsSync(c.file!)).toBe(true);
    expect(w.engines.every((e) => e.closed)).toBe(true);
  });

  test('initial bytes under the cap are read whole', async () => {
    const w = world({memory: 24});
    const c = await capture(w);
    expect(c).toMatchObject({bytes: 24, initial_bytes: 24, truncated: false});
  });

  test('a source without PRE_COPY is refused without --allow-source-stop, untouched (exit 2)', async () => {
    const w = world({srcFlags: NO_PRE});
    const e = await rejection(capture(w));
    expect(e.code).toBe('NEEDS_SOURCE_STOP');
    expect(e.exitCode).toBe(ExitCode.input);
    expect(e.message).toContain('--allow-source-stop');
    expect(w.src.sets).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });

  test('--allow-source-stop: STOP_COPY for the read, always back to RUNNING, time reported', async () => {
    const w = world({srcFlags: NO_PRE, memory: 5000});
    const c = await capture(w, {allowSourceStop: true, maxBytes: 100});
    expect(c).toMatchObject({mode: 'stop_copy', initial_bytes: null, bytes: 100});
    expect(c.stopped_ms).toBeGreaterThanOrEqual(0);
    expect(w.src.state).toBe(MigState.RUNNING);
    expect(c.source_states[0]).toBe('RUNNING');
    expect(c.source_states.at(-1)).toBe('RUNNING');
  });

  test('--allow-source-stop: a read that does not end within --max-stop-ms is cut off and the source returned to RUNNING', async () => {
    const w = world({srcFlags: NO_PRE, srcFaults: {hangRead: true}});
    const e = await rejection(capture(w, {allowSourceStop: true, maxStopMs: 50}));
    expect(e).toBeInstanceOf(MigrationFailedError);
    expect(e.message).toContain('not back in RUNNING within 50 ms');
    expect(w.src.state).toBe(MigState.RUNNING);
    expect(await leftovers()).toEqual([]);
  });

  test('a failed read returns the source to RUNNING and leaves no file (exit 3)', async () => {
    const w = world({srcFaults: {failReadAfter: 10}});
    const e = await rejection(capture(w));
    expect(e.exitCode).toBe(ExitCode.runtime);
    expect(w.src.state).toBe(MigState.RUNNING);
    expect(w.src.sets.at(-1)).toBe('PRE_COPY->RUNNING');
    expect(await leftovers()).toEqual([]);
  });

  test('a failed RUNNING -> PRE_COPY arc leaves the source RUNNING', async () => {
    const w = world({srcFaults: {failArc: {from: MigState.RUNNING, to: MigState.PRE_COPY, errno: 'EIO'}}});
    const e = await rejection(capture(w));
    expect(e.message).toContain('RUNNING -> PRE_COPY failed');
    expect(w.src.state).toBe(MigState.RUNNING);
  });

  test('SIGTERM during the probe: the source goes back to RUNNING, then the signal is raised again', async () => {
    const w = world({srcFaults: {hangRead: true}});
    const p = capture(w).catch((e: unknown) => e);
    for (let i = 0; i < 200 && w.src.state !== MigState.PRE_COPY; i++) await new Promise((r) => setTimeout(r, 10));
    expect(w.src.state).toBe(MigState.PRE_COPY);
    w.signals.emit('SIGTERM', 'SIGTERM');
    await p;
    await new Promise((r) => setTimeout(r, 10));
    expect(w.src.state).toBe(MigState.RUNNING);
    expect(w.signals.raised).toEqual(['SIGTERM']);
    expect(w.signals.listenerCount('SIGINT')).toBe(0);
  });

  test('a device in use is never touched (exit 2)', async () => {
    const w = world();
    const e = await rejection(
      captureProbe({sysfs: new SysfsRoot(busyRoot), device: DST, out: path.join(work, 'busy.probe'), start: w.start, signals: w.signals}),
    );
    expect(e.code).toBe('DEVICE_IN_USE');
    expect(w.engines).toHaveLength(0);
  });
});

describe('probe judge (destination side)', () => {
  test('compatible: the scratch mdev takes the bytes, is reset, and is removed', async () => {
    const w = world();
    const c = await capture(w);
    const v = await judge(w, c.file!);
    expect(v).toMatchObject({compatible: true, basis: {kind: 'driver'}, reasons: [], bytes_accepted: 4096});
    expect(v.scratch).toEqual({device: SCRATCH, created: true, removed: true, final_state: 'RUNNING'});
    expect(v.destination).toMatchObject({kind: 'type', type_id: 'vgfx-8GB', parent: '0000:65:00.0'});
    expect(v.source).toMatchObject({device: SRC});
    expect(w.mdevs).toEqual({created: ['0000:65:00.0/vgfx-8GB'], removed: [SCRATCH]});
  });

  test('refused write: not compatible with the driver\'s errno; scratch reset and removed', async () => {
    const w = world({scratchFaults: {refuseWrite: 'EFAULT'}});
    const c = await capture(w);
    const v = await judge(w, c.file!);
    expect(v.compatible).toBe(false);
    expect(v.reasons).toEqual([expect.objectContaining({code: 'DRIVER_REFUSED', errno: 14, errno_name: 'EFAULT'})]);
    expect(v.reasons[0]!.message).toContain('EFAULT');
    expect(v.bytes_accepted).toBeNull();
    expect(v.scratch).toMatchObject({removed: true, final_state: 'RUNNING'});
    expect(w.mdevs.removed).toEqual([SCRATCH]);
  });

  test('ENOMEM (longer than the destination\'s state) is a refusal too', async () => {
    const w = world({scratchFaults: {refuseWrite: 'ENOMEM'}});
    const v = await judge(w, (await capture(w)).file!);
    expect(v.reasons[0]).toMatchObject({errno_name: 'ENOMEM', errno: 12});
  });

  test.each([
    ['STOP -> RESUMING fails', {failArc: {from: MigState.STOP, to: MigState.RESUMING, errno: 'EIO'}} as Faults, ExitCode.runtime],
    ['the arc to RESUMING sends the device to ERROR', {errorArc: {from: MigState.STOP, to: MigState.RESUMING}} as Faults, ExitCode.deviceReset],
    ['the probe file is corrupt', {corruptAt: 40} as Faults, ExitCode.runtime],
    ['the reset after the probe fails', {refuseWrite: 'EFAULT', failReset: true} as Faults, ExitCode.recoveryFailed],
  ])('scratch mdev removed when %s', async (_what, faults, exit) => {
    const w = world({scratchFaults: faults});
    const file = (await capture(w)).file!;
    const e = await rejection(judge(w, file));
    expect(e.exitCode).toBe(exit);
    expect(w.mdevs.removed).toEqual([SCRATCH]);
    expect(w.engines.every((x) => x.closed)).toBe(true);
  });

  test('SIGINT while the scratch mdev exists: it is removed before the signal is raised again', async () => {
    const w = world({scratchFaults: {}});
    const file = (await capture(w)).file!;
    // Hold the judge at its first request to the scratch device.
    const start = async () => {
      const e = await w.start();
      const orig = e.request.bind(e);
      e.request = (async (op: string, args: never, o?: never) => {
        if (op === 'open') {
          w.signals.emit('SIGINT', 'SIGINT');
          await new Promise((r) => setTimeout(r, 20));
        }
        return orig(op as never, args, o);
      }) as typeof e.request;
      return e;
    };
    await judge(w, file, {start}).catch(() => undefined);
    expect(w.mdevs.removed).toEqual([SCRATCH]);
    expect(w.signals.raised).toEqual(['SIGINT']);
  });

  test('a named free device is the scratch: reset, not removed', async () => {
    const w = world();
    const v = await judge(w, (await capture(w)).file!, {dest: DST});
    expect(v).toMatchObject({compatible: true, destination: {kind: 'device', device: DST}});
    expect(v.scratch).toEqual({device: DST, created: false, removed: false, final_state: 'RUNNING'});
    expect(w.mdevs.created).toEqual([]);
    expect(w.dst.state).toBe(MigState.RUNNING);
  });

  test('the source itself, a device in use, an unknown type: refused before anything is touched (exit 2)', async () => {
    const w = world();
    const file = (await capture(w)).file!;
    expect((await rejection(judge(w, file, {dest: SRC}))).code).toBe('IS_SOURCE');
    expect((await rejection(judge(w, file, {dest: DST, sysfs: new SysfsRoot(busyRoot)}))).code).toBe('DEVICE_IN_USE');
    expect((await rejection(judge(w, file, {dest: 'no-such-type'}))).code).toBe('UNKNOWN_TYPE');
    expect(w.mdevs.created).toEqual([]);
    expect(w.src.sets).toEqual(['RUNNING->PRE_COPY', 'PRE_COPY->RUNNING']);
  });
});

describe('formats', () => {
  test('capture and verdicts match schemas/output/probe.schema.json; the header matches probe-header.schema.json', async () => {
    const ok = world();
    const c = await capture(ok);
    const yes = await judge(ok, c.file!);
    const bad = world({scratchFaults: {refuseWrite: 'EFAULT'}});
    const no = await judge(bad, (await capture(bad)).file!);
    for (const result of [{capture: c, verdict: yes}, {capture: null, verdict: no}, {capture: c, verdict: null}]) {
      expect(output_probe(result) ? [] : output_probe.errors).toEqual([]);
    }
    // The fake engine writes the header as the first line of its file.
    const header = parseProbeHeader(readFileSync(c.file!, 'utf8').split('\n')[0]!, c.file!);
    expect(header).toMatchObject({kind: 'ProbeHeader', stream: {kind: 'StreamHeader', source: {device: SRC}}, probe: {mode: 'pre_copy', initial_bytes: 4096, max_bytes: 65536}});
  });
});
