/**
 * The prepare journal: before its first write, a prepare records every value it will change
 * (old and new) in `<root>/run/vfio-mig/<device>.journal`, beside the device's lock; it
 * removes the journal after success or a complete rollback. The journal is only ever read by
 * a process holding the device's flock, so a journal found then belongs to a prepare that
 * died (the lock dies with its process): no pid is trusted. Recovery restores the old values
 * in reverse order, reading each back; what it cannot restore is reported exactly (exit 5)
 * and the journal is kept, so the next command tries again.
 */
import {closeSync, constants as fsc, fsyncSync, lstatSync, openSync, readFileSync, renameSync, unlinkSync, writeSync} from 'node:fs';
import path from 'node:path';

import {deviceDir, deviceId, readDevice} from '../enumerate/index.js';
import {ExitCode, InputError, VfioMigError} from '../errors.js';
import {formatSysfsValue, isSafeParamName, parseSysfsValue} from '../model/params.js';
import type {ParamValue} from '../model/types.js';
import {prepareJournal} from '../schema/generated/prepare-journal.js';
import {schemaProblems} from '../schema/index.js';
import {layout} from '../sysfs/layout.js';
import {SysfsWriteError, type SysfsRoot} from '../sysfs/root.js';
import {acquireDeviceLock, lockDirFile, type LockOptions} from './lock.js';
import {V4_MODEL_ATTR, V4_VERSION_ATTR} from './plan.js';

/** How attributes are read and written; inject a fake in tests to make writes fail. */
export interface ParamIO {
  /** Read an attribute below the sysfs root (root-relative path), trailing newline removed. */
  read(rel: string): Promise<string>;
  /** Write an attribute; throw SysfsWriteError (with its errno name) when refused. */
  write(rel: string, text: string): Promise<void>;
}

/**
 * The real thing: SysfsRoot reads and writes of a parameter file, refused unless its real
 * path is directly inside the real `<device>/migration/` directory (not through a link).
 */
export function sysfsIO(sysfs: SysfsRoot): ParamIO {
  const within = (rel: string): string => {
    const dir = path.posix.dirname(rel);
    if (path.posix.basename(dir) !== 'migration' || !isSafeParamName(path.posix.basename(rel))) {
      throw new InputError(`${rel}: not a migration parameter path; refusing`, 'UNSAFE_PATH');
    }
    return dir;
  };
  return {
    read: async (rel) => {
      await sysfs.resolveWithin(rel, within(rel));
      return sysfs.readText(rel);
    },
    write: async (rel, text) => {
      await sysfs.writeText(rel, text, {within: within(rel)});
    },
  };
}

export interface JournalStep {
  param: string;
  /** The value before the prepare; null when it could not be read. */
  from: ParamValue | null;
  to: ParamValue;
}

export interface PrepareJournal {
  apiVersion: 'vfio-mig/v1';
  kind: 'PrepareJournal';
  device: string;
  /** The device's migration/ directory, root-relative. */
  dir: string;
  scheme: 'v3' | 'v4';
  pid: number;
  started: string;
  /** The planned writes, in write order. */
  steps: JournalStep[];
}

export interface RollbackEntry {
  param: string;
  value: ParamValue;
  ok: boolean;
  errno?: string | null;
  message?: string;
}

/** What recovery did with an interrupted prepare's journal. */
export interface RecoveredPrepare {
  journal: string;
  pid: number;
  started: string;
  restored: RollbackEntry[];
}

