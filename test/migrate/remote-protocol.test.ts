import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {cp, rm, symlink} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type {Stream} from 'node:stream';

import {EngineProcess} from '../../src/lib/engine/index.js';
import type {OpArgs, OpName, OpResult, ProgressEvent} from '../../src/lib/engine/protocol.js';
import {MigFlag, MigState} from '../../src/lib/fsm/states.js';
import type {EngineLike} from '../../src/lib/migrate/control.js';
import {receiveGroup, type ReceiveGroupResult, receiveMigration, type ReceiveResult} from '../../src/lib/migrate/remote/receive.js';
import {sendGroup, type SendGroupResult, sendMigration, type SendResult} from '../../src/lib/migrate/remote/send.js';
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
const SRC2 = '50042111-191b-421a-9586-d94555853d84';
const DST2 = 'cb422412-cf4b-4ce8-b578-bf742f23d32f';
const PARENT = 'sys/devices/pci0000:64/0000:64:00.0/0000:65:00.0';

beforeAll(async () => {
  ensureEngine();
  dir = mkdtempSync(path.join(os.tmpdir(), 'vfio-mig-remote-proto-'));
  // The fixture host has a VM holding a group (pid 4242): these devices are free.
  const root = await copyHost('gpu-a');
  await rm(path.join(root, 'proc/4242'), {recursive: true});
  // A second pair of devices, copies of the first.
  for (const [from, to] of [
    [SRC, SRC2],
    [DST, DST2],
  ] as const) {
    await cp(path.join(root, PARENT, from), path.join(root, PARENT, to), {recursive: true, verbatimSymlinks: true});
    await symlink(`../../../devices/pci0000:64/0000:64:00.0/0000:65:00.0/${to}`, path.join(root, 'sys/bus/mdev/devices', to));
  }
  sysfs = new SysfsRoot(root);
});
afterAll(() => rmSync(dir, {recursive: true, force: true}));

type Failed = Error & {code: string; exitCode: number; details?: Record<string, unknown>};
const settle = <T>(p: Promise<T>) => p.then((r) => ({ok: true as const, r}), (e: unknown) => ({ok: false as const, e: e as Failed}));

interface Opts {
  precopyRounds: number;
  srcFaults?: Faults[];
  dstFaults?: Faults[];
  timeoutMs?: number;
  /** Devices per side (default 1: the flat one-device API). */
  n?: number;
  /** How many destinations the receiver is given (default n). */
  receivers?: number;
  flags?: number[];
  /** Over TCP on the loopback (the README's TCP form) instead of a UNIX socket. */
  tcp?: boolean;
}

