import {appendFileSync, readFileSync, writeFileSync} from 'node:fs';

import {EngineError, type EngineErrorResponse} from '../../src/lib/engine/errors.js';
import type {OpArgs, OpName, OpResult, ProgressEvent} from '../../src/lib/engine/protocol.js';
import {path as fsmPath} from '../../src/lib/fsm/machine.js';
import {MigState, type MigStateValue, stateName} from '../../src/lib/fsm/states.js';
import type {EngineLike} from '../../src/lib/migrate/control.js';

/** Faults a simulated device can be told to produce, as the reference driver's knobs do. */
export interface Faults {
  /** Fail this arc with an errno; the device stays in the arc's from-state. */
  failArc?: {from: MigStateValue; to: MigStateValue; errno?: string};
  /** This arc sends the device to ERROR. */
  errorArc?: {from: MigStateValue; to: MigStateValue};
  /** Reading the state fails after this many bytes. */
  failReadAfter?: number;
  /** The driver rejects loaded data on RESUMING -> STOP. */
  rejectLoad?: boolean;
  /** The stream is corrupt at this offset when loading. */
  corruptAt?: number;
  /** VFIO_DEVICE_RESET fails. */
  failReset?: boolean;
  /** A data read (save) or write (load) that blocks until the transfer is cancelled. */
  stallSave?: boolean;
  stallLoad?: boolean;
  /** The guest dirties this many bytes during each PRE_COPY round (reported by PRECOPY_INFO). */
  dirtyPerRound?: number;
  /** write() on the RESUMING data_fd fails with this errno (mtty: EFAULT on a foreign header). */
  refuseWrite?: string;
  /** A data_fd read never returns (until the engine is closed). */
  hangRead?: boolean;
}

/** A device as the kernel presents it, plus the wire the engine would stream over. */
export class FakeDevice {
  state: MigStateValue = MigState.RUNNING;
  /** A 5.8-5.17 kernel's device: no v2 migration, a v1 migration region instead. */
  v1Region = false;
  /** Every SET the policy sent, in order: the policy must never send a refused arc. */
  readonly sets: string[] = [];
  /** Shared by several devices: every SET of each, in the order they happened, as `name:FROM->TO`. */
  log?: {name: string; entries: string[]};
  constructor(
    readonly flags: number,
    public memory: Buffer,
    public faults: Faults = {},
  ) {}
}

const ERRNO: Record<string, number> = {EIO: 5, EINVAL: 22, ENOTTY: 25, EBADF: 9, ENODEV: 19, EBUSY: 16, EFAULT: 14, ENOMEM: 12};

function fail(op: string, code: string, errno: string, message: string, extra: Partial<EngineErrorResponse> = {}): never {
  throw new EngineError({v: 1, id: 0, op, ok: false, errno: ERRNO[errno] ?? 5, error: errno, code, message, ...extra});
}

/**
 * A protocol-level stand-in for the engine over a simulated device: the same requests and
 * responses, the kernel's own next-state table, a data session per opened data_fd.
 */
export class FakeEngine implements EngineLike {
  private output: string | undefined;
  private input: {header: string | null; payload: Buffer} | undefined;
  private inputPath: string | undefined;
  private sessionOpen = false;
  private readSoFar = 0;
  private dirty = 0;
  closed = false;
  /** Requests received, in order (ops only). */
  readonly ops: string[] = [];
  private cancelTransfer: (() => void) | undefined;
  /** Set when the transfer in progress was cancelled. */
  cancelled = 0;
  private onClose: (() => void) | undefined;

  constructor(
    readonly devices: Map<string, FakeDevice>,
    private device?: FakeDevice,
    private readonly wire?: {path: string; done: Promise<void>; written: () => void},
    /** A descriptor of ours the engine inherited as its fd 3 (read from its current offset). */
    private readonly dataFd?: number,
  ) {}

  async request<O extends OpName>(op: O, args: OpArgs<O>, opts: {onProgress?: (ev: ProgressEvent) => void} = {}): Promise<OpResult<O>> {
    this.ops.push(op);
    return this.handle(op, args as Record<string, unknown>, opts) as Promise<OpResult<O>>;
  }

  /** As the engine: a waiting transfer ends with CANCELLED. */
  async cancel(): Promise<void> {
    this.ops.push('cancel');
    if (this.cancelTransfer) {
      this.cancelled++;
      this.cancelTransfer();
    }
  }

