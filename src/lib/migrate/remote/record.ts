import {VfioMigError, ExitCode} from '../../errors.js';
import {migrationControl} from '../../schema/generated/migration-control.js';
import {schemaProblems} from '../../schema/index.js';
import type {RecoveryOutcome} from '../recover.js';

/**
 * The control records of a remote migration (schemas/migration-control.schema.json), framed in
 * the stream format (docs/stream-format.md): a record is the JSON header of a stream. The
 * source's `begin` and `stop_copy` head the streams its engine writes (their chunks are the
 * device data); every other record is a stream of no chunks, written and read here.
 */
export const REMOTE_PROTOCOL = 1;

export type ControlType = 'begin' | 'precopy' | 'stop_copy' | 'ready' | 'accepted' | 'loaded' | 'commit' | 'running' | 'abort' | 'recovered';
export type Side = 'source' | 'destination';

export interface Cause {
  code: string;
  message: string;
  exit_code: number;
  signal?: 'SIGINT' | 'SIGTERM' | 'SIGHUP';
}

export interface RecoveryRecord {
  device: string;
  role: Side;
  outcome: RecoveryOutcome;
  state: string;
  actions: string[];
}

export interface Session {
  peer_timeout_ms: number;
  timeout_ms: number | null;
  max_downtime_ms: number;
}

export interface ControlRecord {
  apiVersion: 'vfio-mig/v1';
  kind: 'MigrationControl';
  protocol: number;
  type: ControlType;
  by: Side;
  host?: string;
  devices?: string[];
  streams?: Record<string, unknown>[];
  session?: Session;
  states?: string[];
  bytes?: number[];
  cause?: Cause;
  recoveries?: RecoveryRecord[];
}

export function control(type: ControlType, by: Side, fields: Partial<ControlRecord> = {}): ControlRecord {
  return {apiVersion: 'vfio-mig/v1', kind: 'MigrationControl', protocol: REMOTE_PROTOCOL, type, by, ...fields};
}

/** The peer broke the protocol (a record out of place, malformed, or of another version). */
export class ProtocolError extends VfioMigError {
  constructor(message: string) {
    super(message, ExitCode.runtime, 'PROTOCOL');
  }
}

/** Parse and check a record's JSON text; `from` names the peer for the message. */
export function parseControl(text: string, from: string): ControlRecord {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new ProtocolError(`${from}: a control record is not JSON`);
  }
  const protocol = (data as {protocol?: unknown} | null)?.protocol;
  if (typeof protocol === 'number' && protocol !== REMOTE_PROTOCOL) {
    throw new ProtocolError(
      `${from} speaks remote migration protocol ${protocol}, this vfio-mig speaks ${REMOTE_PROTOCOL}: run the same vfio-mig version on both hosts`,
    );
  }
  const problems = schemaProblems(migrationControl, data);
  if (problems.length > 0) {
    const p = problems[0]!;
    throw new ProtocolError(`${from}: not a valid control record: ${p.pointer || '/'}: ${p.message}`);
  }
  return data as ControlRecord;
}

// CRC32C (Castagnoli, reflected 0x82F63B78), as the engine computes it.
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) c = TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const MAGIC = Buffer.from('VFIOMIGS', 'latin1');
const FORMAT_VERSION = 1;
const PREAMBLE = 24;
const REC_HDR = 16;
const TRAILER = 16;
const TAG_TRAILER = 0x524c5254;
/** A control record is small; a longer header is not one of ours. */
export const MAX_CONTROL_HEADER = 256 * 1024;

