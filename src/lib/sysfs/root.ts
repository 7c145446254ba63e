import {
  closeSync,
  constants as fsc,
  fstatSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
  statSync,
  writeSync,
} from 'node:fs';
import path from 'node:path';

import {InputError, RuntimeFailure} from '../errors.js';
import {type HostLayout, layout} from './layout.js';

/** sysfs attributes are one page; metadata files stay small. Anything larger is hostile. */
export const DEFAULT_ATTR_LIMIT = 64 * 1024;

const utf8 = new TextDecoder('utf-8', {fatal: true});

/** A directory entry below the root, with the kind of thing it is after following links. */
export interface Entry {
  name: string;
  isDirectory: boolean;
  isSymlink: boolean;
}

/** A failed sysfs write, carrying the errno the kernel (or driver) returned. */
export class SysfsWriteError extends RuntimeFailure {
  constructor(
    readonly relPath: string,
    readonly errnoName: string,
    cause: string,
  ) {
    super(`${relPath}: write refused: ${errnoName}${cause ? ` (${cause})` : ''}`, 'WRITE_REFUSED', {
      path: relPath,
      errno: errnoName,
    });
  }
}

function errnoOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? 'EIO';
}

function describe(error: unknown): string {
  const code = errnoOf(error);
  switch (code) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'ENOTDIR':
      return 'a path component is not a directory';
    default:
      return code;
  }
}

/**
 * Every sysfs path the tool touches is derived from one root (`/` on a real host, a fixture
 * tree in tests), as mdevctl does. Links are followed as the kernel lays them out, but never
 * out of the root; attributes are read as text with a size cap; every error names the path.
 *
 * The API is async, but the syscalls are synchronous, as mdevctl's are: attributes are a page
 * at most, and a thread-pool round trip per open/read/close cost more than the reads (about a
 * third of `vfio-mig types`' own time).
 */
export class SysfsRoot {
  readonly root: string;
  /** The host's paths (one owner: see layout.ts). */
  readonly layout: HostLayout = layout;
  /** Directories listed so far: lets tests show which scans were skipped. */
  dirReads = 0;
  private realRoot: string | undefined;
  private hostChecked = false;

  constructor(root = '/') {
    // path.resolve('') is the working directory: an empty --sysfs-root (an unset variable in a
    // script) would silently read whatever is there.
    if (root.trim() === '') throw new InputError('the sysfs root is empty; pass --sysfs-root DIR (/ on a real host)', 'NO_ROOT');
    this.root = path.resolve(root);
  }

  /**
   * Refuse a root without `sys/`: a mistyped --sysfs-root would otherwise look like a host
   * with no devices. Called by the readers of a host; checked once.
   */
  async checkHost(): Promise<void> {
    if (this.hostChecked) return;
    this.rootReal();
    let isDir = false;
    try {
      isDir = statSync(this.pathOf('sys')).isDirectory();
    } catch {
      /* missing or unreadable: refused below */
    }
    if (!isDir) {
      throw new InputError(`sysfs root ${this.root} has no sys/ directory; pass --sysfs-root DIR holding sys/ (/ on a real host)`, 'NO_SYSFS');
    }
    this.hostChecked = true;
  }

  /** Names in a directory below the root, without following links out of it; [] when unreadable. */
  async names(rel: string): Promise<string[]> {
    this.dirReads++;
    try {
      return readdirSync(this.pathOf(rel));
    } catch {
      return [];
    }
  }

  /** Where a link below the root points (not resolved), or undefined. */
  async linkTarget(rel: string): Promise<string | undefined> {
    try {
      return readlinkSync(this.pathOf(rel));
    } catch {
      return undefined;
    }
  }

  /** The absolute path of `rel` below the root, refusing `..` escapes in `rel` itself. */
  pathOf(rel: string): string {
    const full = path.resolve(this.root, rel.replace(/^\/+/, ''));
    if (full !== this.root && !full.startsWith(this.root === '/' ? '/' : `${this.root}/`)) {
      throw new InputError(`${rel}: path leaves the sysfs root ${this.root}`, 'UNSAFE_PATH');
    }
    return full;
  }

  private rootReal(): string {
    if (this.realRoot === undefined) {
      try {
        this.realRoot = realpathSync(this.root);
      } catch (error) {
        throw new InputError(`sysfs root ${this.root}: ${describe(error)}; pass --sysfs-root DIR`, 'NO_ROOT');
      }
    }
    return this.realRoot;
  }

  /** The root-relative path `rel` resolves to once every link is followed; refuses escapes. */
  async resolve(rel: string): Promise<string> {
    const full = this.pathOf(rel);
    const rootReal = this.rootReal();
    let real: string;
    try {
      real = realpathSync(full);
    } catch (error) {
      throw new InputError(`${full}: ${describe(error)}`, errnoOf(error));
    }
    if (rootReal !== '/' && real !== rootReal && !real.startsWith(`${rootReal}/`)) {
      throw new InputError(`${full}: links out of the sysfs root to ${real}; refusing to follow`, 'LINK_ESCAPE');
    }
    return rootReal === '/' ? real : real.slice(rootReal.length) || '/';
  }