  /** A transfer blocked on a peer that never moves: only cancel() ends it. */
  private stall(op: string): Promise<never> {
    return new Promise((_, reject) => {
      this.cancelTransfer = () => {
        this.cancelTransfer = undefined;
        reject(new EngineError({v: 1, id: 0, op, ok: false, errno: 125, error: 'ECANCELED', code: 'CANCELLED', message: 'transfer cancelled'}));
      };
    });
  }

  private dev(op: string): FakeDevice {
    if (!this.device) fail(op, 'NO_DEVICE', 'EBADF', 'no device open');
    return this.device;
  }

  private async handle(op: string, args: Record<string, unknown>, opts: {onProgress?: (ev: ProgressEvent) => void}): Promise<unknown> {
    const base = {v: 1, id: 1, op, ok: true};
    switch (op) {
      case 'open': {
        this.device = this.devices.get(args.device as string);
        if (!this.device) fail(op, 'NO_DEVICE', 'ENODEV', `${args.device}: no such device`);
        if (this.device.v1Region) {
          return {...base, device: args.device, bus: 'pci', group: 1, migration_supported: false, migration_flags: 0, migration_flags_names: [], migration_v1_region: true};
        }
        return {...base, device: args.device, bus: 'mdev', group: 1, migration_supported: true, migration_flags: this.device.flags, migration_flags_names: []};
      }
      case 'get_state':
        return {...base, state: this.dev(op).state, state_name: stateName(this.dev(op).state), data_session: this.sessionOpen};
      case 'set_state': {
        const d = this.dev(op);
        const to = args.state as MigStateValue;
        d.sets.push(`${stateName(d.state)}->${stateName(to)}`);
        d.log?.entries.push(`${d.log.name}:${stateName(d.state)}->${stateName(to)}`);
        const walk = fsmPath(d.flags, d.state, to, 'latest');
        if (walk.rejected) fail(op, 'EINVAL', 'EINVAL', walk.reason, {device_state: d.state});
        let opened = false;
        for (const arc of walk.arcs) {
          if (d.faults.errorArc && arc.from === d.faults.errorArc.from && arc.to === d.faults.errorArc.to) {
            d.state = MigState.ERROR;
            fail(op, 'EIO', 'EIO', 'injected: arc went to ERROR', {device_state: d.state});
          }
          if (d.faults.failArc && arc.from === d.faults.failArc.from && arc.to === d.faults.failArc.to) {
            const errno = d.faults.failArc.errno ?? 'EIO';
            fail(op, errno, errno, 'injected arc failure', {device_state: d.state});
          }
          if (arc.from === MigState.RESUMING && arc.to === MigState.STOP && d.faults.rejectLoad) {
            fail(op, 'EINVAL', 'EINVAL', 'the driver rejected the loaded state', {device_state: d.state});
          }
          const entering = arc.to === MigState.STOP_COPY || arc.to === MigState.PRE_COPY || arc.to === MigState.RESUMING;
          const fromSaving = [MigState.PRE_COPY, MigState.PRE_COPY_P2P, MigState.STOP_COPY].includes(arc.from as 3 | 6 | 7);
          if (entering && !(fromSaving && arc.to !== MigState.RESUMING)) {
            opened = true;
            this.sessionOpen = true;
            this.readSoFar = 0;
          }
          if (arc.to === MigState.STOP || arc.to === MigState.RUNNING) this.sessionOpen = false;
          d.state = arc.to;
        }
        return {...base, from: 0, from_name: 'STOP', state: d.state, state_name: stateName(d.state), data_fd_opened: opened, data_session: this.sessionOpen};
      }
      case 'data_size':
        return {...base, stop_copy_length: this.dev(op).memory.length};
      case 'precopy_info':
        return {...base, initial_bytes: this.dev(op).memory.length - this.readSoFar, dirty_bytes: this.dirty};
      case 'reset': {
        const d = this.dev(op);
        if (d.faults.failReset) fail(op, 'EIO', 'EIO', 'injected reset failure');
        d.state = MigState.RUNNING;
        this.sessionOpen = false;
        return {...base, data_fd_closed: true};
      }
      case 'save_begin': {
        this.output = (args.path as string | undefined) ?? this.wire?.path;
        writeFileSync(this.output!, `${args.raw ? 'null' : JSON.stringify(args.header)}\n`, {flag: args.exclusive ? 'wx' : 'w'});
        return {...base, stream_bytes: 0, raw: args.raw === true};
      }
      case 'save': {
        const d = this.dev(op);
        if (!this.sessionOpen) fail(op, 'NO_DATA', 'EBADF', 'no data session');
        if (d.faults.stallSave) return this.stall(op);
        if (d.faults.hangRead) {
          await new Promise<void>((resolve) => (this.onClose = resolve));
          fail(op, 'EIO', 'EIO', 'the engine was closed during the read');
        }
        const max = typeof args.max_bytes === 'number' ? args.max_bytes : Infinity;
        const rest = d.memory.subarray(this.readSoFar, this.readSoFar + Math.min(max, d.memory.length));
        if (args.mode === 'until_empty' && d.faults.dirtyPerRound !== undefined) {
          // Dirty pages are counted, not framed: the policy only sees sizes and rates.
          const bytes = rest.length + this.dirty;
          appendFileSync(this.output!, rest);
          this.readSoFar += rest.length;
          this.dirty = d.faults.dirtyPerRound;
          return {...base, bytes, chunks: 1, total_bytes: this.readSoFar, stream_bytes: this.readSoFar};
        }
        if (d.faults.failReadAfter !== undefined && this.readSoFar + rest.length > d.faults.failReadAfter) {
          fail(op, 'EIO', 'EIO', `read failed after ${d.faults.failReadAfter} bytes`);
        }
        appendFileSync(this.output!, rest);
        this.readSoFar += rest.length;
        opts.onProgress?.({v: 1, event: 'progress', id: 1, op, bytes: rest.length, stream_bytes: 0, elapsed_ms: 1, rate: 1});
        return {...base, bytes: rest.length, chunks: 1, total_bytes: this.readSoFar, stream_bytes: this.readSoFar};
      }
      case 'save_end':
        if (this.output === this.wire?.path) this.wire?.written();
        this.output = undefined;
        return {...base, complete: !args.abort, payload_bytes: this.readSoFar, chunks: 1, stream_bytes: this.readSoFar};
      case 'load_begin': {
        // Through the wire (a pipe between two engines) the payload is there once the writer ends.
        const fromFd = args.path === undefined && this.dataFd !== undefined;
        this.inputPath = fromFd ? undefined : ((args.path as string | undefined) ?? this.wire?.path);
        const text = fromFd ? readFileSync(this.dataFd!) : readFileSync(this.inputPath!);
        const nl = text.indexOf(10);
        const header = text.subarray(0, nl).toString();
        this.input = {header: header === 'null' ? null : header, payload: text.subarray(nl + 1)};
        return {...base, header: this.input.header, stream_bytes: nl + 1};
      }
      case 'load': {
        const d = this.dev(op);
        if (!this.sessionOpen || d.state !== MigState.RESUMING) fail(op, 'NO_DATA', 'EBADF', 'no data session');
        const at = d.faults.corruptAt;
        if (at !== undefined) {
          // Some bytes arrive first: by then the source is well into its save.
          await new Promise((resolve) => setTimeout(resolve, 30));
          fail(op, 'STREAM_CORRUPT', 'EIO', `stream corrupt at byte ${at}`, {offset: at});
        }
        if (d.faults.refuseWrite) fail(op, d.faults.refuseWrite, d.faults.refuseWrite, `write: injected ${d.faults.refuseWrite}`);
        if (d.faults.stallLoad) return this.stall(op);
        if (this.inputPath === this.wire?.path) {
          // Like the socket: the load waits for the writer, unless cancelled.
          await Promise.race([this.wire!.done, this.stall(op)]);
          this.cancelTransfer = undefined;
          const text = readFileSync(this.inputPath!);
          this.input!.payload = text.subarray(text.indexOf(10) + 1);
        }
        d.memory = Buffer.from(this.input!.payload);
        return {...base, bytes: d.memory.length, chunks: 1, stream_bytes: d.memory.length, complete: true};
      }
      case 'commit':
        return {...base, committed: true};
      case 'cancel':
        return base;
      case 'load_end':
        this.input = undefined;
        return {...base, closed: true, complete: true};
      default:
        throw new Error(`fake engine: unexpected op ${op}`);
    }
  }

  async close(): Promise<number | null> {
    this.closed = true;
    this.onClose?.();
    return 0;
  }
}
