/**
 * Preparing a destination device: check, lock, plan, write one parameter at a time with a
 * read-back, and on any refused write restore what was already written, in reverse order.
 *
 * Writes never leave `<device>/migration/`: every name is one of the destination metadata's
 * own (checked safe) before a path is built, and the default I/O checks that the resolved
 * path is still directly inside the device's `migration/` directory.
 */
import path from 'node:path';

import {type CompatResult, checkCompat, type Reason} from '../compat/index.js';
import type {Basis, LoadedRuleSet} from '../rules/index.js';
import {deviceDir, deviceId, deviceType, deviceTypeMigration, hostName, readDevice, readTypes} from '../enumerate/index.js';
import {ExitCode, InputError, VfioMigError} from '../errors.js';
import {formatSysfsValue, isSafeParamName, parseSysfsValue} from '../model/params.js';
import type {ParamList, ParamValue, TypeMigration} from '../model/types.js';
import {validateParamList} from '../paramlist/index.js';
import {SysfsWriteError, type SysfsRoot} from '../sysfs/root.js';
import {acquireDeviceLock} from './lock.js';
import {type Plan, type PlanStep, planPreparation, V4_MODEL_ATTR, V4_VERSION_ATTR} from './plan.js';

/** How attributes are read and written; inject a fake in tests to make writes fail. */
export interface ParamIO {
  /** Read an attribute below the sysfs root (root-relative path), trailing newline removed. */
  read(rel: string): Promise<string>;
  /** Write an attribute; throw SysfsWriteError (with its errno name) when refused. */
  write(rel: string, text: string): Promise<void>;
}

/** The real thing: SysfsRoot reads and writes, refusing anything not directly in a `migration/` dir. */
export function sysfsIO(sysfs: SysfsRoot): ParamIO {
  const guard = async (rel: string): Promise<void> => {
    const dir = path.posix.dirname(rel);
    if (path.posix.basename(dir) !== 'migration' || !isSafeParamName(path.posix.basename(rel))) {
      throw new InputError(`${rel}: not a migration parameter path; refusing`, 'UNSAFE_PATH');
    }
    const [realDir, realFile] = await Promise.all([sysfs.resolve(dir), sysfs.resolve(rel)]);
    if (path.posix.dirname(realFile) !== realDir) {
      throw new InputError(`${rel}: resolves to ${realFile}, outside ${realDir}; refusing`, 'UNSAFE_PATH');
    }
  };
  return {
    read: async (rel) => {
      await guard(rel);
      return sysfs.readText(rel);
    },
    write: async (rel, text) => {
      await guard(rel);
      await sysfs.writeText(rel, text);
    },
  };
}

export type PrepareStatus = 'prepared' | 'dry_run' | 'not_compatible' | 'refused' | 'rollback_failed';

export interface StepOutcome extends PlanStep {
  /** What happened to a write step: written and read back, refused, or not attempted. */
  outcome?: 'written' | 'refused' | 'not_attempted' | 'rolled_back' | 'rollback_failed';
}

export interface WriteFailure {
  param: string;
  value: ParamValue;
  /** The errno name (EINVAL, EBUSY, ...); null when the write "succeeded" but read back differently. */
  errno: string | null;
  message: string;
  read_back?: string;
}

export interface RollbackEntry {
  param: string;
  value: ParamValue;
  ok: boolean;
  errno?: string | null;
  message?: string;
}

export interface PrepareResult {
  status: PrepareStatus;
  host: string;
  device: string;
  compatible: boolean;
  /** What decided compatibility (vendor metadata, a rule set, the default rule). */
  basis: Basis;
  reasons: Reason[];
  warnings: Reason[];
  /** none: decided on identity; a driver without metadata has nothing to write. */
  scheme: 'v3' | 'v4' | 'none' | null;
  steps: StepOutcome[];
  writes: number;
  failure?: WriteFailure;
  rollback?: RollbackEntry[];
}

export interface PrepareOptions {
  dryRun?: boolean;
  /** The rule sets in force (loadRuleSets); needed when the list has no vendor metadata. */
  rules?: LoadedRuleSet[];
  io?: ParamIO;
  /** Host name for the report (default: the root's `proc/sys/kernel/hostname`). */
  host?: string;
}