export function journalRel(device: string): string {
  return lockDirFile(device, '.journal');
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function journalFailure(file: string, why: string): VfioMigError {
  return new VfioMigError(`${file}: cannot write the prepare journal: ${why}; nothing was written to the device`, ExitCode.runtime, 'JOURNAL_FAILED', {
    journal: file,
  });
}

/** Write the journal durably (temp file, fsync, rename, fsync of the directory). */
export function writeJournal(sysfs: SysfsRoot, journal: PrepareJournal): string {
  const file = sysfs.pathOf(journalRel(journal.device));
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW, 0o644);
    try {
      writeSync(fd, `${JSON.stringify(journal, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    fsyncDir(path.dirname(file));
  } catch (error) {
    try {
      unlinkSync(tmp);
    } catch {
      /* not created */
    }
    throw journalFailure(file, (error as NodeJS.ErrnoException).code ?? String(error));
  }
  return file;
}

export function removeJournal(sysfs: SysfsRoot, device: string): void {
  const file = sysfs.pathOf(journalRel(device));
  try {
    unlinkSync(file);
    fsyncDir(path.dirname(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw journalFailure(file, (error as NodeJS.ErrnoException).code ?? String(error));
  }
}

function unreadable(file: string, why: string): VfioMigError {
  return new VfioMigError(
    `${file}: an interrupted prepare left a journal that cannot be used (${why}); check the device's migration/ values against it by hand, then remove it`,
    ExitCode.recoveryFailed,
    'JOURNAL_UNREADABLE',
    {journal: file},
  );
}

/** The device's journal, or undefined when there is none; exit 5 when it is unusable. */
export async function readJournal(sysfs: SysfsRoot, device: string, dir: string): Promise<PrepareJournal | undefined> {
  const file = sysfs.pathOf(journalRel(device));
  if (!(await sysfs.exists(journalRel(device)))) return undefined;
  // Never read (or act on) a journal reached through a link out of the root.
  await sysfs.resolve(journalRel(device));
  let text: string;
  try {
    const fd = openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unreadable(file, (error as NodeJS.ErrnoException).code ?? String(error));
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw unreadable(file, 'not JSON');
  }
  const problems = schemaProblems(prepareJournal, data);
  if (problems.length > 0) throw unreadable(file, problems.map((p) => `${p.pointer || '/'}: ${p.message}`).join('; '));
  const journal = data as PrepareJournal;
  if (journal.device !== device || journal.dir !== dir) throw unreadable(file, `written for ${JSON.stringify(journal.dir)}, not ${dir}`);
  return journal;
}

/** Does the attribute text hold `value`? Typed by the value itself, so no metadata is needed. */
function holds(scheme: 'v3' | 'v4', value: ParamValue, text: string): boolean {
  if (typeof value === 'string') return (scheme === 'v4' ? text.trim() : text) === value;
  return parseSysfsValue(typeof value === 'boolean' ? 'bool' : 'int', text) === value;
}

function errnoOf(error: unknown): string {
  if (error instanceof SysfsWriteError) return error.errnoName;
  if (error instanceof VfioMigError) return error.code;
  return (error as NodeJS.ErrnoException).code ?? 'EIO';
}

/** Write `value` and read it back: undefined when it holds, else why not. */
export async function writeAndCheck(
  io: ParamIO,
  scheme: 'v3' | 'v4',
  rel: string,
  param: string,
  value: ParamValue,
): Promise<{changed: boolean; errno: string | null; message: string; read_back?: string} | undefined> {
  try {
    await io.write(rel, formatSysfsValue(value));
  } catch (error) {
    const errno = errnoOf(error);
    return {changed: false, errno, message: `write of ${JSON.stringify(value)} to ${param} refused: ${errno}`};
  }
  let text: string;
  try {
    text = await io.read(rel);
  } catch (error) {
    const errno = errnoOf(error);
    return {changed: true, errno, message: `${param}: cannot read back after writing: ${errno}`};
  }
  if (!holds(scheme, value, text)) {
    return {changed: true, errno: null, message: `${param}: wrote ${JSON.stringify(value)} but read back ${JSON.stringify(text)}`, read_back: text};
  }
  return undefined;
}

/**
 * Put back the `from` value of every step that does not hold it now: in reverse write order
 * (RFC v4: the model first, since writing it resets the version, then the version, always
 * after a restored model). A value already in place is not written again.
 */
export async function restoreValues(io: ParamIO, scheme: 'v3' | 'v4', dir: string, steps: JournalStep[]): Promise<RollbackEntry[]> {
  const order = scheme === 'v4' ? [V4_MODEL_ATTR, V4_VERSION_ATTR].flatMap((name) => steps.filter((s) => s.param === name)) : [...steps].reverse();
  const out: RollbackEntry[] = [];
  let modelWritten = false;
  for (const step of order) {
    const rel = `${dir}/${step.param}`;
    const forced = scheme === 'v4' && step.param === V4_VERSION_ATTR && modelWritten;
    if (!forced && step.from !== null) {
      const now = await io.read(rel).catch(() => undefined);
      if (now !== undefined && holds(scheme, step.from, now)) continue;
    }
    if (step.from === null) {
      out.push({param: step.param, value: step.to, ok: false, errno: null, message: 'previous value unknown'});
      continue;
    }
    if (step.param === V4_MODEL_ATTR) modelWritten = true;
    const bad = await writeAndCheck(io, scheme, rel, step.param, step.from);
    out.push(bad ? {param: step.param, value: step.from, ok: false, errno: bad.errno, message: bad.message} : {param: step.param, value: step.from, ok: true});
  }
  return out;
}

/** The exit-5 error naming exactly what is left to restore, by hand, and the journal. */
export function unrestoredError(sysfs: SysfsRoot, journal: PrepareJournal, restored: RollbackEntry[], lead: string): VfioMigError {
  const bad = restored.filter((e) => !e.ok);
  const toRestore = bad.map((e) => (e.message === 'previous value unknown' ? `${e.param} (previous value unknown)` : `${e.param}=${formatSysfsValue(e.value)}`));
  const file = sysfs.pathOf(journalRel(journal.device));
  return new VfioMigError(
    `${journal.device}: ${lead}; restore ${toRestore.join(', ')} in ${sysfs.pathOf(journal.dir)}, then remove ${file}`,
    ExitCode.recoveryFailed,
    'ROLLBACK_FAILED',
    {device: journal.device, journal: file, pid: journal.pid, started: journal.started, rollback: restored},
  );
}

/**
 * Under the device's lock: roll back an interrupted prepare if its journal is there.
 * Undefined when there was none; throws exit 5 (journal kept) when a value cannot be restored.
 */
export async function recoverLocked(sysfs: SysfsRoot, device: string, dir: string, io: ParamIO): Promise<RecoveredPrepare | undefined> {
  const journal = await readJournal(sysfs, device, dir);
  if (journal === undefined) return undefined;
  const restored = await restoreValues(io, journal.scheme, dir, journal.steps);
  if (restored.some((e) => !e.ok)) {
    throw unrestoredError(sysfs, journal, restored, `a prepare interrupted at ${journal.started} (pid ${journal.pid}) could not be rolled back`);
  }
  removeJournal(sysfs, device);
  return {journal: sysfs.pathOf(journalRel(device)), pid: journal.pid, started: journal.started, restored};
}

/**
 * For any command about to touch a device (prepare does this itself; a migration's
 * destination or source pre-check should too): take the device's lock, roll back a prepare
 * that died half-way, release. Undefined when there was nothing to do; throws RuntimeFailure
 * LOCKED (exit 3) while another process prepares the device, exit 5 when restoring fails.
 */
export async function recoverInterruptedPrepare(
  sysfs: SysfsRoot,
  id: string,
  options: {io?: ParamIO} & LockOptions = {},
): Promise<RecoveredPrepare | undefined> {
  const device = await readDevice(sysfs, id);
  const name = deviceId(device);
  // Cheap check first: no journal, no lock to take (the lock file is not created either).
  const journalFile = sysfs.pathOf(journalRel(name));
  try {
    lstatSync(journalFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
  }
  const lock = await acquireDeviceLock(sysfs, name, options);
  try {
    return await recoverLocked(sysfs, name, layout.migrationDir(deviceDir(device)), options.io ?? sysfsIO(sysfs));
  } finally {
    await lock.release();
  }
}
