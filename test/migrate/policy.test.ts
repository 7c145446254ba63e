import {existsSync} from 'node:fs';
import {readdir, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';

import {ExitCode} from '../../src/lib/errors.js';
import {MigFlag, MigState} from '../../src/lib/fsm/states.js';
import {loadDevice} from '../../src/lib/migrate/load.js';
import {InterruptedError} from '../../src/lib/migrate/guard.js';
import {runMigration} from '../../src/lib/migrate/run.js';
import {saveDevice} from '../../src/lib/migrate/save.js';
import type {MigrationEvent} from '../../src/lib/migrate/session.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {copyHost} from '../helpers/cli.js';
import {failure} from '../helpers/migrate.js';
import {FakeDevice, FakeEngine} from './fake-engine.js';

// gpu-a: the 4GB instance at its defaults (the source), the 8GB instance (made the destination).
const SRC = '50042111-191b-421a-9586-d94555853d83';
const DST = 'cb422412-cf4b-4ce8-b578-bf742f23d32d';
const SC = MigFlag.STOP_COPY;
const P2P = MigFlag.P2P;
const PRE = MigFlag.PRE_COPY;

let root: string;
let sysfs: SysfsRoot;

/** A gpu-a copy whose 8GB instance is free and prepared for the 4GB instance's list. */
async function preparedHost(): Promise<string> {
  const dir = await copyHost('gpu-a');
  await rm(path.join(dir, 'proc/4242'), {recursive: true});
  const mig = path.join(dir, 'sys/devices/pci0000:64/0000:64:00.0/0000:65:00.0', DST, 'migration');
  for (const [name, value] of Object.entries({memory: '4096', ecc: '1', profile: 'v2', encoder: '0', queues: '4'})) {
    await writeFile(path.join(mig, name), `${value}\n`);
  }
  return dir;
}

function world(srcFlags: number, dstFlags = srcFlags) {
  const memory = Buffer.from(Array.from({length: 4096}, (_, i) => (i * 7) & 0xff));
  const devices = new Map([
    [SRC, new FakeDevice(srcFlags, memory)],
    [DST, new FakeDevice(dstFlags, Buffer.alloc(4096))],
  ]);
  let written = () => undefined as void;
  const wire = {path: path.join(root, 'wire'), done: new Promise<void>((resolve) => (written = resolve)), written: () => written()};
  const engines: FakeEngine[] = [];
  const start = async () => {
    const e = new FakeEngine(devices, undefined, wire);
    engines.push(e);
    return e;
  };
  return {src: devices.get(SRC)!, dst: devices.get(DST)!, start, engines};
}

beforeAll(async () => {
  root = await preparedHost();
  sysfs = new SysfsRoot(root);
});

describe('save: arcs one at a time, recovery of the source', () => {
  it('RUNNING -> STOP -> STOP_COPY, state to a file written under a temporary name, source left STOP', async () => {
    const w = world(SC);
    const events: MigrationEvent[] = [];
    const out = path.join(root, 'a.state');
    const result = await saveDevice({sysfs, device: SRC.toUpperCase(), output: {path: out}, start: w.start, finalState: 'stop', onEvent: (e) => events.push(e)});
    expect(w.src.sets).toEqual(['RUNNING->STOP', 'STOP->STOP_COPY', 'STOP_COPY->STOP']);
    expect(result).toMatchObject({device: SRC, payload_bytes: 4096, final_state: 'STOP', size_estimate: 4096});
    expect(w.src.state).toBe(MigState.STOP);
    expect(existsSync(out)).toBe(true);
    expect((await readdir(root)).filter((f) => f.includes('.partial-'))).toEqual([]);
    expect(events.filter((e) => e.event === 'step').map((e) => e.event === 'step' && e.to)).toEqual(['STOP', 'STOP_COPY', 'STOP']);
    expect(w.engines.every((e) => e.closed)).toBe(true);
  });

  it('with P2P the path goes through RUNNING_P2P; final state running returns the source to RUNNING', async () => {
    const w = world(SC | P2P);
    await saveDevice({sysfs, device: SRC, output: {path: path.join(root, 'p2p.state')}, start: w.start, finalState: 'running'});
    expect(w.src.sets).toEqual(['RUNNING->RUNNING_P2P', 'RUNNING_P2P->STOP', 'STOP->STOP_COPY', 'STOP_COPY->STOP', 'STOP->RUNNING_P2P', 'RUNNING_P2P->RUNNING']);
    expect(w.src.state).toBe(MigState.RUNNING);
  });

  it('PRE_COPY rounds, then PRE_COPY -> STOP_COPY; never STOP_COPY -> PRE_COPY', async () => {
    const w = world(SC | PRE);
    const result = await saveDevice({sysfs, device: SRC, output: {path: path.join(root, 'pre.state')}, start: w.start, finalState: 'stop', precopyRounds: 3});
    expect(w.src.sets).toEqual(['RUNNING->PRE_COPY', 'PRE_COPY->STOP_COPY', 'STOP_COPY->STOP']);
    expect(result.precopy_rounds).toEqual([{round: 1, initial_bytes: 4096, dirty_bytes: 0, bytes: 4096, ms: expect.any(Number)}]);
    expect(result.precopy).toMatchObject({switchover: 'fits_budget', remaining_bytes: 0, expected_downtime_ms: 0});
  });

  it('a failed arc is located, the source unwound to RUNNING, no file left (exit 3)', async () => {
    const w = world(SC);
    w.src.faults = {failArc: {from: MigState.STOP, to: MigState.STOP_COPY, errno: 'EIO'}};
    const out = path.join(root, 'failed.state');
    const error = await failure(saveDevice({sysfs, device: SRC, output: {path: out}, start: w.start, finalState: 'stop'}));
    expect(error.exitCode).toBe(ExitCode.runtime);
    expect(error.message).toMatch(/STOP -> STOP_COPY failed: EIO .*device now STOP; source .*: device fine \(RUNNING\)/);
    expect(w.src.state).toBe(MigState.RUNNING);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(root)).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it('a read failure mid-state unwinds the source (migration failed, device fine)', async () => {
    const w = world(SC | P2P);
    w.src.faults = {failReadAfter: 1000};
    const error = await failure(saveDevice({sysfs, device: SRC, output: {path: path.join(root, 'r.state')}, start: w.start, finalState: 'stop'}));
    expect(error.exitCode).toBe(3);
    expect(error.recoveries).toEqual([expect.objectContaining({role: 'source', outcome: 'device_fine', state: 'RUNNING'})]);
    expect(w.src.sets.slice(-3)).toEqual(['STOP_COPY->STOP', 'STOP->RUNNING_P2P', 'RUNNING_P2P->RUNNING']);
  });

  it('a device that went to ERROR is reset: "device needed a reset" (exit 4)', async () => {
    const w = world(SC);
    w.src.faults = {errorArc: {from: MigState.STOP, to: MigState.STOP_COPY}};
    const error = await failure(saveDevice({sysfs, device: SRC, output: {path: path.join(root, 'e.state')}, start: w.start, finalState: 'stop'}));
    expect(error.exitCode).toBe(ExitCode.deviceReset);
    expect(error.message).toMatch(/device needed a reset \(RUNNING\)/);
    expect(w.src.state).toBe(MigState.RUNNING);
    // No SET was sent while the device was in ERROR (the kernel WARNs on that).
    expect(w.src.sets).toEqual(['RUNNING->STOP', 'STOP->STOP_COPY']);
  });

  it('a reset that fails too is "recovery failed" (exit 5)', async () => {
    const w = world(SC);
    w.src.faults = {errorArc: {from: MigState.STOP, to: MigState.STOP_COPY}, failReset: true};
    const error = await failure(saveDevice({sysfs, device: SRC, output: {path: path.join(root, 'f.state')}, start: w.start, finalState: 'stop'}));
    expect(error.exitCode).toBe(ExitCode.recoveryFailed);
  });

  it('a source not RUNNING is refused and left alone', async () => {
    const w = world(SC);
    w.src.state = MigState.STOP;
    await expect(saveDevice({sysfs, device: SRC, output: {path: path.join(root, 's.state')}, start: w.start, finalState: 'stop'})).rejects.toThrow(/is STOP, not RUNNING/);
    expect(w.src.sets).toEqual([]);
    expect(w.src.state).toBe(MigState.STOP);
  });
});

describe('load: header checked before the device is touched; failures reset the destination', () => {
  async function saved(flags = SC): Promise<string> {
    const w = world(flags);
    const out = path.join(root, `src-${flags}.state`);
    await rm(out, {force: true});
    await saveDevice({sysfs, device: SRC, output: {path: out}, start: w.start, finalState: 'stop'});
    return out;
  }

  it('RESUMING, load, STOP, RUNNING; the memory arrives', async () => {
    const file = await saved();
    const w = world(SC);
    const result = await loadDevice({sysfs, device: DST, input: {path: file}, start: w.start});
    expect(w.dst.sets).toEqual(['RUNNING->STOP', 'STOP->RESUMING', 'RESUMING->STOP', 'STOP->RUNNING']);
    expect(result).toMatchObject({final_state: 'RUNNING', payload_bytes: 4096, source: {device: SRC}});
    expect(w.dst.memory.equals(w.src.memory)).toBe(true);
  });

  it('a destination that is not prepared is refused (exit 1) before any SET', async () => {
    const file = await saved();
    const unprepared = await copyHost('gpu-a');
    await rm(path.join(unprepared, 'proc/4242'), {recursive: true});
    const w = world(SC);
    const error = await loadDevice({sysfs: new SysfsRoot(unprepared), device: DST, input: {path: file}, start: w.start}).catch((e) => e);
    expect(error.exitCode).toBe(ExitCode.no);
    expect(error.message).toMatch(/not prepared for this stream \(ecc false -> true, encoder 2 -> 0, memory 8192 -> 4096\); run 'vfio-mig prepare/);
    expect(w.dst.sets).toEqual([]);
  });

  it('a corrupt stream: "stream corrupt at byte N", destination reset (exit 3)', async () => {
    const file = await saved();
    const w = world(SC);
    w.dst.faults = {corruptAt: 1234};
    const error = await failure(loadDevice({sysfs, device: DST, input: {path: file}, start: w.start}));
    expect(error.exitCode).toBe(3);
    expect(error.message).toMatch(/^migration failed: stream corrupt at byte 1234; destination .*: device fine \(RUNNING\)/);
    expect(w.dst.state).toBe(MigState.RUNNING);
  });

  it('state the driver rejects on RESUMING -> STOP resets the destination', async () => {
    const file = await saved();
    const w = world(SC);
    w.dst.faults = {rejectLoad: true};
    const error = await failure(loadDevice({sysfs, device: DST, input: {path: file}, start: w.start}));
    expect(error.message).toMatch(/RESUMING -> STOP failed: EINVAL/);
    expect(error.recoveries[0]).toMatchObject({role: 'destination', outcome: 'device_fine', actions: ['state RESUMING', 'VFIO_DEVICE_RESET']});
    expect(w.dst.state).toBe(MigState.RUNNING);
  });

  it('a destination that went to ERROR: device needed a reset (exit 4)', async () => {
    const file = await saved();
    const w = world(SC);
    w.dst.faults = {errorArc: {from: MigState.RESUMING, to: MigState.STOP}};
    const error = await failure(loadDevice({sysfs, device: DST, input: {path: file}, start: w.start}));
    expect(error.exitCode).toBe(ExitCode.deviceReset);
  });
});

describe('run: both devices, one host', () => {
  it('moves the state; source STOP, destination RUNNING, P2P paths on both', async () => {
    const w = world(SC | P2P);
    const {pairs: [result]} = await runMigration({sysfs, pairs: [{source: SRC, dest: DST}], start: w.start});
    expect(result).toMatchObject({source_state: 'STOP', dest_state: 'RUNNING', payload_bytes: 4096});
    expect(w.dst.memory.equals(w.src.memory)).toBe(true);
    expect(w.src.sets).toEqual(['RUNNING->RUNNING_P2P', 'RUNNING_P2P->STOP', 'STOP->STOP_COPY', 'STOP_COPY->STOP']);
    expect(w.dst.sets).toEqual(['RUNNING->RUNNING_P2P', 'RUNNING_P2P->STOP', 'STOP->RESUMING', 'RESUMING->STOP', 'STOP->RUNNING_P2P', 'RUNNING_P2P->RUNNING']);
  });

  it('a destination failure brings the source back to RUNNING and resets the destination', async () => {
    const w = world(SC);
    w.dst.faults = {rejectLoad: true};
    const error = await failure(runMigration({sysfs, pairs: [{source: SRC, dest: DST}], start: w.start}));
    expect(error.recoveries.map((r) => [r.role, r.outcome, r.state])).toEqual([
      ['source', 'device_fine', 'RUNNING'],
      ['destination', 'device_fine', 'RUNNING'],
    ]);
    expect(w.src.state).toBe(MigState.RUNNING);
  });

  it('the same device as source and destination is refused', async () => {
    const w = world(SC);
    await expect(runMigration({sysfs, pairs: [{source: SRC, dest: SRC}], start: w.start})).rejects.toThrow(/source and destination are the same device/);
  });
});

/** Resolves once the device reaches `state` (the fake moves synchronously, timers run between). */
async function reached(dev: FakeDevice, state: number): Promise<void> {
  while (dev.state !== state) await new Promise((resolve) => setTimeout(resolve, 2));
}

describe('never stranded: cancellation, signals, timeouts', () => {
  it('a destination failing while the source is blocked on the wire: both aborted at once, its error reported', async () => {
    const w = world(SC);
    w.src.faults = {stallSave: true};
    w.dst.faults = {corruptAt: 77};
    const error = await failure(runMigration({sysfs, pairs: [{source: SRC, dest: DST}], start: w.start, precopyRounds: 0}));
    expect(error.message).toMatch(/^migration failed: stream corrupt at byte 77; source .*: device fine \(RUNNING\); destination .*: device fine \(RUNNING\)/);
    expect(error.exitCode).toBe(ExitCode.runtime);
    // The source's blocked save was cancelled before anything else was asked of it.
    const [srcEngine] = w.engines;
    expect(srcEngine!.cancelled).toBe(1);
    expect(srcEngine!.ops.slice(srcEngine!.ops.indexOf('cancel'), srcEngine!.ops.indexOf('cancel') + 2)).toEqual(['cancel', 'save_end']);
    expect(w.src.state).toBe(MigState.RUNNING);
    expect(w.dst.state).toBe(MigState.RUNNING);
  });

  it('a source failing while the destination waits for data: the loader is cancelled, source error reported', async () => {
    const w = world(SC);
    w.src.faults = {failArc: {from: MigState.STOP, to: MigState.STOP_COPY, errno: 'EIO'}};
    const error = await failure(runMigration({sysfs, pairs: [{source: SRC, dest: DST}], start: w.start, precopyRounds: 0}));
    expect(error.message).toMatch(/STOP -> STOP_COPY failed: EIO/);
    expect(w.engines[1]!.cancelled).toBe(1);
    expect(error.recoveries.map((r) => [r.role, r.state])).toEqual([
      ['source', 'RUNNING'],
      ['destination', 'RUNNING'],
    ]);
  });

  it('a signal during STOP_COPY: exit 130, source RUNNING, destination reset', async () => {
    const w = world(SC);
    w.src.faults = {stallSave: true};
    const ac = new AbortController();
    const running = runMigration({sysfs, pairs: [{source: SRC, dest: DST}], start: w.start, signal: ac.signal, precopyRounds: 0});
    await reached(w.src, MigState.STOP_COPY);
    ac.abort(new InterruptedError('SIGINT'));
    const error = await failure(running);
    expect(error.exitCode).toBe(ExitCode.sigint);
    expect(error.code).toBe('INTERRUPTED');
    expect(w.src.state).toBe(MigState.RUNNING);
    expect(w.dst.sets).toContain('STOP->RESUMING');
    expect(w.dst.state).toBe(MigState.RUNNING);
  });

  it('--timeout ends a STOP_COPY that does not finish; the save leaves no file and the source runs', async () => {
    const w = world(SC);
    w.src.faults = {stallSave: true};
    const out = path.join(root, 'timeout.state');
    const t0 = Date.now();
    const error = await failure(saveDevice({sysfs, device: SRC, output: {path: out}, start: w.start, finalState: 'stop', timeoutMs: 50}));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(error.message).toMatch(/STOP_COPY did not finish within --timeout 50 ms/);
    expect(error.exitCode).toBe(ExitCode.runtime);
    expect(w.src.state).toBe(MigState.RUNNING);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(root)).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it('SIGTERM during a save: exit 143, no partial file, source RUNNING', async () => {
    const w = world(SC);
    w.src.faults = {stallSave: true};
    const ac = new AbortController();
    const saving = saveDevice({sysfs, device: SRC, output: {path: path.join(root, 'term.state')}, start: w.start, finalState: 'stop', signal: ac.signal});
    await reached(w.src, MigState.STOP_COPY);
    ac.abort(new InterruptedError('SIGTERM'));
    const error = await failure(saving);
    expect(error.exitCode).toBe(ExitCode.sigterm);
    expect(w.src.state).toBe(MigState.RUNNING);
    expect((await readdir(root)).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it('a hand-over save commits the source before stopping it; a snapshot does not', async () => {
    const stop = world(SC);
    await saveDevice({sysfs, device: SRC, output: {path: path.join(root, 'commit.state')}, start: stop.start, finalState: 'stop'});
    expect(stop.engines[0]!.ops.filter((o) => o === 'commit')).toHaveLength(1);
    const snap = world(SC);
    const r = await saveDevice({sysfs, device: SRC, output: {path: path.join(root, 'snap.state')}, start: snap.start, finalState: 'running'});
    expect(snap.engines[0]!.ops).not.toContain('commit');
    expect(r!.final_state).toBe('RUNNING');
  });

  it('run commits the source only after the destination validated the state', async () => {
    const w = world(SC);
    w.dst.faults = {rejectLoad: true};
    await failure(runMigration({sysfs, pairs: [{source: SRC, dest: DST}], start: w.start}));
    expect(w.engines[0]!.ops).not.toContain('commit');
  });
});

describe('downtime budget: PRE_COPY rounds until what is left fits', () => {
  it('switches over once the dirty rest fits the budget at the measured rate', async () => {
    const w = world(SC | PRE);
    w.src.faults = {dirtyPerRound: 1024};
    const {pairs: [r], ...g} = await runMigration({sysfs, pairs: [{source: SRC, dest: DST}], start: w.start, maxDowntimeMs: 300});
    expect(r!.precopy_rounds).toHaveLength(1);
    expect(r!.precopy).toMatchObject({switchover: 'fits_budget', remaining_bytes: 1024});
    expect(r!.precopy.expected_downtime_ms).toBeLessThanOrEqual(300);
    expect(g.max_downtime_ms).toBe(300);
  });

  it('stops when a round no longer shrinks what is left', async () => {
    const w = world(SC | PRE);
    w.src.faults = {dirtyPerRound: 1024};
    const {pairs: [r], ...g} = await runMigration({sysfs, pairs: [{source: SRC, dest: DST}], start: w.start, maxDowntimeMs: 0});
    expect(r!.precopy_rounds.map((x) => x.bytes)).toEqual([4096, 1024]);
    expect(r!.precopy.switchover).toBe('no_progress');
  });

  it('stops at the round limit; 0 rounds means straight to STOP_COPY', async () => {
    const w = world(SC | PRE);
    w.src.faults = {dirtyPerRound: 1024};
    const {pairs: [r], ...g} = await runMigration({sysfs, pairs: [{source: SRC, dest: DST}], start: w.start, maxDowntimeMs: 0, precopyRounds: 1});
    expect(r!.precopy).toMatchObject({switchover: 'round_limit'});
    const none = world(SC | PRE);
    const {pairs: [r0]} = await runMigration({sysfs, pairs: [{source: SRC, dest: DST}], start: none.start, precopyRounds: 0});
    expect(r0!.precopy.switchover).toBe('no_precopy');
    expect(none.src.sets[0]).toBe('RUNNING->STOP');
  });
});

describe('v1 migration region (Linux 5.8 to 5.17)', () => {
  it('is named with the kernel range and what to do, before anything moves (exit 2)', async () => {
    const w = world(SC);
    w.src.v1Region = true;
    const error = await saveDevice({sysfs, device: SRC, output: {path: path.join(root, 'v1.state')}, start: w.start, finalState: 'stop'}).catch((e: unknown) => e);
    expect(error).toMatchObject({code: 'MIGRATION_V1', exitCode: ExitCode.input});
    expect((error as Error).message).toMatch(/deprecated v1 migration region \(Linux 5\.8 to 5\.17, removed in 5\.18\).*run Linux 5\.18 or later/);
    expect(w.src.sets).toEqual([]);
  });
});
