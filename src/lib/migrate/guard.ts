import {ExitCode, RuntimeFailure, VfioMigError} from '../errors.js';
import type {EngineLike} from './control.js';

const SIGNAL_EXIT = {SIGINT: ExitCode.sigint, SIGTERM: ExitCode.sigterm, SIGHUP: ExitCode.sighup} as const;
export type StopSignal = keyof typeof SIGNAL_EXIT;

/** The migration was interrupted by a signal (exit 128 + its number once devices are back). */
export class InterruptedError extends VfioMigError {
  constructor(readonly signal: StopSignal) {
    super(`interrupted by ${signal}`, SIGNAL_EXIT[signal], 'INTERRUPTED', {signal});
  }
}

/** A STOP_COPY that ran past --timeout. */
export class TimeoutError extends RuntimeFailure {
  constructor(ms: number) {
    super(`STOP_COPY did not finish within --timeout ${ms} ms`, 'TIMEOUT', {timeout_ms: ms});
  }
}

/**
 * One migration's "stop now": the first failure (of any side), a signal or a timeout.
 * Aborting cancels the transfer of every engine at once (the engine ends it within 200 ms),
 * so no side stays blocked on a peer that will never read or write again.
 */
export class Guard {
  private reason: Error | undefined;
  private readonly engines = new Set<EngineLike>();
  private readonly listeners: Array<(reason: Error) => void> = [];

  constructor(signal?: AbortSignal) {
    if (signal?.aborted) this.reason = signal.reason as Error;
    signal?.addEventListener('abort', () => this.abort(signal.reason as Error), {once: true});
  }

  watch(engine: EngineLike): void {
    this.engines.add(engine);
    if (this.reason) void engine.cancel();
  }

  /** Records the first reason and cancels every engine's transfer; later reasons are ignored. */
  abort(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    for (const e of this.engines) void e.cancel();
    for (const l of this.listeners.splice(0)) l(reason);
  }

  /** Calls `fn` once with the reason when aborted (at once if already). */
  onAbort(fn: (reason: Error) => void): void {
    if (this.reason) fn(this.reason);
    else this.listeners.push(fn);
  }

  get error(): Error | undefined {
    return this.reason;
  }

  /** Between steps: throw the reason once aborted. */
  check(): void {
    if (this.reason) throw this.reason;
  }

  /**
   * Start a transfer (unless already aborted: a cancel sent before it would be missed): its
   * failure aborts the rest; a cancellation reports the first reason.
   */
  async run<T>(start: () => Promise<T>): Promise<T> {
    this.check();
    try {
      return await start();
    } catch (error) {
      this.abort(error as Error);
      throw this.reason;
    }
  }

  /** Aborts with `make()` if still running after `ms`; returns the disarm function. */
  deadline(ms: number | undefined, make: () => Error): () => void {
    if (ms === undefined || ms <= 0) return () => undefined;
    const t = setTimeout(() => this.abort(make()), ms);
    return () => clearTimeout(t);
  }
}
