/**
 * One prepare per device at a time: an flock(2) on `<root>/run/vfio-mig/<device>.lock`. The
 * directory lives below the sysfs root (`/run/vfio-mig` on a host), so tests stay inside
 * their tmp tree; the prepare journal (journal.ts) sits beside the lock.
 *
 * Why flock(2) through flock(1): Node has no flock binding. We open the lock file ourselves
 * and hand that descriptor to `flock -n 3` as its fd 3. flock(2) locks belong to the open
 * file description, which the child shares with us, so the lock outlives the child (it exits
 * at once) and is held exactly as long as our descriptor: closing it releases the lock, and
 * so does the kernel when we die in any way, SIGKILL included. No pid is trusted and nothing
 * is ever stale: a lock file that is empty or names a dead pid is just a file. (A helper
 * process holding the lock instead would need its own death-of-parent handling; a native
 * addon or the engine would add a build dependency for one syscall.) Cost: one short-lived
 * child, 8 to 18 ms measured on the shared 2-core build host.
 *
 * The file is never unlinked: unlinking a flock'd file lets a process that opened the old
 * inode and one that creates a new one both "hold" the lock. The holder's pid is written
 * into it after locking, for the busy message only.
 */
import {spawnSync} from 'node:child_process';
import {closeSync, constants as fsc, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync} from 'node:fs';

import {RuntimeFailure} from '../errors.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {layout} from '../sysfs/layout.js';

export const LOCK_DIR = layout.lockDir;

/** flock(1)'s exit code when `-n` finds the lock taken (`-E`), distinct from its own errors. */
const BUSY_EXIT = 75;

export interface DeviceLock {
  path: string;
  release(): Promise<void>;
}

const ID = /^[A-Za-z0-9:._-]{1,64}$/;

/** The root-relative path of a device's lock-directory file (`.lock`, `.journal`). */
export function lockDirFile(deviceId: string, suffix: string): string {
  if (!ID.test(deviceId)) throw new RuntimeFailure(`${deviceId}: not a device id`, 'LOCK_FAILED');
  return `${LOCK_DIR}/${deviceId}${suffix}`;
}

function holder(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function busy(deviceId: string, file: string): RuntimeFailure {
  const pid = holder(file);
  return new RuntimeFailure(
    `${deviceId}: being prepared by another process${pid === undefined ? '' : ` (pid ${pid})`}; lock ${file}`,
    'LOCKED',
    {device: deviceId, lock: file, ...(pid === undefined ? {} : {pid})},
  );
}

export interface LockOptions {
  /** Called once the lock is held, before the pid is written (tests delay here). */
  onLocked?: () => Promise<void>;
}

/** Take the device's lock or fail with RuntimeFailure code LOCKED (exit 3, nothing written). */
export async function acquireDeviceLock(sysfs: SysfsRoot, deviceId: string, options: LockOptions = {}): Promise<DeviceLock> {
  const file = sysfs.pathOf(lockDirFile(deviceId, '.lock'));
  const dir = sysfs.pathOf(LOCK_DIR);
  // The lock and the journal stay below the root even in a tree whose `run` is a link out
  // of it: check what exists before creating anything, and the result after.
  const parts = LOCK_DIR.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const rel = parts.slice(0, i).join('/');
    if (await sysfs.exists(rel)) await sysfs.resolve(rel);
  }
  try {
    mkdirSync(dir, {recursive: true, mode: 0o755});
  } catch (error) {
    throw new RuntimeFailure(`${dir}: cannot create the lock directory: ${(error as NodeJS.ErrnoException).code ?? error}`, 'LOCK_FAILED');
  }
  await sysfs.resolve(LOCK_DIR);
  let fd: number;
  try {
    fd = openSync(file, fsc.O_RDWR | fsc.O_CREAT | fsc.O_NOFOLLOW, 0o644);
  } catch (error) {
    throw new RuntimeFailure(`${file}: cannot open the lock: ${(error as NodeJS.ErrnoException).code ?? error}`, 'LOCK_FAILED');
  }
  const r = spawnSync('flock', ['-n', '-E', String(BUSY_EXIT), '3'], {stdio: ['ignore', 'ignore', 'pipe', fd], encoding: 'utf8'});
  if (r.status !== 0) {
    closeSync(fd);
    if (r.status === BUSY_EXIT) throw busy(deviceId, file);
    const why = r.error ? `${(r.error as NodeJS.ErrnoException).code ?? r.error.message}` : (r.stderr ?? '').trim() || `exit ${r.status ?? r.signal}`;
    throw new RuntimeFailure(`${file}: cannot lock with flock(1) from util-linux: ${why}`, 'LOCK_FAILED');
  }
  let open = true;
  const release = async (): Promise<void> => {
    if (!open) return;
    open = false;
    try {
      ftruncateSync(fd, 0);
    } catch {
      /* informational content only */
    }
    closeSync(fd);
  };
  try {
    await options.onLocked?.();
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
  } catch (error) {
    await release();
    throw error;
  }
  return {path: file, release};
}
