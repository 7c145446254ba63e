import {spawn, type ChildProcess} from 'node:child_process';
import {closeSync, constants as fsc, openSync, read, write} from 'node:fs';
import {lstat, unlink} from 'node:fs/promises';
import net from 'node:net';
import type {Readable, Stream, Writable} from 'node:stream';

import {InputError, RuntimeFailure} from '../../errors.js';

/**
 * Where a remote migration's duplex byte stream comes from. The sender's engine writes the
 * device data to it and the sender reads the destination's records from it; the receiver's
 * engine reads the data and the receiver writes its records to it.
 */
export type ChannelSpec =
  | {kind: 'tcp'; host: string; port: number}
  | {kind: 'tcp-listen'; host: string | undefined; port: number}
  | {kind: 'unix'; path: string}
  | {kind: 'unix-listen'; path: string}
  | {kind: 'exec'; command: string}
  | {kind: 'stdio'}
  | {kind: 'dev'; path: string};

export type Role = 'send' | 'receive';

const FORMS =
  'tcp:HOST:PORT, tcp-listen:[ADDR:]PORT, unix:PATH, unix-listen:PATH, exec:COMMAND (send only), stdio, dev:PATH';

function port(text: string, bad: (why: string) => Error): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw bad('the port must be 1..65535');
  return Number(text);
}

/** `[::1]` -> `::1`; a bare name or address as given. */
function hostPart(text: string): string {
  return text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
}

/** Parse a channel argument (`--to` / `--from`); a usage error names the forms. */
export function parseChannel(text: string, role: Role): ChannelSpec {
  const bad = (why: string) => new InputError(`${JSON.stringify(text)}: ${why}; give one of ${FORMS}`, 'BAD_CHANNEL');
  if (text === 'stdio' || text === '-') return {kind: 'stdio'};
  const colon = text.indexOf(':');
  if (colon < 0) throw bad('not a channel');
  const kind = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  switch (kind) {
    case 'tcp': {
      const at = rest.lastIndexOf(':');
      if (at <= 0) throw bad('tcp needs HOST:PORT');
      return {kind: 'tcp', host: hostPart(rest.slice(0, at)), port: port(rest.slice(at + 1), bad)};
    }
    case 'tcp-listen': {
      const at = rest.lastIndexOf(':');
      if (at < 0) return {kind: 'tcp-listen', host: undefined, port: port(rest, bad)};
      const host = hostPart(rest.slice(0, at));
      return {kind: 'tcp-listen', host: host === '' ? undefined : host, port: port(rest.slice(at + 1), bad)};
    }
    case 'unix':
    case 'unix-listen':
    case 'dev':
      if (rest === '') throw bad(`${kind} needs a path`);
      return kind === 'dev' ? {kind, path: rest} : {kind, path: rest};
    case 'exec':
      if (rest.trim() === '') throw bad('exec needs a command');
      if (role === 'receive') throw bad("exec is for the sending side; the receiver takes 'stdio' (run it as the sender's exec command)");
      return {kind: 'exec', command: rest};
    default:
      throw bad(`unknown channel kind ${JSON.stringify(kind)}`);
  }
}

export function describeChannel(spec: ChannelSpec): string {
  switch (spec.kind) {
    case 'tcp':
      return `tcp:${spec.host.includes(':') ? `[${spec.host}]` : spec.host}:${spec.port}`;
    case 'tcp-listen':
      return `tcp-listen:${spec.host === undefined ? '' : `${spec.host.includes(':') ? `[${spec.host}]` : spec.host}:`}${spec.port}`;
    case 'exec':
      return `exec:${spec.command}`;
    case 'stdio':
      return 'stdio';
    default:
      return `${spec.kind}:${spec.path}`;
  }
}

/** The channel closed or failed under us. */
export class ChannelLostError extends RuntimeFailure {
  constructor(what: string, why: string) {
    super(`the channel ${what} was lost: ${why}`, 'CHANNEL_LOST', {channel: what});
  }
}

