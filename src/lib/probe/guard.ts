/**
 * Cleanup that must run however a probe ends: on return, on a throw, and on SIGINT/SIGTERM/
 * SIGHUP (a created scratch mdev removed, the source returned to RUNNING). On a signal the
 * cleanups run, the handlers are removed and the signal is raised again, so the process still
 * ends the way the signal asked.
 */
/** `signal`: the process is ending on a signal, so an engine may be stuck in a request: kill it. */
export type Cleanup = (why: 'signal' | 'done') => Promise<void>;

/** What the guard needs of the process; tests inject their own. */
export interface SignalHost {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  kill(signal: NodeJS.Signals): void;
}

export const processSignals: SignalHost = {
  on: (s, l) => process.on(s, l),
  off: (s, l) => process.off(s, l),
  kill: (s) => process.kill(process.pid, s),
};

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export class CleanupGuard {
  private readonly cleanups: Cleanup[] = [];
  private running: Promise<void> | undefined;
  private readonly listener = (signal: NodeJS.Signals) => {
    void this.runAll('signal').finally(() => {
      this.detach();
      this.host.kill(signal);
    });
  };

  constructor(private readonly host: SignalHost = processSignals) {
    for (const s of SIGNALS) host.on(s, this.listener);
  }

  /** Register a cleanup; they run last-registered first, each at most once. */
  add(fn: Cleanup): void {
    this.cleanups.push(fn);
  }

  /** Drop a cleanup whose work is done (e.g. the source is back in RUNNING). */
  remove(fn: Cleanup): void {
    const i = this.cleanups.indexOf(fn);
    if (i >= 0) this.cleanups.splice(i, 1);
  }

  /** Run what is registered (once, even if a signal and the normal path both ask). */
  runAll(why: 'signal' | 'done' = 'done'): Promise<void> {
    this.running ??= (async () => {
      while (this.cleanups.length > 0) {
        const fn = this.cleanups.pop()!;
        await fn(why).catch(() => undefined);
      }
    })();
    return this.running;
  }

  detach(): void {
    for (const s of SIGNALS) this.host.off(s, this.listener);
  }
}

/** Run `body` with a guard: its cleanups run on every way out, signals included. */
export async function guarded<T>(body: (guard: CleanupGuard) => Promise<T>, host?: SignalHost): Promise<T> {
  const guard = new CleanupGuard(host);
  try {
    return await body(guard);
  } finally {
    await guard.runAll();
    guard.detach();
  }
}
