import {randomBytes} from 'node:crypto';
import {readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {ensureEngine, responses, runEngine, tempDir} from '../engine/helpers.js';

// The probe reads only a prefix of a device's initial bytes: `save` with `max_bytes`.
let tmp: ReturnType<typeof tempDir>;
beforeAll(() => {
  ensureEngine();
  tmp = tempDir('vfio-mig-probe-limit-');
});
afterAll(() => tmp.cleanup());

describe('engine save max_bytes', () => {
  const data = randomBytes(3 * 1024 * 1024 + 17);

  test.each([
    ['until_empty', 1000, 1000],
    ['until_empty', 1024 * 1024 + 5, 1024 * 1024 + 5],
    ['until_eof', 2 * 1024 * 1024, 2 * 1024 * 1024],
    ['until_eof', data.length + 100, data.length],
  ])('%s with max_bytes %d reads %d bytes, and the stream holds exactly those', (mode, max, want) => {
    const src = path.join(tmp.dir, `src-${mode}-${max}`);
    const out = path.join(tmp.dir, `out-${mode}-${max}.vms`);
    const back = path.join(tmp.dir, `back-${mode}-${max}`);
    writeFileSync(src, data);
    const rs = responses(
      runEngine([
        {id: 1, op: 'attach_data', path: src, mode: 'read'},
        {id: 2, op: 'save_begin', path: out, header: {h: 1}},
        {id: 3, op: 'save', mode, max_bytes: max, progress: false},
        {id: 4, op: 'save_end'},
        {id: 5, op: 'unpack', in_path: out, out_path: back},
      ]).replies,
    );
    expect(rs.map((r) => [r.id, r.ok])).toEqual([
      [1, true],
      [2, true],
      [3, true],
      [4, true],
      [5, true],
    ]);
    expect(rs[2]!.bytes).toBe(want);
    expect(readFileSync(back).equals(data.subarray(0, want))).toBe(true);
  });

  test('max_bytes 0 is refused: a limit of nothing is a caller bug, not "no limit"', () => {
    const src = path.join(tmp.dir, 'src-zero');
    writeFileSync(src, data.subarray(0, 10));
    const rs = responses(
      runEngine([
        {id: 1, op: 'attach_data', path: src, mode: 'read'},
        {id: 2, op: 'save_begin', path: path.join(tmp.dir, 'zero.vms'), header: {h: 1}},
        {id: 3, op: 'save', max_bytes: 0},
      ]).replies,
    );
    expect(rs[2]).toMatchObject({ok: false, code: 'BAD_REQUEST'});
  });
});