function valueText(step: PlanStep): string {
  return formatSysfsValue(step.target as ParamValue);
}

function parseBack(meta: TypeMigration, param: string, text: string): ParamValue | undefined {
  if (meta.scheme === 'v4') return text.trim();
  const spec = meta.params[param];
  return spec === undefined ? undefined : parseSysfsValue(spec.type, text);
}

function errnoOf(error: unknown): string {
  if (error instanceof SysfsWriteError) return error.errnoName;
  if (error instanceof VfioMigError) return error.code;
  return (error as NodeJS.ErrnoException).code ?? 'EIO';
}

/** Write `value` and read it back; the error describes a refusal or a mismatch. */
async function writeChecked(
  io: ParamIO,
  meta: TypeMigration,
  rel: string,
  param: string,
  value: ParamValue,
): Promise<{ok: true} | {ok: false; changed: boolean; failure: WriteFailure}> {
  try {
    await io.write(rel, formatSysfsValue(value));
  } catch (error) {
    const errno = errnoOf(error);
    return {ok: false, changed: false, failure: {param, value, errno, message: `write of ${JSON.stringify(value)} to ${param} refused: ${errno}`}};
  }
  let text: string;
  try {
    text = await io.read(rel);
  } catch (error) {
    const errno = errnoOf(error);
    return {ok: false, changed: true, failure: {param, value, errno, message: `${param}: cannot read back after writing: ${errno}`}};
  }
  const back = parseBack(meta, param, text);
  if (back !== value) {
    return {
      ok: false,
      changed: true,
      failure: {param, value, errno: null, message: `${param}: wrote ${JSON.stringify(value)} but read back ${JSON.stringify(text)}`, read_back: text},
    };
  }
  return {ok: true};
}

/**
 * Check, plan and (unless `dryRun`) apply a preparation of device `id` for `list`.
 * Returns a result for every verdict (prepared, not compatible, refused and rolled back,
 * rollback failed); throws InputError for bad input and RuntimeFailure(LOCKED) when another
 * prepare holds the device.
 */
