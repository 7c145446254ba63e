import {checkCompat} from '../compat/index.js';
import {liveDestination} from '../compat/resolve.js';
import {ExitCode, InputError, VfioMigError} from '../errors.js';
import {flagNames} from '../fsm/states.js';
import type {ParamList} from '../model/types.js';
import {paramListFromDevice} from '../paramlist/index.js';
import {streamHeader} from '../schema/generated/stream-header.js';
import {schemaProblems} from '../schema/index.js';
import {deviceType, deviceTypeMigration, readDevice, readTypes} from '../enumerate/index.js';
import {DOCUMENT_API_VERSION, type DocumentApiVersion} from '../model/types.js';
import {describeBasis, loadRuleSets} from '../rules/index.js';
import {planPreparation} from '../prepare/plan.js';
import type {SysfsRoot} from '../sysfs/root.js';

/** The JSON header of a saved stream (schemas/stream-header.schema.json). */
export interface StreamHeader {
  apiVersion: DocumentApiVersion;
  kind: 'StreamHeader';
  /**
   * The source's migration parameter list, with its identity (v2): scheme none for a device
   * without vendor metadata. Null in v1 streams of such devices, or when the source's vendor
   * metadata is unusable.
   */
  param_list: ParamList | null;
  /** The source's migration flags by name (STOP_COPY, P2P, PRE_COPY). */
  migration_flags: string[];
  source: {host: string; device: string};
  /** MIG_DATA_SIZE at the start of STOP_COPY is not known yet: the pre-save estimate, if any. */
  size_estimate: number | null;
  created_at: string;
  /** In a group stream (several devices): this member's place; member 0 announces the others. */
  group?: {index: number; count: number; members?: StreamHeader[]};
}

/** Build the header from the source's sysfs view (read before the device is stopped). */
export async function buildHeader(sysfs: SysfsRoot, device: string, flags: number, host: string, estimate?: number): Promise<StreamHeader> {
  // A device with no migration metadata (plain vfio-pci, hisi_acc) still migrates; the
  // destination's driver then checks compatibility in-band, as upstream drivers do today.
  const types = await readTypes(sysfs);
  const source = await readDevice(sysfs, device, types);
  const meta = deviceTypeMigration(source, types);
  let paramList: ParamList | null;
  try {
    paramList = paramListFromDevice(source, meta, host, deviceType(source, types)?.problems);
  } catch (error) {
    // A source without usable metadata or identity still migrates: its driver decides.
    if (meta !== null || !(error instanceof InputError)) throw error;
    paramList = null;
  }
  return {
    apiVersion: DOCUMENT_API_VERSION,
    kind: 'StreamHeader',
    param_list: paramList,
    migration_flags: flagNames(flags),
    source: {host, device},
    size_estimate: estimate ?? null,
    created_at: new Date().toISOString(),
  };
}

/** Parse a stream's header text; anything malformed is an input error naming the stream. */
export function parseHeader(text: string, what: string): StreamHeader {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new InputError(`${what}: the stream header is not JSON`, 'BAD_HEADER');
  }
  const problems = schemaProblems(streamHeader, data);
  if (problems.length > 0) {
    const first = problems[0]!;
    throw new InputError(`${what}: not a valid stream header: ${first.pointer || '/'}: ${first.message}`, 'BAD_HEADER', {problems});
  }
  return data as StreamHeader;
}

export interface HeaderCheckOptions {
  /** Leave the decision to the destination driver (it checks its own header at RESUMING). */
  trustDriver?: boolean;
  /** `--rules` files or directories, before `<root>/etc/vfio-mig/rules.d/` and the shipped sets. */
  rules?: string[];
}

/**
 * Before anything touches the destination: the stream's model and parameters (or, without
 * vendor metadata, the source's identity under the rule sets) must be compatible with it,
 * and the destination must already be prepared (every parameter at the value `prepare`
 * would write). Exit 1 when not, with every reason.
 */
export async function checkHeaderAgainst(sysfs: SysfsRoot, destId: string, header: StreamHeader, options: HeaderCheckOptions = {}): Promise<void> {
  const list = header.param_list;
  if (list === null || options.trustDriver) return;
  const dest = await liveDestination(sysfs, destId);
  const rules = list.scheme === 'none' ? await loadRuleSets({sysfs, ...(options.rules ? {extra: options.rules} : {})}) : undefined;
  const verdict = checkCompat(list, dest, rules ? {rules} : {});
  // Checked before our engine opens the device: "in use" means someone else holds it.
  const blocking = verdict.reasons;
  if (blocking.length > 0) {
    throw new VfioMigError(
      `${destId}: cannot take the stream from ${list.source.host}/${list.source.device} (${describeBasis(verdict.basis)}): ${blocking.map((r) => r.message).join('; ')}; ` +
        'use --trust-driver to leave the decision to the destination driver',
      ExitCode.no,
      'NOT_COMPATIBLE',
      {reasons: blocking, basis: verdict.basis},
    );
  }
  if (dest.migration && dest.device && list.scheme !== 'none') {
    const plan = planPreparation(list, dest.migration, dest.device.migration);
    const pending = plan.steps.filter((s) => s.action === 'write');
    if (pending.length > 0) {
      throw new VfioMigError(
        `${destId}: not prepared for this stream (${pending.map((s) => `${s.param} ${JSON.stringify(s.current)} -> ${JSON.stringify(s.target)}`).join(', ')}); ` +
          `run 'vfio-mig prepare ${destId} --params <list>' first`,
        ExitCode.no,
        'NOT_PREPARED',
        {pending},
      );
    }
  }
}

/**
 * The headers of every device a stream holds, from its first header, for `count`
 * destinations named in stream order: a group stream's first header announces the others.
 * Input error (naming the stream's devices) when the count does not match.
 */
export function announcedHeaders(first: StreamHeader | null, count: number, what: string): (StreamHeader | null)[] {
  const group = first?.group;
  if (!group) {
    if (count > 1) throw new InputError(`${what}: holds one device${first ? ` (${first.source.device})` : ''}; name one destination`, 'GROUP_COUNT');
    return [first];
  }
  const all = [first!, ...(group.members ?? [])];
  if (group.index !== 0 || all.length !== group.count) {
    throw new InputError(`${what}: not the start of a group stream (member ${group.index} of ${group.count})`, 'BAD_HEADER');
  }
  if (count !== group.count) {
    throw new InputError(
      `${what}: holds ${group.count} devices (${all.map((h) => h.source.device).join(', ')}); name ${group.count} destinations, in that order`,
      'GROUP_COUNT',
    );
  }
  return all;
}

/** A later member's own header must be the one the first header announced (apart from `group`). */
export function checkMemberHeader(header: StreamHeader | null, announced: StreamHeader | null, index: number, what: string): void {
  const plain = (h: StreamHeader | null) => (h ? JSON.stringify({...h, group: undefined}) : 'null');
  if (header?.group?.index !== index || plain(header) !== plain(announced)) {
    throw new InputError(`${what}: member ${index} of the group stream is not the device its first header announced`, 'BAD_HEADER');
  }
}
