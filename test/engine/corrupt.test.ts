import {readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {ensureEngine, parseStream, random, responses, runEngine, tempDir, type Region} from './helpers.js';

let tmp: {dir: string; cleanup: () => void};
beforeAll(() => {
  ensureEngine();
  tmp = tempDir('vfio-mig-corrupt-');
});
afterAll(() => tmp.cleanup());

const header = {device: {model: 'm'}, parameters: [{name: 'p', value: 'x'}], source: {host: 'h'}};

function pack(data: Buffer, chunk: number, name: string): Buffer {
  const src = path.join(tmp.dir, `${name}.bin`);
  const out = path.join(tmp.dir, `${name}.vms`);
  writeFileSync(src, data);
  const {replies} = runEngine([{id: 1, op: 'pack', in_path: src, out_path: out, header, chunk_size: chunk}]);
  expect(responses(replies)[0]?.ok).toBe(true);
  return readFileSync(out);
}

function regionOf(regions: Region[], off: number): Region {
  const r = regions.find((g) => off >= g.start && off < g.end);
  if (!r) throw new Error(`no region for ${off}`);
  return r;
}

/** Verifies many variants in one engine run (both the mmap and the read() input paths). */
function verifyAll(variants: Array<{name: string; bytes: Buffer}>, mmap: boolean) {
  for (const v of variants) writeFileSync(path.join(tmp.dir, v.name), v.bytes);
  const {replies} = runEngine(
    variants.map((v, i) => ({id: i, op: 'verify', in_path: path.join(tmp.dir, v.name), progress: false})),
    {...process.env, VFIO_MIG_ENGINE_MMAP: mmap ? '1' : '0'},
  );
  const rs = responses(replies);
  expect(rs).toHaveLength(variants.length);
  return rs;
}

describe.each([true, false])('stream checks (mmap input %s)', (mmap) => {
  // 4 chunks of 1000 bytes and one of 500: small enough to flip every byte.
  const data = random(4500);
  let s: Buffer;
  let regions: Region[];
  beforeAll(() => {
    s = pack(data, 1000, `small-${mmap}`);
    ({regions} = parseStream(s));
  });

  test('every single flipped byte is rejected with the offset of the region it is in', () => {
    const variants = [...s.keys()].map((i) => {
      const b = Buffer.from(s);
      b[i] = (b[i] as number) ^ (1 << (i % 8));
      return {name: `flip-${mmap}-${i}`, bytes: b};
    });
    const rs = verifyAll(variants, mmap);
    rs.forEach((r, i) => {
      const want = regionOf(regions, i).report(i);
      expect({i, ok: r.ok, code: r.code, errno: r.errno, error: r.error, offset: r.offset}).toEqual({
        i,
        ok: false,
        code: 'STREAM_CORRUPT',
        errno: 74,
        error: 'EBADMSG',
        offset: want,
      });
      expect(r.message).toBe(`stream corrupt at byte ${want}: ${String(r.message).split(': ').slice(1).join(': ')}`);
    });
  });

  test('truncation at every byte is rejected at the truncation offset', () => {
    const variants = [...s.keys()].map((n) => ({name: `trunc-${mmap}-${n}`, bytes: s.subarray(0, n)}));
    const rs = verifyAll(variants, mmap);
    rs.forEach((r, n) => {
      expect({n, code: r.code, offset: r.offset}).toEqual({n, code: 'STREAM_CORRUPT', offset: n});
      expect(r.message).toMatch(new RegExp(`^stream corrupt at byte ${n}: `));
    });
  });

  test('named cases: header byte, chunk byte, length field, trailing data, swapped chunks', () => {
    const chunk1 = regions.find((g) => g.kind === 'CHNK-header' && g.start > 100) as Region;
    const hdrByte = Buffer.from(s);
    hdrByte[30] = (hdrByte[30] as number) ^ 0xff;
    const chunkByte = Buffer.from(s);
    chunkByte[chunk1.end + 500] = (chunkByte[chunk1.end + 500] as number) ^ 0x80;
    const lenField = Buffer.from(s);
    lenField.writeUInt32LE(999, chunk1.start + 4);
    const trailing = Buffer.concat([s, Buffer.from([0])]);
    // Swap the first two (equal-sized) chunk records: each CRC is intact, the order is not.
    const first = regions.find((g) => g.kind === 'CHNK-header') as Region;
    const recLen = 16 + 1000;
    const swapped = Buffer.concat([
      s.subarray(0, first.start),
      s.subarray(first.start + recLen, first.start + 2 * recLen),
      s.subarray(first.start, first.start + recLen),
      s.subarray(first.start + 2 * recLen),
    ]);
    const dropped = Buffer.concat([s.subarray(0, first.start), s.subarray(first.start + recLen)]);
    const rs = verifyAll(
      [
        {name: `n-hdr-${mmap}`, bytes: hdrByte},
        {name: `n-chunk-${mmap}`, bytes: chunkByte},
        {name: `n-len-${mmap}`, bytes: lenField},
        {name: `n-trail-${mmap}`, bytes: trailing},
        {name: `n-swap-${mmap}`, bytes: swapped},
        {name: `n-drop-${mmap}`, bytes: dropped},
        {name: `n-ok-${mmap}`, bytes: s},
      ],
      mmap,
    );
    expect(rs.map((r) => [r.code, r.offset])).toEqual([
      ['STREAM_CORRUPT', 24],
      ['STREAM_CORRUPT', chunk1.end],
      ['STREAM_CORRUPT', chunk1.start],
      ['STREAM_CORRUPT', s.length],
      ['STREAM_CORRUPT', first.start],
      ['STREAM_CORRUPT', first.start],
      [undefined, undefined],
    ]);
    expect(rs[0]?.message).toBe('stream corrupt at byte 24: header CRC32C mismatch');
    expect(rs[1]?.message).toBe(`stream corrupt at byte ${chunk1.end}: chunk CRC32C mismatch`);
    expect(rs[2]?.message).toBe(`stream corrupt at byte ${chunk1.start}: record header CRC mismatch`);
    expect(rs[3]?.message).toBe(`stream corrupt at byte ${s.length}: unexpected data after the trailer`);
    expect(rs[6]).toMatchObject({ok: true, payload_bytes: 4500, chunks: 5});
  });
});

test('a large stream (1 MiB chunks): truncation at chunk boundaries and inside chunks, flips in big chunks', () => {
  const data = random(3 * 1024 * 1024 + 12345);
  const s = pack(data, 1024 * 1024, 'large');
  const {regions} = parseStream(s);
  const cuts = new Set<number>();
  for (const g of regions) {
    for (const d of [-2, -1, 0, 1, 2, 7, 15]) {
      const n = g.start + d;
      if (n >= 0 && n < s.length) cuts.add(n);
    }
  }
  for (let n = 0; n < s.length; n += 65521) cuts.add(n);
  const cutList = [...cuts].sort((a, b) => a - b);
  for (const mmap of [true, false]) {
    const rs = verifyAll(
      cutList.map((n) => ({name: `lt-${n}`, bytes: s.subarray(0, n)})),
      mmap,
    );
    rs.forEach((r, i) => expect([cutList[i], r.code, r.offset]).toEqual([cutList[i], 'STREAM_CORRUPT', cutList[i]]));
  }
  const flips = [40, 100, 1024 * 1024 + 200, 2 * 1024 * 1024 + 300, s.length - 5, s.length - 30];
  const rs = verifyAll(
    flips.map((i) => {
      const b = Buffer.from(s);
      b[i] = (b[i] as number) ^ 4;
      return {name: `lf-${i}`, bytes: b};
    }),
    true,
  );
  rs.forEach((r, k) => {
    const i = flips[k] as number;
    expect([i, r.code, r.offset]).toEqual([i, 'STREAM_CORRUPT', regionOf(regions, i).report(i)]);
  });
});

test('unpack writes nothing of a corrupt chunk: output holds exactly the verified chunks before it', () => {
  const data = random(5000);
  const s = pack(data, 1000, 'partial');
  const {regions} = parseStream(s);
  const third = regions.filter((g) => g.kind === 'CHNK-payload')[2] as Region;
  const b = Buffer.from(s);
  b[third.start + 10] = (b[third.start + 10] as number) ^ 1;
  const inp = path.join(tmp.dir, 'partial-bad.vms');
  const out = path.join(tmp.dir, 'partial-out');
  writeFileSync(inp, b);
  // An inherited output descriptor is not removed on failure, so what was written is visible.
  const {replies} = runEngine([
    {id: 1, op: 'attach_data', path: out, mode: 'write'},
    {id: 2, op: 'load_begin', path: inp},
    {id: 3, op: 'load', progress: false},
  ]);
  const rs = responses(replies);
  expect(rs[2]).toMatchObject({ok: false, code: 'STREAM_CORRUPT', offset: third.start});
  expect(readFileSync(out).equals(data.subarray(0, 2000))).toBe(true);
});

test('a stream of another format version is refused with STREAM_VERSION, not read', () => {
  const s = pack(random(10), 1000, 'ver');
  const b = Buffer.from(s);
  b.writeUInt32LE(2, 8);
  // Re-seal the preamble CRC so only the version differs.
  const {crc32c} = requireCrc();
  b.writeUInt32LE(crc32c(b.subarray(0, 20)), 20);
  const p = path.join(tmp.dir, 'v2.vms');
  writeFileSync(p, b);
  const {replies} = runEngine([{id: 1, op: 'verify', in_path: p}]);
  expect(responses(replies)[0]).toMatchObject({ok: false, code: 'STREAM_VERSION', errno: 93, offset: 8});
});

test('an unsupported file is not a stream: bad magic at byte 0', () => {
  const p = path.join(tmp.dir, 'text.vms');
  writeFileSync(p, 'hello world, this is not a stream');
  const {replies} = runEngine([{id: 1, op: 'verify', in_path: p}]);
  expect(responses(replies)[0]).toMatchObject({ok: false, code: 'STREAM_CORRUPT', offset: 0});
});

import * as helpers from './helpers.js';
function requireCrc() {
  return helpers;
}
