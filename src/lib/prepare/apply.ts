/**
 * Preparing a destination device: check, lock, plan, journal, write one parameter at a time
 * with a read-back, and on any refused write restore what was already written, in reverse
 * order. A prepare that dies half-way is rolled back by the next one (journal.ts).
 *
 * Writes never leave `<device>/migration/`: every name is one of the destination metadata's
 * own (checked safe) before a path is built, and every target's real path is checked to be
 * directly inside the device's real `migration/` directory, before the first write and at
 * each write.
 */
import {type CompatResult, checkCompat, type Reason} from '../compat/index.js';
import type {Basis, LoadedRuleSet} from '../rules/index.js';
import {deviceDir, deviceId, deviceType, deviceTypeMigration, hostName, readDevice, readTypes} from '../enumerate/index.js';
import {ExitCode, InputError, VfioMigError} from '../errors.js';
import {formatSysfsValue, isSafeParamName} from '../model/params.js';
import type {ParamList, ParamValue} from '../model/types.js';
import {validateParamList} from '../paramlist/index.js';
import {layout} from '../sysfs/layout.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {
  type JournalStep,
  journalRel,
  type ParamIO,
  type PrepareJournal,
  readJournal,
  type RecoveredPrepare,
  recoverLocked,
  removeJournal,
  restoreValues,
  type RollbackEntry,
  sysfsIO,
  writeAndCheck,
  writeJournal,
} from './journal.js';
import {acquireDeviceLock} from './lock.js';
import {type Plan, type PlanStep, planPreparation, V4_MODEL_ATTR, V4_VERSION_ATTR} from './plan.js';

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
  /** An earlier prepare of this device that died half-way, rolled back before this one. */
  recovered?: RecoveredPrepare;
  /** Dry run: an interrupted prepare's journal, which the next real prepare rolls back first. */
  interrupted?: {journal: string; pid: number; started: string; steps: JournalStep[]};
  /** rollback_failed: the journal kept for the next command (absolute path). */
  journal?: string;
}

/** Points where a test may hold a prepare (the CLI's VFIO_MIG_TEST_PAUSE); no effect otherwise. */
export interface PrepareHooks {
  /** The lock is taken, its file not yet filled with our pid. */
  locked?: () => Promise<void>;
  /** The `n`-th write (1-based) was written and read back. */
  written?: (n: number, param: string) => Promise<void>;
}

export interface PrepareOptions {
  dryRun?: boolean;
  /** The rule sets in force (loadRuleSets); needed when the list has no vendor metadata. */
  rules?: LoadedRuleSet[];
  io?: ParamIO;
  /** Host name for the report (default: the root's `proc/sys/kernel/hostname`). */
  host?: string;
  hooks?: PrepareHooks;
}

/**
 * Check, plan and (unless `dryRun`) apply a preparation of device `id` for `list`.
 * Returns a result for every verdict (prepared, not compatible, refused and rolled back,
 * rollback failed); throws InputError for bad input, RuntimeFailure(LOCKED) when another
 * prepare holds the device, and exit 5 when an interrupted earlier prepare cannot be undone.
 */
