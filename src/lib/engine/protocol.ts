/**
 * Wire types of the engine protocol (version 1): one JSON object per line each way.
 * docs/engine-protocol.md is the reference; field names are the engine's (snake_case).
 */
export const ENGINE_PROTOCOL_VERSION = 1;

/** State and flag names are the FSM module's: one list for the whole library. */
export type {MigStateName as MigrationStateName, MigFlagName as MigrationFlagName} from '../fsm/states.js';
import type {MigFlagName as MigrationFlagName, MigStateName as MigrationStateName} from '../fsm/states.js';

interface Base {
  v: number;
  id: number | string | null;
  op?: string;
  ok: true;
}

export interface HelloResponse extends Base {
  engine_version: string;
  protocol: number;
  stream_format: number;
  crc32c: string;
  default_chunk: number;
  max_chunk: number;
  pid: number;
  ops: string[];
}

export interface SelftestResponse extends Base {
  hw_available: boolean;
  crc32c: string;
  vectors: number;
  random_cases: number;
  failures: number;
}

export interface OpenResponse extends Base {
  device: string;
  bus: 'mdev' | 'pci';
  /** Which paths it was given. */
  interface: 'group' | 'cdev';
  device_flags?: number;
  device_flags_names?: string[];
  num_regions?: number;
  num_irqs?: number;
  migration_supported: boolean;
  migration_flags: number;
  migration_flags_names: MigrationFlagName[];
  migration_errno?: number;
  migration_error?: string;
  /** Without v2 migration: whether a region has the deprecated v1 migration type (Linux 5.8 to 5.17). */
  migration_v1_region?: boolean;
}

export interface FlagsResponse extends Base {
  migration_supported: boolean;
  migration_flags: number;
  migration_flags_names: MigrationFlagName[];
}

export interface StateResponse extends Base {
  state: number;
  state_name: MigrationStateName;
  data_session: boolean;
}

export interface SetStateResponse extends Base {
  from: number;
  from_name: MigrationStateName;
  state: number;
  state_name: MigrationStateName;
  data_fd_opened: boolean;
  /** This SET left the saving/resuming states: the engine dropped the (ended) data_fd. */
  data_fd_closed: boolean;
  data_session: boolean;
}

export interface DataSizeResponse extends Base {
  stop_copy_length: number;
}

export interface PrecopyInfoResponse extends Base {
  initial_bytes: number;
  dirty_bytes: number;
}

export interface ResetResponse extends Base {
  data_fd_closed: boolean;
  state?: number;
  state_name?: MigrationStateName;
}

export interface ClosedResponse extends Base {
  closed: boolean;
  complete?: boolean;
}

export interface SaveBeginResponse extends Base {
  stream_bytes: number;
  raw: boolean;
}

export interface SaveResponse extends Base {
  bytes: number;
  chunks: number;
  total_bytes: number;
  stream_bytes: number;
}

export interface SaveEndResponse extends Base {
  complete: boolean;
  payload_bytes: number;
  chunks: number;
  stream_bytes: number;
}

export interface LoadBeginResponse extends Base {
  /** The stream header's JSON text, verbatim (null in raw mode). */
  header: string | null;
  format_version?: number;
  stream_bytes: number;
  file_size?: number;
}

export interface LoadResponse extends Base {
  bytes: number;
  chunks: number;
  stream_bytes: number;
  complete: boolean;
}

export interface PackResponse extends Base {
  payload_bytes: number;
  chunks: number;
  stream_bytes: number;
  elapsed_ms: number;
  crc32c: string;
}

export interface VerifyResponse extends Base {
  header: string | null;
  format_version?: number;
  payload_bytes: number;
  chunks: number;
  stream_bytes: number;
  elapsed_ms: number;
}

export interface ProgressEvent {
  v: number;
  event: 'progress';
  id: number | string | null;
  op: string;
  /** Payload bytes moved so far by this request. */
  bytes: number;
  /** Stream position (bytes of the stream file written or read). */
  stream_bytes: number;
  elapsed_ms: number;
  /** Bytes per second since the request started. */
  rate: number;
  estimate?: number;
  eta_ms?: number;
}

/** An inherited descriptor (3 is the one EngineProcess passes) or a path. */
export type Endpoint = {path: string; fd?: undefined} | {fd: number; path?: undefined};

export interface OpMap {
  hello: [{interactive?: boolean}, HelloResponse];
  selftest: [Record<string, never>, SelftestResponse];
  /** Paths resolved by the caller (enumerate/access.ts): the group and container, or the cdev and iommufd. */
  open: [
    {device: string; undo_on_abandon?: boolean} & ({group_path: string; container_path: string} | {cdev_path: string; iommufd_path: string}),
    OpenResponse,
  ];
  close: [Record<string, never>, ClosedResponse];
  flags: [Record<string, never>, FlagsResponse];
  get_state: [Record<string, never>, StateResponse];
  set_state: [{state: MigrationStateName | number}, SetStateResponse];
  data_size: [Record<string, never>, DataSizeResponse];
  precopy_info: [Record<string, never>, PrecopyInfoResponse];
  reset: [Record<string, never>, ResetResponse];
  close_data: [Record<string, never>, ClosedResponse];
  commit: [Record<string, never>, Base & {committed: boolean}];
  cancel: [Record<string, never>, Base];
  attach_data: [{path?: string; fd?: number; mode: 'read' | 'write'}, {ok: true; data_session: boolean} & Base];
  save_begin: [
    {path?: string; fd?: number; header?: string | Record<string, unknown>; raw?: boolean; chunk_size?: number; exclusive?: boolean; fsync?: boolean},
    SaveBeginResponse,
  ];
  /** max_bytes: read at most this many bytes from the data_fd (a probe reads a prefix of the initial bytes). */
  save: [{mode?: 'until_eof' | 'until_empty'; estimate?: number; progress?: boolean; max_bytes?: number}, SaveResponse];
  save_end: [{abort?: boolean}, SaveEndResponse];
  load_begin: [{path?: string; fd?: number; raw?: boolean; check_eof?: boolean}, LoadBeginResponse];
  load: [{estimate?: number; progress?: boolean}, LoadResponse];
  load_end: [Record<string, never>, ClosedResponse];
  pack: [
    {
      in_path?: string;
      in_fd?: number;
      out_path?: string;
      out_fd?: number;
      header?: string | Record<string, unknown>;
      raw?: boolean;
      chunk_size?: number;
      estimate?: number;
      progress?: boolean;
      exclusive?: boolean;
      fsync?: boolean;
    },
    PackResponse,
  ];
  unpack: [
    {in_path?: string; in_fd?: number; out_path?: string; out_fd?: number; raw?: boolean; check_eof?: boolean; progress?: boolean; exclusive?: boolean; fsync?: boolean},
    VerifyResponse,
  ];
  verify: [{in_path?: string; in_fd?: number; check_eof?: boolean; progress?: boolean}, VerifyResponse];
  quit: [Record<string, never>, Base & {bye: boolean}];
}

export type OpName = keyof OpMap;
export type OpArgs<O extends OpName> = OpMap[O][0];
export type OpResult<O extends OpName> = OpMap[O][1];