export async function prepareDevice(sysfs: SysfsRoot, id: string, list: ParamList, options: PrepareOptions = {}): Promise<PrepareResult> {
  // Library callers may build their own list: the same checks as a file, before anything else.
  validateParamList(list);
  const io = options.io ?? sysfsIO(sysfs);
  const host = options.host ?? (await hostName(sysfs));
  // Resolve the id (InputError if unknown) before taking a lock named after it.
  const first = await readDevice(sysfs, id);
  const lock = options.dryRun ? undefined : await acquireDeviceLock(sysfs, deviceId(first));
  try {
    // Read again under the lock: what another prepare did is now visible.
    const types = await readTypes(sysfs);
    const device = options.dryRun ? first : await readDevice(sysfs, id, types);
    const meta = deviceTypeMigration(device, types);
    const type = deviceType(device, types);
    const compat: CompatResult = checkCompat(list, {host, type, device, migration: meta}, options.rules === undefined ? {} : {rules: options.rules});
    const base = {host, device: deviceId(device), compatible: compat.compatible, basis: compat.basis, reasons: compat.reasons, warnings: compat.warnings};
    if (!compat.compatible || (meta === null && list.scheme !== 'none')) {
      return {status: 'not_compatible', ...base, scheme: list.scheme === 'none' ? 'none' : (meta?.scheme ?? null), steps: [], writes: 0};
    }
    if (list.scheme === 'none' || meta === null) {
      // Identity rules said yes: the driver has no parameters; nothing to write.
      return {status: options.dryRun ? 'dry_run' : 'prepared', ...base, scheme: 'none', steps: [], writes: 0};
    }
    const plan: Plan = planPreparation(list, meta, device.migration);
    const steps: StepOutcome[] = plan.steps.map((s) => ({...s}));
    if (options.dryRun) return {status: 'dry_run', ...base, scheme: plan.scheme, steps, writes: plan.writes};

    const dir = `${deviceDir(device)}/migration`;
    const relOf = (param: string): string => {
      const known = meta.scheme === 'v4' ? param === V4_MODEL_ATTR || param === V4_VERSION_ATTR : Object.hasOwn(meta.params, param);
      if (!known || !isSafeParamName(param)) throw new InputError(`${param}: not a parameter of the destination`, 'UNSAFE_NAME');
      return `${dir}/${param}`;
    };
    // Check every name before any path is built or anything is written.
    for (const s of steps) relOf(s.param);

    const written: StepOutcome[] = [];
    let failure: WriteFailure | undefined;
    for (const step of steps) {
      if (step.action !== 'write') continue;
      if (failure) {
        step.outcome = 'not_attempted';
        continue;
      }
      const r = await writeChecked(io, meta, relOf(step.param), step.param, step.target as ParamValue);
      if (r.ok) {
        step.outcome = 'written';
        written.push(step);
      } else {
        step.outcome = 'refused';
        failure = r.failure;
        if (r.changed) written.push(step);
      }
    }
    if (!failure) return {status: 'prepared', ...base, scheme: plan.scheme, steps, writes: plan.writes};

    // Restore in reverse order. v4: the model first (writing it resets the version), then the version.
    const order =
      meta.scheme === 'v4'
        ? [V4_MODEL_ATTR, V4_VERSION_ATTR].flatMap((name) => written.filter((s) => s.param === name))
        : [...written].reverse();
    const rollback: RollbackEntry[] = [];
    for (const step of order) {
      if (step.current === null) {
        rollback.push({param: step.param, value: step.target as ParamValue, ok: false, errno: null, message: 'previous value unknown'});
        continue;
      }
      const r = await writeChecked(io, meta, relOf(step.param), step.param, step.current);
      if (r.ok) {
        rollback.push({param: step.param, value: step.current, ok: true});
        if (step.outcome === 'written') step.outcome = 'rolled_back';
      } else {
        rollback.push({param: step.param, value: step.current, ok: false, errno: r.failure.errno, message: r.failure.message});
        step.outcome = 'rollback_failed';
      }
    }
    // v4: a restored model reset the version; restore it too if it was not written.
    if (meta.scheme === 'v4' && order.some((s) => s.param === V4_MODEL_ATTR) && !order.some((s) => s.param === V4_VERSION_ATTR)) {
      const v = steps.find((s) => s.param === V4_VERSION_ATTR);
      if (v && v.current !== null) {
        const r = await writeChecked(io, meta, relOf(V4_VERSION_ATTR), V4_VERSION_ATTR, v.current);
        rollback.push({param: V4_VERSION_ATTR, value: v.current, ok: r.ok, ...(r.ok ? {} : {errno: r.failure.errno, message: r.failure.message})});
      }
    }
    const status: PrepareStatus = rollback.every((e) => e.ok) ? 'refused' : 'rollback_failed';
    return {status, ...base, scheme: plan.scheme, steps, writes: plan.writes, failure, rollback};
  } finally {
    await lock?.release();
  }
}

/** The error a CLI (or a caller wanting exceptions) raises for a refused or unrecovered prepare. */
export function prepareError(result: PrepareResult): VfioMigError | undefined {
  if (result.status !== 'refused' && result.status !== 'rollback_failed') return undefined;
  const f = result.failure as WriteFailure;
  const details = {device: result.device, param: f.param, value: f.value, errno: f.errno, rollback: result.rollback ?? [], steps: result.steps};
  if (result.status === 'refused') {
    const restored = (result.rollback ?? []).map((e) => `${e.param}=${JSON.stringify(e.value)}`);
    const tail = restored.length === 0 ? 'nothing had been written' : `restored ${restored.join(', ')}`;
    return new VfioMigError(`${result.device}: ${f.message}; ${tail}`, ExitCode.runtime, 'WRITE_REFUSED', details);
  }
  const bad = (result.rollback ?? []).filter((e) => !e.ok).map((e) => `${e.param}=${JSON.stringify(e.value)} (${e.errno ?? 'mismatch'})`);
  return new VfioMigError(
    `${result.device}: ${f.message}; restoring failed for ${bad.join(', ')}: the device needs attention`,
    ExitCode.recoveryFailed,
    'ROLLBACK_FAILED',
    details,
  );
}
