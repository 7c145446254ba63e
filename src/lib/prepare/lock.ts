/**
 * One prepare per device at a time: an exclusive lock file `<root>/run/vfio-mig/<device>.lock`
 * created with O_CREAT|O_EXCL and holding the owner's pid. Any process using this tool (or
 * the library) respects it. A lock whose pid is dead is stale and taken over; the takeover
 * itself is serialised by a second O_EXCL file (`<lock>.takeover`) so two processes cannot
 * both take the same stale lock. The directory lives below the sysfs root (`/run/vfio-mig` on
 * a host), so tests stay inside their tmp tree.
 */
import {mkdir, open, readFile, unlink} from 'node:fs/promises';

import {RuntimeFailure} from '../errors.js';
import type {SysfsRoot} from '../sysfs/root.js';
import {layout} from '../sysfs/layout.js';

export const LOCK_DIR = layout.lockDir;

export interface DeviceLock {
  path: string;
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function createExclusive(file: string): Promise<boolean> {
  try {
    const handle = await open(file, 'wx', 0o644);
    try {
      await handle.writeFile(`${process.pid}\n`);
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new RuntimeFailure(`${file}: cannot create lock: ${(error as NodeJS.ErrnoException).code ?? error}`, 'LOCK_FAILED');
  }
}

async function holder(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) ? pid : Number.NaN;
}

function busy(file: string, pid: number | undefined): RuntimeFailure {
  const device = file.replace(/^.*\//, '').replace(/\.lock$/, '');
  return new RuntimeFailure(
    `${device}: being prepared by another process${pid === undefined || Number.isNaN(pid) ? '' : ` (pid ${pid})`}; lock ${file}`,
    'LOCKED',
    {device, lock: file, ...(pid === undefined || Number.isNaN(pid) ? {} : {pid})},
  );
}

/** Take the device's lock or fail with RuntimeFailure code LOCKED (exit 3, nothing written). */
export async function acquireDeviceLock(sysfs: SysfsRoot, deviceId: string): Promise<DeviceLock> {
  if (!/^[A-Za-z0-9:._-]{1,64}$/.test(deviceId)) throw new RuntimeFailure(`${deviceId}: not a device id`, 'LOCK_FAILED');
  const dir = sysfs.pathOf(LOCK_DIR);
  await mkdir(dir, {recursive: true}).catch((error: NodeJS.ErrnoException) => {
    throw new RuntimeFailure(`${dir}: cannot create the lock directory: ${error.code ?? error}`, 'LOCK_FAILED');
  });
  const file = `${dir}/${deviceId}.lock`;
  const lock: DeviceLock = {
    path: file,
    release: async () => {
      if ((await holder(file)) === process.pid) await unlink(file).catch(() => undefined);
    },
  };
  if (await createExclusive(file)) return lock;
  const pid = await holder(file);
  if (pid === undefined) {
    // Released between our attempt and the read: try once more.
    if (await createExclusive(file)) return lock;
    throw busy(file, await holder(file));
  }
  if (pid === process.pid || alive(pid)) throw busy(file, pid);
  // Stale: its owner is dead. Serialise the takeover.
  const takeover = `${file}.takeover`;
  if (!(await createExclusive(takeover))) {
    // A takeover in progress, or one whose process died half-way: clear the latter.
    const other = await holder(takeover);
    if (other !== undefined && !alive(other)) await unlink(takeover).catch(() => undefined);
    throw busy(file, pid);
  }
  try {
    if ((await holder(file)) !== pid) throw busy(file, await holder(file));
    await unlink(file).catch(() => undefined);
    if (!(await createExclusive(file))) throw busy(file, await holder(file));
    return lock;
  } finally {
    await unlink(takeover).catch(() => undefined);
  }
}