/** n source devices, each with its own memory, sent to n destinations over one socket. */
async function migrateN(opts: Opts) {
  const n = opts.n ?? 1;
  const srcIds = [SRC, SRC2].slice(0, n);
  const dstIds = [DST, DST2].slice(0, opts.receivers ?? n);
  const log = {entries: [] as string[]};
  const memories = srcIds.map((_, k) => {
    const m = Buffer.alloc(3 * 1024 * 1024 + 17 + k * 4096);
    for (let i = 0; i < m.length; i++) m[i] = (i * (7 + 2 * k) + 3) & 0xff;
    return m;
  });
  const memFiles = memories.map((m) => {
    const f = path.join(dir, `mem-${Math.random()}`);
    writeFileSync(f, m);
    return f;
  });
  const outFiles = dstIds.map(() => {
    const f = path.join(dir, `out-${Math.random()}`);
    writeFileSync(f, '');
    return f;
  });
  const flags = MigFlag.STOP_COPY | MigFlag.P2P | MigFlag.PRE_COPY;
  const srcs = memories.map((m, k) => new FakeDevice(opts.flags?.[k] ?? flags, m, opts.srcFaults?.[k] ?? {}));
  const dsts = dstIds.map((_, k) => new FakeDevice(opts.flags?.[n + k] ?? flags, Buffer.alloc(0), opts.dstFaults?.[k] ?? {}));
  srcs.forEach((d, k) => (d.log = {name: `s${k + 1}`, entries: log.entries}));
  dsts.forEach((d, k) => (d.log = {name: `d${k + 1}`, entries: log.entries}));
  const sock = path.join(dir, `s${Math.random().toString(36).slice(2, 8)}.sock`);
  const port = 20000 + Math.floor(Math.random() * 30000);
  const listen = opts.tcp ? ({kind: 'tcp-listen', host: '127.0.0.1', port} as const) : ({kind: 'unix-listen', path: sock} as const);
  const connect = opts.tcp ? ({kind: 'tcp', host: '127.0.0.1', port} as const) : ({kind: 'unix', path: sock} as const);
  // The k-th engine a side starts drives its k-th device.
  const starter = (devs: FakeDevice[], ids: string[], files: string[], mode: 'read' | 'write') => {
    let k = 0;
    return async (fds?: unknown) => {
      const i = k++;
      const real = await EngineProcess.start({binary: TEST_ENGINE, data: fds as Array<number | Stream>});
      return new DataBackedEngine(real, new FakeEngine(new Map([[ids[i]!, devs[i]!]])), {path: files[i]!, mode});
    };
  };
  const common = {sysfs, peerTimeoutMs: 5000};
  const rstart = starter(dsts, dstIds, outFiles, 'write');
  const receiving = settle<ReceiveResult | ReceiveGroupResult>(
    n === 1 && dstIds.length === 1
      ? receiveMigration({...common, device: DST, channel: listen, headerCheck: {trustDriver: true}, start: rstart})
      : receiveGroup({...common, devices: dstIds, channel: listen, headerCheck: {trustDriver: true}, start: rstart}),
  );
  await new Promise((r) => setTimeout(r, 150));
  const sopts = {
    ...common,
    channel: connect,
    precopyRounds: opts.precopyRounds,
    ...(opts.timeoutMs ? {timeoutMs: opts.timeoutMs} : {}),
    start: starter(srcs, srcIds, memFiles, 'read'),
  };
  const sending = await settle<SendResult | SendGroupResult>(n === 1 ? sendMigration({...sopts, device: SRC}) : sendGroup({...sopts, devices: srcIds}));
  const recv = await receiving;
  return {send: sending, recv, memories, outs: outFiles.map((f) => readFileSync(f)), srcs, dsts, log: log.entries};
}