export async function prepareDevice(sysfs: SysfsRoot, id: string, list: ParamList, options: PrepareOptions = {}): Promise<PrepareResult> {
  // Library callers may build their own list: the same checks as a file, before anything else.
  validateParamList(list);
  const io = options.io ?? sysfsIO(sysfs);
  const host = options.host ?? (await hostName(sysfs));
  // Resolve the id (InputError if unknown) before taking a lock named after it.
  const first = await readDevice(sysfs, id);
  const name = deviceId(first);
  const dir = layout.migrationDir(deviceDir(first));
  const lock = options.dryRun ? undefined : await acquireDeviceLock(sysfs, name, {onLocked: options.hooks?.locked});
  try {
    // Holding the lock, a journal can only be a dead prepare's: undo it before anything else.
    const recovered = options.dryRun ? undefined : await recoverLocked(sysfs, name, dir, io);
    // A dry run takes no lock and changes nothing, but must not hide a half-prepared device.
    const pending = options.dryRun ? await readJournal(sysfs, name, dir) : undefined;
    // Read again under the lock: what another prepare (or the recovery) did is now visible.
    const types = await readTypes(sysfs);
    const device = options.dryRun ? first : await readDevice(sysfs, id, types);
    const meta = deviceTypeMigration(device, types);
    const type = deviceType(device, types);
    const compat: CompatResult = checkCompat(list, {host, type, device, migration: meta}, options.rules === undefined ? {} : {rules: options.rules});
    const base = {
      host,
      device: name,
      compatible: compat.compatible,
      basis: compat.basis,
      reasons: compat.reasons,
      warnings: compat.warnings,
      ...(recovered ? {recovered} : {}),
      ...(pending ? {interrupted: {journal: sysfs.pathOf(journalRel(name)), pid: pending.pid, started: pending.started, steps: pending.steps}} : {}),
    };
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

    const relOf = (param: string): string => {
      const known = meta.scheme === 'v4' ? param === V4_MODEL_ATTR || param === V4_VERSION_ATTR : Object.hasOwn(meta.params, param);
      if (!known || !isSafeParamName(param)) throw new InputError(`${param}: not a parameter of the destination`, 'UNSAFE_NAME');
      return `${dir}/${param}`;
    };
    // Check every name, and where every write really lands, before anything is written.
    for (const s of steps) relOf(s.param);
    const writes = steps.filter((s) => s.action === 'write');
    for (const s of writes) await sysfs.resolveWithin(relOf(s.param), dir);
    if (writes.length === 0) return {status: 'prepared', ...base, scheme: plan.scheme, steps, writes: plan.writes};

    const journal: PrepareJournal = {
      apiVersion: 'vfio-mig/v1',
      kind: 'PrepareJournal',
      device: name,
      dir,
      scheme: meta.scheme,
      pid: process.pid,
      started: new Date().toISOString(),
      steps: writes.map((s) => ({param: s.param, from: s.current, to: s.target as ParamValue})),
    };
    writeJournal(sysfs, journal);

    let failure: WriteFailure | undefined;
    let n = 0;
    for (const step of writes) {
      if (failure) {
        step.outcome = 'not_attempted';
        continue;
      }
      const bad = await writeAndCheck(io, meta.scheme, relOf(step.param), step.param, step.target as ParamValue);
      if (bad) {
        step.outcome = 'refused';
        failure = {param: step.param, value: step.target as ParamValue, errno: bad.errno, message: bad.message, ...(bad.read_back === undefined ? {} : {read_back: bad.read_back})};
      } else {
        step.outcome = 'written';
        await options.hooks?.written?.(++n, step.param);
      }
    }
    if (!failure) {
      removeJournal(sysfs, name);
      return {status: 'prepared', ...base, scheme: plan.scheme, steps, writes: plan.writes};
    }

    // Restore every value that changed (written, or refused after all), in reverse order.
    const rollback = await restoreValues(io, meta.scheme, dir, journal.steps);
    for (const e of rollback) {
      const step = writes.find((s) => s.param === e.param);
      if (!step) continue;
      if (!e.ok) step.outcome = 'rollback_failed';
      else if (step.outcome === 'written') step.outcome = 'rolled_back';
    }
    if (rollback.every((e) => e.ok)) {
      removeJournal(sysfs, name);
      return {status: 'refused', ...base, scheme: plan.scheme, steps, writes: plan.writes, failure, rollback};
    }
    // Kept: the next command that touches the device tries the rollback again.
    return {status: 'rollback_failed', ...base, scheme: plan.scheme, steps, writes: plan.writes, failure, rollback, journal: sysfs.pathOf(journalRel(name))};
  } finally {
    await lock?.release();
  }
}

/**
 * The error a CLI (or a caller wanting exceptions) raises for a prepare that did not prepare
 * the device: not compatible (exit 1), a refused write rolled back (exit 3), a failed restore
 * (exit 5). Undefined only when the device is prepared, or for a dry run.
 */
export function prepareError(result: PrepareResult): VfioMigError | undefined {
  if (result.status === 'prepared' || result.status === 'dry_run') return undefined;
  if (result.status === 'not_compatible') {
    const why = result.reasons.map((r) => r.message).join('; ') || 'no migration metadata';
    return new VfioMigError(`${result.device}: not compatible with the source: ${why}; nothing written`, ExitCode.no, 'NOT_COMPATIBLE', {
      device: result.device,
      reasons: result.reasons,
    });
  }
  const f = result.failure as WriteFailure;
  const details = {device: result.device, param: f.param, value: f.value, errno: f.errno, rollback: result.rollback ?? [], steps: result.steps};
  if (result.status === 'refused') {
    const restored = (result.rollback ?? []).map((e) => `${e.param}=${JSON.stringify(e.value)}`);
    const tail = restored.length === 0 ? 'nothing had been written' : `restored ${restored.join(', ')}`;
    return new VfioMigError(`${result.device}: ${f.message}; ${tail}`, ExitCode.runtime, 'WRITE_REFUSED', details);
  }
  const bad = (result.rollback ?? [])
    .filter((e) => !e.ok)
    .map((e) => (e.message === 'previous value unknown' ? `${e.param} (previous value unknown)` : `${e.param}=${formatSysfsValue(e.value)} (${e.errno ?? 'mismatch'})`));
  return new VfioMigError(
    `${result.device}: ${f.message}; restoring failed: the device needs attention: restore ${bad.join(', ')} in its migration/ directory; the journal ${result.journal} makes the next prepare try again`,
    ExitCode.recoveryFailed,
    'ROLLBACK_FAILED',
    {...details, journal: result.journal},
  );
}