/** An open channel. */
export interface Channel {
  readonly name: string;
  /** What the engine gets as descriptors 3, 4, ...: the direction its side of the protocol uses, `n` times. */
  engineData(n: number): Array<number | Stream>;
  /** Write bytes (control records) from this process. */
  write(data: Buffer): Promise<void>;
  /**
   * Start reading in this process: on the receiver only once its engine no longer reads
   * (both must never read the same bytes). Calls `onData` per block, `onEnd` once at the end.
   */
  startReading(onData: (data: Buffer) => void, onEnd: (why: string) => void): void;
  close(): Promise<void>;
}

class StreamChannel implements Channel {
  private ended = false;
  constructor(
    readonly name: string,
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly engineSide: Stream | number,
    private readonly cleanup: () => Promise<void> | void,
  ) {
    // Errors surface through write() and the reader's end; never as an uncaught event.
    input.on('error', () => undefined);
    output.on('error', () => undefined);
  }

  engineData(n: number): Array<number | Stream> {
    return Array.from({length: n}, () => this.engineSide);
  }

  write(data: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.output.destroyed || this.output.writableEnded) {
        reject(new ChannelLostError(this.name, 'closed'));
        return;
      }
      this.output.write(data, (err) => (err ? reject(new ChannelLostError(this.name, err.message)) : resolve()));
    });
  }

  startReading(onData: (data: Buffer) => void, onEnd: (why: string) => void): void {
    const end = (why: string) => {
      if (this.ended) return;
      this.ended = true;
      onEnd(why);
    };
    this.input.on('data', (d: Buffer) => onData(d));
    this.input.once('end', () => end('end of stream'));
    this.input.once('close', () => end('closed'));
    this.input.once('error', (e: Error) => end(e.message));
    this.input.resume();
  }

  async close(): Promise<void> {
    this.input.destroy();
    if ((this.output as unknown) !== this.input) this.output.destroy();
    await this.cleanup();
  }
}

/** A character device (virtio-serial port): one descriptor both ways, non-blocking, polled. */
class DeviceChannel implements Channel {
  private closed = false;
  constructor(
    readonly name: string,
    private readonly fd: number,
  ) {}

  engineData(n: number): number[] {
    return Array.from({length: n}, () => this.fd);
  }

  async write(data: Buffer): Promise<void> {
    let done = 0;
    while (done < data.length) {
      if (this.closed) throw new ChannelLostError(this.name, 'closed');
      const n = await new Promise<number>((resolve, reject) =>
        write(this.fd, data, done, data.length - done, null, (err, w) => {
          if (err && err.code === 'EAGAIN') resolve(-1);
          else if (err) reject(new ChannelLostError(this.name, err.message));
          else resolve(w);
        }),
      );
      if (n < 0) await sleep(5);
      else done += n;
    }
  }

  startReading(onData: (data: Buffer) => void, onEnd: (why: string) => void): void {
    const buf = Buffer.alloc(64 * 1024);
    const loop = async () => {
      for (;;) {
        if (this.closed) return;
        const r = await new Promise<number | Error>((resolve) =>
          read(this.fd, buf, 0, buf.length, null, (err, n) => resolve(err ? (err.code === 'EAGAIN' ? -1 : err) : n)),
        );
        if (r instanceof Error) return onEnd(r.message);
        // A virtio-serial port reads 0 while the other end is not connected: keep polling.
        if (r <= 0) await sleep(5);
        else onData(Buffer.from(buf.subarray(0, r)));
      }
    };
    void loop();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface OpenOptions {
  /** Give up connecting or waiting for the peer to connect after this long (ms). */
  timeoutMs: number;
  signal?: AbortSignal;
  /** For exec: where the command's stderr goes (default: ours). */
  stderr?: 'inherit' | 'ignore';
}

function deadline<T>(what: string, ms: number, signal: AbortSignal | undefined, work: (done: (err: Error | null, v?: T) => void) => () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let cancel: () => void = () => undefined;
    const finish = (err: Error | null, v?: T) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (err) {
        cancel();
        reject(err);
      } else resolve(v as T);
    };
    const timer = setTimeout(() => finish(new RuntimeFailure(`${what}: no peer within ${ms} ms`, 'PEER_SILENT')), ms);
    const onAbort = () => finish(signal!.reason as Error);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, {once: true});
    cancel = work(finish);
  });
}

