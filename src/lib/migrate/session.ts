import type {Stream} from 'node:stream';

import {EngineProcess} from '../engine/process.js';
import type {ProgressEvent} from '../engine/protocol.js';
import type {EngineLike} from './control.js';

/** Events a migration reports while it runs (the CLI shows a bar or prints JSON lines). */
export type MigrationEvent =
  | {event: 'step'; device: string; from: string; to: string}
  | {event: 'precopy'; device: string; round: number; initial_bytes: number; dirty_bytes: number; bytes: number}
  | {
      event: 'progress';
      device: string;
      phase: 'precopy' | 'stop_copy' | 'load';
      bytes: number;
      rate: number;
      estimate?: number;
      eta_ms?: number;
    };

/**
 * Starts one engine; `data` becomes its descriptor 3 (an fd of ours, a stream, or a new pipe);
 * a list gives descriptors 3, 4, ... (one per stream a remote migration sends on its channel).
 */
export type EngineStarter = (data?: number | Stream | 'pipe' | Array<number | Stream>) => Promise<EngineLike & {dataStream?: unknown}>;

export const startEngine: EngineStarter = (data) => EngineProcess.start(data === undefined ? {} : {data});

/** Where the state goes to or comes from: a file path, or a descriptor the engine inherits. */
export type Endpoint = {path: string} | {fd: number};

export function progressOf(device: string, phase: 'precopy' | 'stop_copy' | 'load', ev: ProgressEvent): MigrationEvent {
  const out: MigrationEvent = {event: 'progress', device, phase, bytes: ev.bytes, rate: ev.rate};
  if (ev.estimate !== undefined) out.estimate = ev.estimate;
  if (ev.eta_ms !== undefined) out.eta_ms = ev.eta_ms;
  return out;
}
