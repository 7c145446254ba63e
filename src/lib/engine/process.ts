import {spawn, type ChildProcess} from 'node:child_process';
import {EventEmitter} from 'node:events';
import type {Readable, Stream, Writable} from 'node:stream';

import type {OpenPaths} from '../enumerate/access.js';
import {RuntimeFailure} from '../errors.js';
import {engineError, type EngineErrorResponse} from './errors.js';
import {checkEngine, HOW_TO_BUILD, locateEngine} from './locate.js';
import {
  ENGINE_PROTOCOL_VERSION,
  type MigrationStateName,
  type OpArgs,
  type OpName,
  type OpResult,
  type ProgressEvent,
} from './protocol.js';

export interface EngineOptions {
  /** Engine binary; default the first found of $VFIO_MIG_ENGINE, the checkout's, the user's, the prebuilt (locate.ts). */
  binary?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * What the engine gets as descriptor 3 for data ops (`fd: 3` in requests): an open
   * descriptor number (e.g. 1 for the CLI's stdout), a Stream with an underlying
   * descriptor, or 'pipe' (then `dataStream` is the parent's end). A list gives descriptors
   * 3, 4, ... in order: the same channel several times, so that the engine can end one
   * stream on it (closing its descriptor) and begin the next on another (remote migration).
   */
  data?: number | Stream | 'pipe' | Array<number | Stream>;
  /** How long close() waits for a clean exit before SIGTERM (ms, default 5000). */
  closeTimeoutMs?: number;
}

export interface RequestOptions {
  onProgress?: (ev: ProgressEvent) => void;
}

/** The descriptor number data ops use for EngineOptions.data. */
export const DATA_FD = 3;

interface Pending {
  op: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onProgress: ((ev: ProgressEvent) => void) | undefined;
}

type Line = {v?: unknown; id?: unknown; ok?: unknown; event?: unknown};

export interface EngineProcess {
  on(event: 'progress', listener: (ev: ProgressEvent) => void): this;
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  once(event: 'progress', listener: (ev: ProgressEvent) => void): this;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
}

/**
 * One engine process (one device). Requests are answered in order; progress events are
 * emitted as 'progress' and passed to the request's onProgress. Prints nothing.
 *
 * Events: 'progress' (ProgressEvent), 'exit' (code: number | null, signal: string | null).
 */
export class EngineProcess extends EventEmitter {
  readonly binary: string;
  readonly pid: number | undefined;
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buf = '';
  private exited = false;
  private exitInfo: {code: number | null; signal: NodeJS.Signals | null} | undefined;
  private readonly exitPromise: Promise<number | null>;
  private readonly closeTimeoutMs: number;

  private constructor(binary: string, child: ChildProcess, closeTimeoutMs: number) {
    super();
    this.binary = binary;
    this.child = child;
    this.pid = child.pid;
    this.closeTimeoutMs = closeTimeoutMs;
    this.exitPromise = new Promise((resolve) => {
      child.once('error', (err: NodeJS.ErrnoException) => {
        // Spawn failed (no 'exit' follows): nothing runs, fail what is pending.
        if (child.pid !== undefined) return;
        this.exited = true;
        this.exitInfo = {code: null, signal: null};
        this.failAll(new RuntimeFailure(`cannot run the migration engine ${binary}: ${err.message}`, 'ENGINE_SPAWN'));
        resolve(null);
      });
      child.once('exit', (code, signal) => {
        this.exited = true;
        this.exitInfo = {code, signal};
        this.failAll(
          new RuntimeFailure(
            `migration engine ${binary} exited${signal ? ` on signal ${signal}` : ` with status ${code ?? '?'}`} with requests pending`,
            'ENGINE_EXIT',
            {code, signal},
          ),
        );
        this.emit('exit', code, signal);
        resolve(code);
      });
    });
    child.stdin?.on('error', () => {
      /* EPIPE when the engine is gone: the exit handler reports it */
    });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.onData(chunk));
  }

  /** Locates and checks the binary, spawns it and checks its protocol version. */
  static async start(options: EngineOptions = {}): Promise<EngineProcess> {
    const binary = options.binary === undefined ? (await locateEngine(options.env ?? process.env)).path : await checkEngine(options.binary);
    const stdio: Array<'pipe' | 'inherit' | number | Stream> = ['pipe', 'pipe', 'inherit'];
    if (Array.isArray(options.data)) stdio.push(...options.data);
    else if (options.data !== undefined) stdio.push(options.data);
    let child: ChildProcess;
    try {
      child = spawn(binary, [], {stdio, env: options.env ?? process.env});
    } catch (e) {
      throw new RuntimeFailure(`cannot run the migration engine ${binary}: ${(e as Error).message}`, 'ENGINE_SPAWN');
    }
    const engine = new EngineProcess(binary, child, options.closeTimeoutMs ?? 5000);
    try {
      const hello = await engine.hello();
      if (hello.protocol !== ENGINE_PROTOCOL_VERSION) {
        throw new RuntimeFailure(
          `migration engine ${binary} speaks protocol ${hello.protocol}, expected ${ENGINE_PROTOCOL_VERSION}: ${HOW_TO_BUILD}`,
          'ENGINE_PROTOCOL',
        );
      }
    } catch (e) {
      engine.kill();
      throw e;
    }
    return engine;
  }

  /** The parent's end of descriptor 3 when EngineOptions.data was 'pipe'. */
  get dataStream(): Readable | Writable | null {
    const s = this.child.stdio[DATA_FD];
    return (s as Readable | Writable | null | undefined) ?? null;
  }

  get running(): boolean {
    return !this.exited;
  }

  /** Sends one request; resolves with the response or rejects with an EngineError. */
  request<O extends OpName>(op: O, args: OpArgs<O>, opts: RequestOptions = {}): Promise<OpResult<O>> {
    if (this.exited || !this.child.stdin || this.child.stdin.destroyed) {
      return Promise.reject(new RuntimeFailure('the migration engine is not running', 'ENGINE_EXIT'));
    }
    const id = this.nextId++;
    const line = JSON.stringify({v: ENGINE_PROTOCOL_VERSION, id, op, ...args}) + '\n';
    return new Promise<OpResult<O>>((resolve, reject) => {
      this.pending.set(id, {op, resolve: resolve as (v: unknown) => void, reject, onProgress: opts.onProgress});
      this.child.stdin?.write(line);
    });
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const text = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (text.trim() === '') continue;
      let msg: Line;
      try {
        msg = JSON.parse(text) as Line;
      } catch {
        this.protocolError(`unparsable line from the migration engine: ${text.slice(0, 200)}`);
        return;
      }
      if (msg === null || typeof msg !== 'object') {
        this.protocolError('the migration engine sent a non-object line');
        return;
      }
      if (msg.event === 'progress') {
        const ev = msg as unknown as ProgressEvent;
        const p = typeof ev.id === 'number' ? this.pending.get(ev.id) : undefined;
        p?.onProgress?.(ev);
        this.emit('progress', ev);
        continue;
      }
      const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
      if (!p) {
        // An answer to no request of ours (e.g. a malformed line): fail the oldest one.
        const first = this.pending.entries().next();
        if (!first.done && msg.ok === false) {
          this.pending.delete(first.value[0]);
          first.value[1].reject(engineError(msg as unknown as EngineErrorResponse));
        }
        continue;
      }
      this.pending.delete(msg.id as number);
      if (msg.ok === true) p.resolve(msg);
      else p.reject(engineError(msg as unknown as EngineErrorResponse));
    }
  }

