import {InputError} from '../errors.js';
import type {StreamHeader} from '../migrate/header.js';
import {probeHeader} from '../schema/generated/probe-header.js';
import {schemaProblems} from '../schema/index.js';

/** The header of a probe file (schemas/probe-header.schema.json). */
export interface ProbeHeader {
  apiVersion: 'vfio-mig/v1';
  kind: 'ProbeHeader';
  /** What a full migration stream of this source would carry (parameter list, source). */
  stream: StreamHeader;
  probe: {
    mode: 'pre_copy' | 'stop_copy';
    initial_bytes: number | null;
    max_bytes: number;
    /** stop_copy mode: the bound on the time the source was out of RUNNING. */
    max_stop_ms?: number;
  };
}

/** Parse a probe file's header text; anything malformed is an input error naming the file. */
export function parseProbeHeader(text: string, what: string): ProbeHeader {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new InputError(`${what}: the probe file's header is not JSON`, 'BAD_HEADER');
  }
  if (data !== null && typeof data === 'object' && (data as {kind?: unknown}).kind === 'StreamHeader') {
    throw new InputError(`${what}: a migration stream, not a probe file: make one with 'vfio-mig probe --source <device> --out FILE'`, 'NOT_A_PROBE');
  }
  const problems = schemaProblems(probeHeader, data);
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new InputError(`${what}: not a valid probe file header: ${first.pointer || '/'}: ${first.message}`, 'BAD_HEADER', {problems});
  }
  return data as ProbeHeader;
}
