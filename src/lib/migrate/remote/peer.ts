import {EngineError} from '../../engine/errors.js';
import {type ExitCodeValue, RuntimeFailure, VfioMigError} from '../../errors.js';
import {type Guard, InterruptedError} from '../guard.js';
import type {Recovery} from '../recover.js';
import {type Channel, ChannelLostError} from './channel.js';
import {type Cause, type ControlRecord, type ControlType, parseControl, ProtocolError, RecordScanner} from './record.js';

/** VFIO_MIG_TRACE=1: each record and phase of a remote migration on stderr (for the test bed's logs). */
export function trace(what: string): void {
  if (process.env.VFIO_MIG_TRACE) process.stderr.write(`vfio-mig trace ${process.pid} ${(performance.now() / 1000).toFixed(3)}: ${what}\n`);
}

/** The peer said nothing within the deadline. */
export class PeerSilentError extends RuntimeFailure {
  constructor(what: string, ms: number) {
    super(`the ${what} said nothing for ${ms} ms`, 'PEER_SILENT', {timeout_ms: ms});
  }
}

/** A failure the other host reported (its code and exit code, so both ends report the same). */
export class PeerFailure extends VfioMigError {
  constructor(message: string, exitCode: number, code: string) {
    super(message, exitCode as ExitCodeValue, code);
  }
}

export function causeOf(error: Error): Cause {
  const e = error as Partial<VfioMigError>;
  const cause: Cause = {code: e.code ?? 'ERROR', message: error.message.slice(0, 4000), exit_code: e.exitCode && e.exitCode > 0 ? e.exitCode : 3};
  if (error instanceof InterruptedError) cause.signal = error.signal;
  return cause;
}

/** The peer's cause as an error of ours: an interrupt stays an interrupt (exit 128 + n). */
export function errorOf(cause: Cause, peer: string): VfioMigError {
  if (cause.code === 'INTERRUPTED' && cause.signal) {
    const e = new InterruptedError(cause.signal);
    e.message = `${peer} ${e.message}`;
    return e;
  }
  // Already named by the side that saw it first (a channel loss keeps its code).
  return new PeerFailure(cause.message.startsWith(`${peer}:`) ? cause.message : `${peer}: ${cause.message}`, cause.exit_code, cause.code);
}

/** A broken pipe or reset connection while the channel ended is the channel's loss, on both ends alike. */
export function channelCause(error: Error, inbox: Inbox, name: string): Error {
  if (error instanceof ChannelLostError) return error;
  const lost = error instanceof EngineError && ['EPIPE', 'ECONNRESET', 'ENOTCONN'].includes(error.errnoName);
  const truncated = error instanceof EngineError && error.code === 'STREAM_CORRUPT' && /truncated/.test(error.message) && inbox.ended !== undefined;
  if (lost || truncated) return new ChannelLostError(name, error.message);
  return error;
}

/** Restarts a deadline on every sign of life; fires once. */
export class Watchdog {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  constructor(
    private readonly ms: number,
    private readonly fire: () => void,
  ) {
    this.kick();
  }

  kick(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(this.fire, this.ms);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

/**
 * The records this process reads from the channel. An `abort` from the peer aborts the
 * migration at once (whatever it waits for); `recovered` is kept for the final report; any
 * other record is handed to next(), which must expect exactly that type.
 */
export class Inbox {
  private readonly queue: ControlRecord[] = [];
  private wake: () => void = () => undefined;
  private started = false;
  ended: string | undefined;
  peerAbort: ControlRecord | undefined;
  peerRecovered: ControlRecord | undefined;
  private broken: Error | undefined;

  constructor(
    private readonly channel: Channel,
    /** How the peer is named in messages ("destination", "source"). */
    readonly peer: string,
    private readonly onAbort: (error: Error) => void,
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    const scanner = new RecordScanner();
    this.channel.startReading(
      (data) => {
        scanner.push(data);
        for (let text = scanner.next(); text !== undefined; text = scanner.next()) this.deliver(text);
      },
      (why) => {
        this.ended = why;
        this.onAbort(new ChannelLostError(this.channel.name, `the ${this.peer} closed it (${why})`));
        this.wake();
      },
    );
  }

  private deliver(text: string): void {
    let rec: ControlRecord;
    try {
      rec = parseControl(text, `the ${this.peer}`);
    } catch (e) {
      this.broken ??= e as Error;
      this.onAbort(e as Error);
      this.wake();
      return;
    }
    trace(`got ${rec.type} from the ${this.peer}`);
    if (rec.type === 'abort') {
      this.peerAbort ??= rec;
      this.onAbort(errorOf(rec.cause!, this.peer));
    } else if (rec.type === 'recovered') {
      this.peerRecovered = rec;
    } else {
      this.queue.push(rec);
    }
    this.wake();
  }

  /**
   * The next record, which must be of `type`. Rejects with the guard's reason once it aborts
   * (unless `guard` is omitted: after the source committed, only the peer decides), with the
   * channel's loss, or PeerSilentError after `ms`.
   */
  async next(type: ControlType, ms: number, guard?: Guard): Promise<ControlRecord> {
    this.start();
    const deadline = Date.now() + ms;
    for (;;) {
      const rec = this.queue.shift();
      if (rec) {
        if (rec.type !== type) throw new ProtocolError(`the ${this.peer} sent '${rec.type}' where '${type}' was due`);
        return rec;
      }
      guard?.check();
      if (this.peerAbort) throw errorOf(this.peerAbort.cause!, this.peer);
      if (this.broken) throw this.broken;
      if (this.ended !== undefined) throw new ChannelLostError(this.channel.name, `the ${this.peer} closed it (${this.ended})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new PeerSilentError(this.peer, ms);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
        guard?.onAbort(() => this.wake());
      });
    }
  }

  /** The peer's recoveries after a failure: waits up to `ms` unless the channel ended. */
  async recovered(ms: number): Promise<Recovery[] | undefined> {
    this.start();
    const deadline = Date.now() + ms;
    while (!this.peerRecovered && this.ended === undefined && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.peerRecovered?.recoveries as Recovery[] | undefined;
  }
}
