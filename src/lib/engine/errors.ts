import {ExitCode, RuntimeFailure, VfioMigError} from '../errors.js';

/** The shape of an engine error response (see docs/engine-protocol.md). */
export interface EngineErrorResponse {
  v: number;
  id: number | string | null;
  op?: string;
  ok: false;
  errno: number;
  error: string;
  code: string;
  message: string;
  offset?: number;
  from?: number;
  requested?: number;
  device_state?: number | null;
  device_state_name?: string;
}

/**
 * An operation the engine answered with an error. `errno`/`errnoName` are the kernel's
 * (or the engine's) errno; `code` is the engine's stable code (`EBUSY`, `NOT_SUPPORTED`,
 * `STREAM_CORRUPT`, ...). Exit code 3 (callers check the device exists first: exit 2).
 */
export class EngineError extends VfioMigError {
  readonly errno: number;
  readonly errnoName: string;
  readonly op: string | undefined;
  /** For a failed set_state: the state the device reported right after the failure. */
  readonly deviceState: number | null | undefined;

  constructor(resp: EngineErrorResponse) {
    super(resp.message, ExitCode.runtime, resp.code, {...resp});
    this.errno = resp.errno;
    this.errnoName = resp.error;
    this.op = resp.op;
    this.deviceState = resp.device_state;
  }

  /** ENOTTY from the kernel: the device or kernel does not offer the operation. */
  get notSupported(): boolean {
    return this.code === 'NOT_SUPPORTED';
  }
}

/** A stream failed verification: `offset` is the byte offset in the stream. */
export class StreamCorruptError extends EngineError {
  readonly offset: number;
  constructor(resp: EngineErrorResponse) {
    super(resp);
    this.offset = resp.offset ?? 0;
  }
}

export function engineError(resp: EngineErrorResponse): EngineError {
  return resp.code === 'STREAM_CORRUPT' ? new StreamCorruptError(resp) : new EngineError(resp);
}

/** The engine binary is missing or not executable. */
export class EngineNotFoundError extends RuntimeFailure {
  constructor(message: string, details?: Record<string, unknown>) {
    super(message, 'ENGINE_MISSING', details);
  }
}
