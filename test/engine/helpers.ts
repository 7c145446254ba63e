import {execFileSync, spawnSync} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ENGINE = path.join(ROOT, 'engine', 'build', 'vfio-mig-engine');
/** The test build: the shipped ops plus attach_data, pack and unpack (engine/src/testops.c). */
export const TEST_ENGINE = path.join(ROOT, 'engine', 'build', 'vfio-mig-engine-test');

/** Builds the engine (serialised with flock: jest runs test files in parallel). */
export function ensureEngine(): string {
  execFileSync('flock', [path.join(tmpdir(), 'vfio-mig-engine-build.lock'), 'make', '-s', '-C', path.join(ROOT, 'engine'), 'all', 'test-engine'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return ENGINE;
}

export function tempDir(prefix = 'vfio-mig-engine-'): {dir: string; cleanup: () => void} {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  return {dir, cleanup: () => rmSync(dir, {recursive: true, force: true})};
}

export interface Reply {
  v: number;
  id: number | string | null;
  op?: string;
  ok: boolean;
  event?: string;
  errno?: number;
  error?: string;
  code?: string;
  message?: string;
  offset?: number;
  [k: string]: unknown;
}

/** Runs the test build of the engine once over the given request lines; returns the parsed output lines. */
export function runEngine(
  lines: Array<Record<string, unknown> | string>,
  env: NodeJS.ProcessEnv = process.env,
  binary = TEST_ENGINE,
): {replies: Reply[]; status: number | null; stdout: string} {
  const input = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';
  const r = spawnSync(binary, [], {input, env, maxBuffer: 256 << 20});
  const stdout = r.stdout.toString('utf8');
  const replies = stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Reply);
  return {replies, status: r.status, stdout};
}

/** Only the responses (not progress events). */
export function responses(replies: Reply[]): Reply[] {
  return replies.filter((r) => r.event === undefined);
}

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** An independent CRC32C (Castagnoli) for checking the format from TypeScript. */
export function crc32c(buf: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (const b of buf) c = (TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

export interface Region {
  /** First byte of the region. */
  start: number;
  /** One past the last byte. */
  end: number;
  /** The offset the engine must report for any single flipped byte in the region. */
  report: (flipped: number) => number;
  kind: string;
}

/**
 * Parses a stream independently of the engine (docs/stream-format.md) and returns its
 * regions. Throws if the stream does not follow the documented format.
 */
export function parseStream(s: Buffer): {header: string; payload: Buffer; chunks: number[]; regions: Region[]} {
  const regions: Region[] = [];
  if (s.subarray(0, 8).toString('latin1') !== 'VFIOMIGS') throw new Error('magic');
  if (s.readUInt32LE(8) !== 1 || s.readUInt32LE(12) !== 0) throw new Error('version/flags');
  const hlen = s.readUInt32LE(16);
  if (crc32c(s.subarray(0, 20)) !== s.readUInt32LE(20)) throw new Error('preamble crc');
  regions.push({start: 0, end: 8, report: (f) => f, kind: 'magic'});
  regions.push({start: 8, end: 24, report: () => 8, kind: 'preamble'});
  const header = s.subarray(24, 24 + hlen);
  if (crc32c(header) !== s.readUInt32LE(24 + hlen)) throw new Error('header crc');
  regions.push({start: 24, end: 28 + hlen, report: () => 24, kind: 'header'});
  let off = 28 + hlen;
  const parts: Buffer[] = [];
  const chunks: number[] = [];
  for (;;) {
    const h = s.subarray(off, off + 16);
    const tag = h.subarray(0, 4).toString('latin1');
    const len = h.readUInt32LE(4);
    const o8 = Buffer.alloc(8);
    o8.writeBigUInt64LE(BigInt(off));
    if (crc32c(o8, crc32c(h.subarray(0, 12))) !== h.readUInt32LE(12)) throw new Error(`record header crc at ${off}`);
    const p = s.subarray(off + 16, off + 16 + len);
    if (crc32c(p) !== h.readUInt32LE(8)) throw new Error(`payload crc at ${off}`);
    const recOff = off;
    regions.push({start: off, end: off + 16, report: () => recOff, kind: `${tag}-header`});
    regions.push({start: off + 16, end: off + 16 + len, report: () => recOff + 16, kind: `${tag}-payload`});
    off += 16 + len;
    if (tag === 'CHNK') {
      parts.push(p);
      chunks.push(len);
      continue;
    }
    if (tag !== 'TRLR') throw new Error(`tag ${tag}`);
    const payload = Buffer.concat(parts);
    if (p.readBigUInt64LE(0) !== BigInt(payload.length) || p.readBigUInt64LE(8) !== BigInt(chunks.length)) {
      throw new Error('trailer totals');
    }
    if (off !== s.length) throw new Error('trailing data');
    return {header: header.toString('utf8'), payload, chunks, regions};
  }
}

export function random(n: number): Buffer {
  return n === 0 ? Buffer.alloc(0) : randomBytes(n);
}