/** A control record as a stream of no chunks: preamble, header, its CRC, an empty trailer. */
export function encodeControl(record: ControlRecord): Buffer {
  const header = Buffer.from(JSON.stringify(record), 'utf8');
  const pre = Buffer.alloc(PREAMBLE);
  MAGIC.copy(pre, 0);
  pre.writeUInt32LE(FORMAT_VERSION, 8);
  pre.writeUInt32LE(0, 12);
  pre.writeUInt32LE(header.length, 16);
  pre.writeUInt32LE(crc32c(pre.subarray(0, 20)), 20);
  const hcrc = Buffer.alloc(4);
  hcrc.writeUInt32LE(crc32c(header), 0);
  const offset = PREAMBLE + header.length + 4;
  const trailer = Buffer.alloc(TRAILER); // 0 payload bytes, 0 chunks
  const rh = Buffer.alloc(REC_HDR);
  rh.writeUInt32LE(TAG_TRAILER, 0);
  rh.writeUInt32LE(TRAILER, 4);
  rh.writeUInt32LE(crc32c(trailer), 8);
  const off = Buffer.alloc(8);
  off.writeBigUInt64LE(BigInt(offset), 0);
  rh.writeUInt32LE(crc32c(Buffer.concat([rh.subarray(0, 12), off])), 12);
  return Buffer.concat([pre, header, hcrc, rh, trailer]);
}

/**
 * Finds the records in a byte stream. Bytes that do not form a whole, intact record are
 * skipped (counted in `skipped`): after a source aborted in the middle of a data chunk, the
 * reader finds its next record past the broken chunk and the padding sent after it.
 */
export class RecordScanner {
  private buf: Buffer = Buffer.alloc(0);
  skipped = 0;

  push(data: Buffer): void {
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
  }

  /** The next record's header text, or undefined when more bytes are needed. */
  next(): string | undefined {
    for (;;) {
      const at = this.buf.indexOf(MAGIC);
      if (at < 0) {
        // Keep a tail that may be the start of the magic.
        const keep = Math.min(this.buf.length, MAGIC.length - 1);
        this.skipped += this.buf.length - keep;
        this.buf = this.buf.subarray(this.buf.length - keep);
        return undefined;
      }
      if (at > 0) {
        this.skipped += at;
        this.buf = this.buf.subarray(at);
      }
      if (this.buf.length < PREAMBLE) return undefined;
      const b = this.buf;
      const hlen = b.readUInt32LE(16);
      const preambleOk =
        crc32c(b.subarray(0, 20)) === b.readUInt32LE(20) && b.readUInt32LE(8) === FORMAT_VERSION && b.readUInt32LE(12) === 0 && hlen > 0 && hlen <= MAX_CONTROL_HEADER;
      if (!preambleOk) {
        this.drop(1);
        continue;
      }
      const total = PREAMBLE + hlen + 4 + REC_HDR + TRAILER;
      if (b.length < total) return undefined;
      const header = b.subarray(PREAMBLE, PREAMBLE + hlen);
      const rh = b.subarray(PREAMBLE + hlen + 4, PREAMBLE + hlen + 4 + REC_HDR);
      const trailer = b.subarray(PREAMBLE + hlen + 4 + REC_HDR, total);
      const off = Buffer.alloc(8);
      off.writeBigUInt64LE(BigInt(PREAMBLE + hlen + 4), 0);
      const intact =
        crc32c(header) === b.readUInt32LE(PREAMBLE + hlen) &&
        rh.readUInt32LE(0) === TAG_TRAILER &&
        rh.readUInt32LE(4) === TRAILER &&
        rh.readUInt32LE(8) === crc32c(trailer) &&
        rh.readUInt32LE(12) === crc32c(Buffer.concat([rh.subarray(0, 12), off])) &&
        trailer.every((x) => x === 0);
      if (!intact) {
        this.drop(1);
        continue;
      }
      this.buf = b.subarray(total);
      return header.toString('utf8');
    }
  }

  private drop(n: number): void {
    this.skipped += n;
    this.buf = this.buf.subarray(n);
  }
}

/**
 * Bytes a source writes before its first record after its engine stopped writing: enough to
 * complete any chunk the destination's engine was in the middle of (at most one default-size
 * chunk, 1 MiB, and a record header), so that it fails on them and its reader finds the record.
 */
export const ABORT_PADDING = (1 << 20) + 64 * 1024;