async function migrate(opts: {precopyRounds: number; srcFaults?: Faults; dstFaults?: Faults; timeoutMs?: number; tcp?: boolean}) {
  const m = await migrateN({...opts, srcFaults: [opts.srcFaults ?? {}], dstFaults: [opts.dstFaults ?? {}]});
  return {
    send: m.send as {ok: true; r: SendResult} | {ok: false; e: Failed},
    recv: m.recv as {ok: true; r: ReceiveResult} | {ok: false; e: Failed},
    memory: m.memories[0]!,
    out: m.outs[0]!,
    src: m.srcs[0]!,
    dst: m.dsts[0]!,
  };
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

  test('over TCP (the README\'s TCP form, on the loopback): the data arrives, the source stops after the destination runs', async () => {
    const m = await migrate({precopyRounds: 2, tcp: true});
    if (!m.send.ok) throw m.send.e;
    if (!m.recv.ok) throw m.recv.e;
    expect(m.out.equals(m.memory)).toBe(true);
    expect(m.send.r).toMatchObject({channel: expect.stringMatching(/^tcp:127\.0\.0\.1:\d+$/), source_state: 'STOP', dest_state: 'RUNNING'});
    expect(m.recv.r.channel).toMatch(/^tcp-listen:127\.0\.0\.1:\d+$/);
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

describe('several devices across the two hosts, all or nothing', () => {
  const P = MigFlag.STOP_COPY | MigFlag.P2P | MigFlag.PRE_COPY;

  test('two devices with PRE_COPY: each destination gets its source\'s data, in QEMU\'s order', async () => {
    const m = await migrateN({n: 2, precopyRounds: 2});
    if (!m.send.ok) throw m.send.e;
    if (!m.recv.ok) throw m.recv.e;
    expect(m.outs[0]!.equals(m.memories[0]!)).toBe(true);
    expect(m.outs[1]!.equals(m.memories[1]!)).toBe(true);
    const sent = m.send.r as unknown as {members: {device: string; dest: {device: string}; source_state: string; dest_state: string}[]};
    expect(sent.members.map((x) => [x.device, x.dest.device, x.source_state, x.dest_state])).toEqual([
      [SRC, DST, 'STOP', 'RUNNING'],
      [SRC2, DST2, 'STOP', 'RUNNING'],
    ]);
    const got = m.recv.r as unknown as {members: {device: string; source: {device: string}; payload_bytes: number; precopy_bytes: number}[]};
    expect(got.members.map((x) => [x.device, x.source.device, x.payload_bytes, x.precopy_bytes])).toEqual([
      [DST, SRC, m.memories[0]!.length, m.memories[0]!.length],
      [DST2, SRC2, m.memories[1]!.length, m.memories[1]!.length],
    ]);
    const at = (e: string) => m.log.indexOf(e);
    // Every source quiesced before any stops; every destination validated before any runs; the sources stop last.
    expect(Math.max(at('s1:PRE_COPY->PRE_COPY_P2P'), at('s2:PRE_COPY->PRE_COPY_P2P'))).toBeLessThan(Math.min(at('s1:PRE_COPY_P2P->STOP_COPY'), at('s2:PRE_COPY_P2P->STOP_COPY')));
    expect(Math.max(at('d1:RESUMING->STOP'), at('d2:RESUMING->STOP'))).toBeLessThan(Math.min(at('d1:STOP->RUNNING_P2P'), at('d2:STOP->RUNNING_P2P')));
    expect(Math.max(at('d1:STOP->RUNNING_P2P'), at('d2:STOP->RUNNING_P2P'))).toBeLessThan(Math.min(at('d1:RUNNING_P2P->RUNNING'), at('d2:RUNNING_P2P->RUNNING')));
    expect(Math.max(at('d1:RUNNING_P2P->RUNNING'), at('d2:RUNNING_P2P->RUNNING'))).toBeLessThan(Math.min(at('s1:STOP_COPY->STOP'), at('s2:STOP_COPY->STOP')));
  });

  test('the second destination refuses its data at RESUMING -> STOP: all four devices back, both ends name all four', async () => {
    const m = await migrateN({n: 2, precopyRounds: 1, dstFaults: [{}, {rejectLoad: true}]});
    expect(m.send.ok || m.recv.ok).toBe(false);
    if (m.send.ok || m.recv.ok) return;
    for (const d of [...m.srcs, ...m.dsts]) expect(d.state).toBe(MigState.RUNNING);
    expect(m.send.e.exitCode).toBe(3);
    expect(m.recv.e.exitCode).toBe(3);
    expect(m.send.e.details?.cause_code).toBe('ARC_FAILED');
    expect(m.recv.e.details?.cause_code).toBe('ARC_FAILED');
    for (const e of [m.send.e, m.recv.e]) {
      const rec = e.details?.recoveries as {device: string; role: string; state: string}[];
      expect(rec.map((r) => `${r.role} ${r.device} ${r.state}`).sort()).toEqual(
        [`destination ${DST} RUNNING`, `destination ${DST2} RUNNING`, `source ${SRC} RUNNING`, `source ${SRC2} RUNNING`].sort(),
      );
    }
    // The first destination validated too, but never ran before its reset; each source's last step was back to RUNNING.
    expect(m.log).not.toContain('d1:STOP->RUNNING_P2P');
    for (const d of m.srcs) expect(d.sets.at(-1)).toMatch(/->RUNNING$/);
  });

  test('a receiver given one destination for two sources: refused before either destination is touched, exit 2 on both', async () => {
    const m = await migrateN({n: 2, receivers: 1, precopyRounds: 0});
    expect(m.send.ok || m.recv.ok).toBe(false);
    if (m.send.ok || m.recv.ok) return;
    expect(m.recv.e.code).toBe('DEVICE_COUNT');
    expect(m.send.e.details?.cause_code ?? m.send.e.code).toBe('DEVICE_COUNT');
    expect([m.send.e.exitCode, m.recv.e.exitCode]).toEqual([2, 2]);
    expect(m.dsts[0]!.sets).toEqual([]);
    for (const d of m.srcs) expect(d.state).toBe(MigState.RUNNING);
  });

  test('a second source without P2P: refused before anything moves', async () => {
    const m = await migrateN({n: 2, precopyRounds: 0, flags: [P, MigFlag.STOP_COPY, P, P]});
    expect(m.send.ok).toBe(false);
    if (m.send.ok) return;
    expect(m.send.e.code).toBe('NO_P2P');
    expect(m.send.e.exitCode).toBe(2);
    expect([...m.srcs, ...m.dsts].flatMap((d) => d.sets)).toEqual([]);
  });
});
