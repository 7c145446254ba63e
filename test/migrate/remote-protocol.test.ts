import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {rm} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type {Stream} from 'node:stream';

import {EngineProcess} from '../../src/lib/engine/index.js';
import type {OpArgs, OpName, OpResult, ProgressEvent} from '../../src/lib/engine/protocol.js';
import {MigFlag, MigState} from '../../src/lib/fsm/states.js';
import type {EngineLike} from '../../src/lib/migrate/control.js';
import {receiveMigration} from '../../src/lib/migrate/remote/receive.js';
import {sendMigration} from '../../src/lib/migrate/remote/send.js';
import {SysfsRoot} from '../../src/lib/sysfs/root.js';
import {ensureEngine, TEST_ENGINE} from '../engine/helpers.js';
import {copyHost} from '../helpers/cli.js';
import {FakeDevice, FakeEngine, type Faults} from './fake-engine.js';

/**
 * The whole remote protocol on this host: two real engines (the test build) move the data
 * over a real UNIX socket, framed as on the wire; the devices' states are simulated (FakeDevice,
 * the kernel's own state table), their data a file read by the source's engine and a file
 * written by the destination's (the engine's attach_data testing aid).
 */
const SRC = '50042111-191b-421a-9586-d94555853d83';
const DST = 'cb422412-cf4b-4ce8-b578-bf742f23d32d';
const DATA_OPS = new Set(['save_begin', 'save', 'save_end', 'load_begin', 'load', 'load_end']);

class DataBackedEngine implements EngineLike {
  private attached = false;
  constructor(
    private readonly real: EngineProcess,
    private readonly sim: FakeEngine,
    private readonly data: {path: string; mode: 'read' | 'write'},
  ) {}

  async request<O extends OpName>(op: O, args: OpArgs<O>, opts?: {onProgress?: (ev: ProgressEvent) => void}): Promise<OpResult<O>> {
    if (!DATA_OPS.has(op)) return this.sim.request(op, args, opts);
    if ((op === 'save' || op === 'load') && !this.attached) {
      this.attached = true;
      await this.real.request('attach_data' as O, {path: this.data.path, mode: this.data.mode} as unknown as OpArgs<O>);
    }
    return this.real.request(op, args, opts);
  }

  cancel(): Promise<void> {
    return this.real.cancel();
  }

  async close(): Promise<number | null> {
    await this.sim.close();
    return this.real.close();
  }
}

let dir: string;
let sysfs: SysfsRoot;
beforeAll(async () => {
  ensureEngine();
  dir = mkdtempSync(path.join(os.tmpdir(), 'vfio-mig-remote-proto-'));
  // The fixture host has a VM holding a group (pid 4242): these devices are free.
  const root = await copyHost('gpu-a');
  await rm(path.join(root, 'proc/4242'), {recursive: true});
  sysfs = new SysfsRoot(root);
});
afterAll(() => rmSync(dir, {recursive: true, force: true}));

async function migrate(opts: {precopyRounds: number; srcFaults?: Faults; dstFaults?: Faults; timeoutMs?: number}) {
  const memory = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < memory.length; i++) memory[i] = (i * 7 + 3) & 0xff;
  const memFile = path.join(dir, `mem-${Math.random()}`);
  const outFile = path.join(dir, `out-${Math.random()}`);
  writeFileSync(memFile, memory);
  writeFileSync(outFile, '');
  const flags = MigFlag.STOP_COPY | MigFlag.P2P | MigFlag.PRE_COPY;
  const src = new FakeDevice(flags, memory, opts.srcFaults ?? {});
  const dst = new FakeDevice(flags, Buffer.alloc(0), opts.dstFaults ?? {});
  const sock = path.join(dir, `s${Math.random().toString(36).slice(2, 8)}.sock`);
  const starter = (dev: FakeDevice, id: string, data: {path: string; mode: 'read' | 'write'}) => async (fds?: unknown) => {
    const real = await EngineProcess.start({binary: TEST_ENGINE, data: fds as Array<number | Stream>});
    return new DataBackedEngine(real, new FakeEngine(new Map([[id, dev]])), data);
  };
  const receiving = receiveMigration({
    sysfs,
    device: DST,
    channel: {kind: 'unix-listen', path: sock},
    peerTimeoutMs: 5000,
    headerCheck: {trustDriver: true},
    start: starter(dst, DST, {path: outFile, mode: 'write'}),
  }).then(
    (r) => ({ok: true as const, r}),
    (e: unknown) => ({ok: false as const, e: e as Error & {code: string; exitCode: number; details?: Record<string, unknown>}}),
  );
  await new Promise((r) => setTimeout(r, 150));
  const sending = await sendMigration({
    sysfs,
    device: SRC,
    channel: {kind: 'unix', path: sock},
    precopyRounds: opts.precopyRounds,
    peerTimeoutMs: 5000,
    ...(opts.timeoutMs ? {timeoutMs: opts.timeoutMs} : {}),
    start: starter(src, SRC, {path: memFile, mode: 'read'}),
  }).then(
    (r) => ({ok: true as const, r}),
    (e: unknown) => ({ok: false as const, e: e as Error & {code: string; exitCode: number; details?: Record<string, unknown>}}),
  );
  return {send: sending, recv: await receiving, memory, out: readFileSync(outFile), src, dst};
}