  async exists(rel: string): Promise<boolean> {
    try {
      lstatSync(this.pathOf(rel));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Read an attribute as text (trailing newline removed, unless `whole`: a document such as
   * migration_info.json is parsed as the file is, so a parse error's position is the file's).
   * Refuses files larger than `limit`, text that is not UTF-8, and links that leave the root.
   */
  async readText(rel: string, limit = DEFAULT_ATTR_LIMIT, whole = false): Promise<string> {
    const bytes = await this.readBytes(rel, limit);
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new InputError(`${this.pathOf(rel)}: not UTF-8 text`, 'NOT_TEXT');
    }
    if (text.includes('\0')) throw new InputError(`${this.pathOf(rel)}: contains a NUL byte; not text`, 'NOT_TEXT');
    return whole ? text : text.replace(/\n$/, '');
  }

  /** Like readText, but `undefined` when the attribute does not exist. */
  async readOptional(rel: string, limit = DEFAULT_ATTR_LIMIT, whole = false): Promise<string | undefined> {
    try {
      return await this.readText(rel, limit, whole);
    } catch (error) {
      if (error instanceof InputError && error.code === 'ENOENT') return undefined;
      throw error;
    }
  }

  private async readBytes(rel: string, limit: number): Promise<Buffer> {
    const inside = await this.resolve(rel);
    const full = this.pathOf(inside);
    let fd: number;
    try {
      fd = openSync(full, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (error) {
      throw new InputError(`${full}: cannot open: ${describe(error)}`, errnoOf(error));
    }
    try {
      if (!fstatSync(fd).isFile()) throw new InputError(`${full}: not a regular file`, 'NOT_FILE');
      // sysfs reports 4096 for every attribute, so read up to the cap rather than trusting size.
      const buffer = Buffer.alloc(limit + 1);
      let filled = 0;
      for (;;) {
        const bytesRead = readSync(fd, buffer, filled, buffer.length - filled, null);
        if (bytesRead === 0) break;
        filled += bytesRead;
        if (filled > limit) {
          throw new InputError(`${full}: larger than ${limit} bytes; not a sysfs attribute`, 'TOO_LARGE');
        }
      }
      return buffer.subarray(0, filled);
    } catch (error) {
      if (error instanceof InputError) throw error;
      throw new InputError(`${full}: cannot read: ${describe(error)}`, errnoOf(error));
    } finally {
      closeSync(fd);
    }
  }

  /** Entries of a directory (following the directory link itself), sorted by name. */
  async list(rel: string): Promise<Entry[]> {
    const inside = await this.resolve(rel);
    const full = this.pathOf(inside);
    let dirents;
    this.dirReads++;
    try {
      dirents = readdirSync(full, {withFileTypes: true});
    } catch (error) {
      throw new InputError(`${full}: cannot list: ${describe(error)}`, errnoOf(error));
    }
    const entries: Entry[] = [];
    for (const d of dirents) {
      let isDirectory = d.isDirectory();
      if (d.isSymbolicLink()) {
        try {
          const target = await this.resolve(path.posix.join(inside, d.name));
          isDirectory = lstatSync(this.pathOf(target)).isDirectory();
        } catch {
          isDirectory = false;
        }
      }
      entries.push({name: d.name, isDirectory, isSymlink: d.isSymbolicLink()});
    }
    return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Names in a directory, or [] when it does not exist. */
  async listOptional(rel: string): Promise<Entry[]> {
    try {
      return await this.list(rel);
    } catch (error) {
      if (error instanceof InputError && error.code === 'ENOENT') return [];
      throw error;
    }
  }

  /** The last path component a link points to (e.g. `iommu_group` -> `12`), or undefined. */
  async linkName(rel: string): Promise<string | undefined> {
    try {
      return path.posix.basename(readlinkSync(this.pathOf(rel)));
    } catch {
      return undefined;
    }
  }

  /**
   * Where `rel` really is, refused unless that is directly inside the real directory `dir`
   * names, with `dir`'s own last component not a link: a hostile `migration -> ../other/migration`
   * must not turn a write to one device into a write to another.
   */
  async resolveWithin(rel: string, dir: string): Promise<string> {
    const [inside, parent] = await Promise.all([this.resolve(rel), this.resolve(path.posix.dirname(dir))]);
    const expected = path.posix.join(parent, path.posix.basename(dir));
    if (path.posix.dirname(inside) !== expected) {
      throw new InputError(`${this.pathOf(rel)}: resolves to ${this.pathOf(inside)}, outside ${this.pathOf(expected)}; refusing to write`, 'UNSAFE_PATH', {
        path: rel,
        real: inside,
      });
    }
    return inside;
  }

  /**
   * Write an attribute: one write(2) of the whole value, as sysfs expects. The caller checks
   * names before building `rel`; this still refuses links out of the root and non-files, and
   * with `within` (a directory, root-relative) a target whose real path is not directly in it.
   */
  async writeText(rel: string, value: string, options: {within?: string} = {}): Promise<void> {
    const inside = options.within === undefined ? await this.resolve(rel) : await this.resolveWithin(rel, options.within);
    const full = this.pathOf(inside);
    let fd: number;
    try {
      fd = openSync(full, fsc.O_WRONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (error) {
      throw new SysfsWriteError(full, errnoOf(error), describe(error));
    }
    try {
      if (!fstatSync(fd).isFile()) throw new InputError(`${full}: not a regular file`, 'NOT_FILE');
      // Fixture trees are regular files: truncate so a shorter value does not leave a tail.
      // On sysfs, truncate is a no-op the kernel accepts.
      try {
        ftruncateSync(fd, 0);
      } catch {
        /* sysfs may refuse; the write below is what counts */
      }
      const data = Buffer.from(value, 'utf8');
      const bytesWritten = writeSync(fd, data, 0, data.length, 0);
      if (bytesWritten !== data.length) throw new SysfsWriteError(full, 'EIO', `short write ${bytesWritten}/${data.length}`);
    } catch (error) {
      if (error instanceof SysfsWriteError || error instanceof InputError) throw error;
      throw new SysfsWriteError(full, errnoOf(error), '');
    } finally {
      closeSync(fd);
    }
  }
}
