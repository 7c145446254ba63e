import {ensureEngine, responses, runEngine} from './helpers.js';

beforeAll(() => ensureEngine());

/** A VFIO_DEVICE_GET_REGION_INFO buffer as the kernel fills it: the struct, then the caps. */
function regionInfo(caps: Array<{id: number; body: Buffer}>, flags = 1 << 3): Buffer {
  const parts: Buffer[] = [];
  let off = 32;
  const head = Buffer.alloc(32);
  head.writeUInt32LE(32 + caps.reduce((n, c) => n + 8 + c.body.length, 0), 0);
  head.writeUInt32LE(flags, 4);
  head.writeUInt32LE(caps.length ? 32 : 0, 12);
  parts.push(head);
  caps.forEach((c, i) => {
    const h = Buffer.alloc(8);
    h.writeUInt16LE(c.id, 0);
    h.writeUInt16LE(1, 2);
    const next = i + 1 < caps.length ? off + 8 + c.body.length : 0;
    h.writeUInt32LE(next, 4);
    parts.push(h, c.body);
    off += 8 + c.body.length;
  });
  return Buffer.concat(parts);
}

const typeCap = (type: number, subtype: number) => {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(type, 0);
  b.writeUInt32LE(subtype, 4);
  return {id: 2, body: b};
};
// VFIO_REGION_INFO_CAP_SPARSE_MMAP (id 1) with one area: a cap to walk past.
const sparse = {id: 1, body: Buffer.alloc(8 + 16)};

function parse(buf: Buffer) {
  const [r] = responses(runEngine([{id: 1, op: 'region_caps', hex: buf.toString('hex')}]).replies);
  return r!;
}

describe('the engine walks a region-info capability chain (v1 migration detection)', () => {
  test('a TYPE cap of MIGRATION_DEPRECATED (3) / subtype 1 after a sparse-mmap cap is the v1 region', () => {
    expect(parse(regionInfo([sparse, typeCap(3, 1)]))).toMatchObject({ok: true, result: 1, type: 3, subtype: 1, migration_v1: true});
  });
  test('another region type (e.g. a PCI vendor type) is not', () => {
    expect(parse(regionInfo([typeCap((0x80000000 | 0x8086) >>> 0, 1)]))).toMatchObject({result: 1, migration_v1: false});
  });
  test('no CAPS flag or no cap: none', () => {
    expect(parse(regionInfo([typeCap(3, 1)], 0))).toMatchObject({result: 0});
    expect(parse(regionInfo([sparse]))).toMatchObject({result: 0});
  });
  test('a chain that loops or points past the buffer is refused, not followed', () => {
    const loop = regionInfo([sparse, sparse]);
    loop.writeUInt32LE(32, 32 + 8 + 24 + 4); // the second cap points back at the first
    expect(parse(loop)).toMatchObject({result: -1});
    const past = regionInfo([sparse]);
    past.writeUInt32LE(4096, 32 + 4);
    expect(parse(past)).toMatchObject({result: -1});
    expect(parse(regionInfo([typeCap(3, 1)]).subarray(0, 44))).toMatchObject({result: -1});
  });
});