describe('migrate send / receive over a real socket', () => {
  test.each([0, 3])('round trip with %i PRE_COPY rounds: the data arrives, the source stops only after the destination runs', async (rounds) => {
    const m = await migrate({precopyRounds: rounds});
    if (!m.send.ok) throw m.send.e;
    if (!m.recv.ok) throw m.recv.e;
    expect(m.out.equals(m.memory)).toBe(true);
    expect(m.send.r).toMatchObject({source_state: 'STOP', dest_state: 'RUNNING', dest: {device: DST}});
    expect(m.recv.r).toMatchObject({final_state: 'RUNNING', source: {device: SRC}, payload_bytes: m.memory.length});
    if (rounds > 0) {
      expect(m.send.r.precopy_rounds.length).toBeGreaterThan(0);
      expect(m.recv.r.precopy_bytes).toBe(m.memory.length);
    } else {
      expect(m.recv.r.precopy_bytes).toBe(0);
    }
    // The destination ran before the source stopped for good: the last source step is to STOP.
    expect(m.src.sets.at(-1)).toBe('STOP_COPY->STOP');
    expect(m.dst.sets.at(-1)).toBe('RUNNING_P2P->RUNNING');
  });

  test('the destination refuses the data at RESUMING -> STOP: source RUNNING, destination reset, same outcome on both', async () => {
    const m = await migrate({precopyRounds: 1, dstFaults: {rejectLoad: true}});
    expect(m.send.ok).toBe(false);
    expect(m.recv.ok).toBe(false);
    if (m.send.ok || m.recv.ok) return;
    expect(m.src.state).toBe(MigState.RUNNING);
    expect(m.dst.state).toBe(MigState.RUNNING);
    expect(m.send.e.exitCode).toBe(3);
    expect(m.recv.e.exitCode).toBe(3);
    expect(m.send.e.details?.cause_code).toBe('ARC_FAILED');
    expect(m.send.e.message).toContain('RESUMING -> STOP failed: EINVAL');
    expect(m.recv.e.details?.cause_code).toBe(m.send.e.details?.cause_code);
    // Each end knows how both devices came out.
    expect((m.send.e.details?.recoveries as unknown[]).length).toBe(2);
    expect((m.recv.e.details?.recoveries as unknown[]).length).toBe(2);
  });

  test('the source fails in STOP_COPY (a read error): both report its cause; the destination resets', async () => {
    const m = await migrate({precopyRounds: 0, srcFaults: {failArc: {from: MigState.STOP, to: MigState.STOP_COPY, errno: 'EIO'}}});
    expect(m.send.ok || m.recv.ok).toBe(false);
    if (m.send.ok || m.recv.ok) return;
    expect(m.src.state).toBe(MigState.RUNNING);
    expect(m.dst.state).toBe(MigState.RUNNING);
    expect(m.send.e.details?.cause_code).toBe('ARC_FAILED');
    expect(m.recv.e.details?.cause_code).toBe('ARC_FAILED');
    expect(m.recv.e.exitCode).toBe(m.send.e.exitCode);
  });
});
