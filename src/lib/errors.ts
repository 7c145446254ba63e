/**
 * Every failure the library raises is a VfioMigError carrying its exit code, so the CLI
 * maps errors to exit codes in one place and orchestrators can branch on `code`.
 *
 * Exit codes (like diff): 0 yes/success, 1 the check ran and says no, 2 usage or input
 * error, 3 runtime failure with every device back in a usable state, 4 a device went to
 * ERROR and needed a reset, 5 recovery failed (a device may need attention). A migration
 * interrupted by a signal, its devices put back, exits 128 + the signal's number (129
 * SIGHUP, 130 SIGINT, 143 SIGTERM) as a shell would report it.
 */
export const ExitCode = {
  ok: 0,
  no: 1,
  input: 2,
  runtime: 3,
  deviceReset: 4,
  recoveryFailed: 5,
  sighup: 129,
  sigint: 130,
  sigterm: 143,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class VfioMigError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    /** A stable machine-readable code, e.g. `ENOENT`, `SCHEMA`, `UNSAFE_NAME`. */
    readonly code: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad input: a malformed file, an unknown device, a hostile name (exit 2). */
export class InputError extends VfioMigError {
  constructor(message: string, code = 'INPUT', details?: Record<string, unknown>) {
    super(message, ExitCode.input, code, details);
  }
}

/** The operation failed at run time; devices were left usable (exit 3). */
export class RuntimeFailure extends VfioMigError {
  constructor(message: string, code = 'RUNTIME', details?: Record<string, unknown>) {
    super(message, ExitCode.runtime, code, details);
  }
}