  private protocolError(message: string): void {
    this.failAll(new RuntimeFailure(message, 'ENGINE_PROTOCOL'));
    this.kill();
  }

  private failAll(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(err);
  }

  // ---- typed operations ----

  /** `interactive`: this client waits for each answer, so the engine may treat a new line during a transfer as `cancel`. */
  hello(): Promise<OpResult<'hello'>> {
    return this.request('hello', {interactive: true});
  }
  selftest(): Promise<OpResult<'selftest'>> {
    return this.request('selftest', {});
  }
  /** Opens an mdev (UUID) or a PCI device (BDF) through the paths given (see enumerate/access.ts). */
  open(device: string, paths: OpenPaths): Promise<OpResult<'open'>> {
    return this.request('open', {device, ...paths});
  }
  closeDevice(): Promise<OpResult<'close'>> {
    return this.request('close', {});
  }
  flags(): Promise<OpResult<'flags'>> {
    return this.request('flags', {});
  }
  getState(): Promise<OpResult<'get_state'>> {
    return this.request('get_state', {});
  }
  /** One SET; on failure the EngineError carries `deviceState` (a GET right after). */
  setState(state: MigrationStateName | number): Promise<OpResult<'set_state'>> {
    return this.request('set_state', {state});
  }
  dataSize(): Promise<OpResult<'data_size'>> {
    return this.request('data_size', {});
  }
  precopyInfo(): Promise<OpResult<'precopy_info'>> {
    return this.request('precopy_info', {});
  }
  reset(): Promise<OpResult<'reset'>> {
    return this.request('reset', {});
  }
  closeData(): Promise<OpResult<'close_data'>> {
    return this.request('close_data', {});
  }
  /** Testing aid: a file or descriptor stands in for the device's data_fd. */
  attachData(args: OpArgs<'attach_data'>): Promise<OpResult<'attach_data'>> {
    return this.request('attach_data', args);
  }
  saveBegin(args: OpArgs<'save_begin'>): Promise<OpResult<'save_begin'>> {
    return this.request('save_begin', args);
  }
  /** until_eof: STOP_COPY to the end; until_empty: one PRE_COPY round. */
  save(args: OpArgs<'save'> = {}, opts?: RequestOptions): Promise<OpResult<'save'>> {
    return this.request('save', args, opts);
  }
  saveEnd(args: OpArgs<'save_end'> = {}): Promise<OpResult<'save_end'>> {
    return this.request('save_end', args);
  }
  /** Reads and checks the preamble and header; touches no device. */
  loadBegin(args: OpArgs<'load_begin'>): Promise<OpResult<'load_begin'>> {
    return this.request('load_begin', args);
  }
  load(args: OpArgs<'load'> = {}, opts?: RequestOptions): Promise<OpResult<'load'>> {
    return this.request('load', args, opts);
  }
  loadEnd(): Promise<OpResult<'load_end'>> {
    return this.request('load_end', {});
  }
  pack(args: OpArgs<'pack'>, opts?: RequestOptions): Promise<OpResult<'pack'>> {
    return this.request('pack', args, opts);
  }
  unpack(args: OpArgs<'unpack'>, opts?: RequestOptions): Promise<OpResult<'unpack'>> {
    return this.request('unpack', args, opts);
  }
  verify(args: OpArgs<'verify'>, opts?: RequestOptions): Promise<OpResult<'verify'>> {
    return this.request('verify', args, opts);
  }

  /**
   * Ends the running transfer, if any (it fails with code CANCELLED within 200 ms), by
   * sending a `cancel` line; resolves when the engine has read it. Never rejects.
   */
  async cancel(): Promise<void> {
    await this.request('cancel', {}).catch(() => undefined);
  }

  /** The caller commits to the device's present state: abandoning no longer undoes it. */
  commit(): Promise<OpResult<'commit'>> {
    return this.request('commit', {});
  }

  /** Asks the engine to close everything and exit; resolves with its exit status. */
  async close(): Promise<number | null> {
    if (!this.exited) {
      try {
        this.child.stdin?.end(JSON.stringify({v: ENGINE_PROTOCOL_VERSION, id: this.nextId++, op: 'quit'}) + '\n');
      } catch {
        /* already gone */
      }
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), this.closeTimeoutMs);
      });
      const r = await Promise.race([this.exitPromise, timeout]);
      if (timer) clearTimeout(timer);
      if (r === 'timeout') this.kill();
    }
    await this.exitPromise;
    return this.exitInfo?.code ?? null;
  }

  /** SIGTERM (the kernel closes the device, group and container with the process). */
  kill(): void {
    if (!this.exited) this.child.kill('SIGTERM');
  }
}