/**
 * Open the channel for `role`. Listening forms accept one connection and stop listening;
 * the receiver's socket is not read by this process until startReading (its engine reads it).
 */
export async function openChannel(spec: ChannelSpec, role: Role, options: OpenOptions): Promise<Channel> {
  const name = describeChannel(spec);
  const paused = role === 'receive';
  switch (spec.kind) {
    case 'tcp':
    case 'unix': {
      const sock = await deadline<net.Socket>(name, options.timeoutMs, options.signal, (done) => {
        const s = new net.Socket();
        // Paused before connecting: node would otherwise start reading at once.
        if (paused) s.pause();
        s.once('error', (e) => done(new ChannelLostError(name, e.message)));
        s.once('connect', () => done(null, s));
        if (spec.kind === 'tcp') s.connect({host: spec.host, port: spec.port});
        else s.connect({path: spec.path});
        return () => s.destroy();
      });
      sock.removeAllListeners('error');
      sock.setNoDelay?.(true);
      return new StreamChannel(name, sock, sock, sock, () => undefined);
    }
    case 'tcp-listen':
    case 'unix-listen': {
      if (spec.kind === 'unix-listen') await removeStaleSocket(spec.path);
      const server = net.createServer({pauseOnConnect: paused});
      const sock = await deadline<net.Socket>(name, options.timeoutMs, options.signal, (done) => {
        server.once('error', (e) => done(new RuntimeFailure(`${name}: cannot listen: ${e.message}`, 'CHANNEL_LISTEN')));
        server.once('connection', (s) => done(null, s));
        if (spec.kind === 'tcp-listen') server.listen({port: spec.port, ...(spec.host ? {host: spec.host} : {})});
        else server.listen({path: spec.path});
        return () => server.close();
      }).finally(() => server.close());
      if (spec.kind === 'unix-listen') await unlink(spec.path).catch(() => undefined);
      sock.setNoDelay?.(true);
      return new StreamChannel(name, sock, sock, sock, () => undefined);
    }
    case 'exec': {
      const child: ChildProcess = spawn('/bin/sh', ['-c', spec.command], {stdio: ['pipe', 'pipe', options.stderr ?? 'inherit']});
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', () => resolve());
        child.once('error', (e) => reject(new RuntimeFailure(`${name}: cannot run: ${e.message}`, 'CHANNEL_EXEC')));
      });
      const stop = async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        // The remote end finishes on its own once both directions are closed; do not wait forever.
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            child.kill('SIGTERM');
            resolve();
          }, options.timeoutMs);
          child.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
        });
      };
      return new StreamChannel(name, child.stdout!, child.stdin!, child.stdin!, stop);
    }
    case 'stdio': {
      // The receiver's engine reads descriptor 0 itself; this process reads it only later.
      if (role === 'receive') return new StreamChannel(name, process.stdin, process.stdout, 0, () => undefined);
      return new StreamChannel(name, process.stdin, process.stdout, 1, () => undefined);
    }
    case 'dev': {
      let fd: number;
      try {
        fd = openSync(spec.path, fsc.O_RDWR | fsc.O_NOCTTY | fsc.O_NONBLOCK);
      } catch (e) {
        throw new InputError(`${name}: cannot open: ${(e as Error).message}`, 'BAD_CHANNEL');
      }
      return new DeviceChannel(name, fd);
    }
  }
}

/** A UNIX socket left by an earlier listener is removed; any other file is refused. */
async function removeStaleSocket(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new InputError(`unix-listen:${path}: exists and is not a socket`, 'BAD_CHANNEL');
  await unlink(path);
}
