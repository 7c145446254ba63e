import {spawnSync} from 'node:child_process';
import {mkdirSync, symlinkSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {ENGINE, TEST_ENGINE, ensureEngine, responses, runEngine, tempDir} from './helpers.js';

describe('the shipped binary', () => {
  beforeAll(() => ensureEngine());
  test('has no test-only ops: attach_data, pack and unpack are UNKNOWN_OP (they live in the test build)', () => {
    const rs = responses(runEngine([{id: 1, op: 'hello'}, {id: 2, op: 'attach_data', path: '/dev/null', mode: 'read'}, {id: 3, op: 'pack'}, {id: 4, op: 'unpack'}], process.env, ENGINE).replies);
    expect(rs[0]!.ops).not.toEqual(expect.arrayContaining(['attach_data']));
    expect(rs[0]!.ops).toEqual(expect.arrayContaining(['verify', 'cancel', 'commit']));
    expect(rs.slice(1).map((r) => r.code)).toEqual(['UNKNOWN_OP', 'UNKNOWN_OP', 'UNKNOWN_OP']);
  });
});

let tmp: {dir: string; cleanup: () => void};
beforeAll(() => {
  ensureEngine();
  tmp = tempDir('vfio-mig-proto-');
});
afterAll(() => tmp.cleanup());

describe('protocol errors', () => {
  test('a malformed JSON line gets BAD_JSON with id null; the engine keeps serving', () => {
    const {replies, status} = runEngine(['{"id":1,"op":', 'not json', '[1,2]', '{"id":2,"op":"hello"} x', {id: 3, op: 'hello'}]);
    expect(status).toBe(0);
    const rs = responses(replies);
    expect(rs).toHaveLength(5);
    for (const r of rs.slice(0, 4)) {
      expect(r).toMatchObject({v: 1, id: null, ok: false, errno: 22, error: 'EINVAL', code: 'BAD_JSON'});
      expect(r.message).toMatch(/^malformed request: .* at byte \d+$/);
    }
    expect(rs[4]).toMatchObject({v: 1, id: 3, op: 'hello', ok: true, protocol: 1, stream_format: 1});
  });

  test('a request line over 8 MiB: LINE_TOO_LONG once, the line is dropped, the next one is served', () => {
    const big = `{"id":1,"op":"hello","x":"${'a'.repeat(9 << 20)}"}`;
    const rs = responses(runEngine([big, {id: 2, op: 'hello'}]).replies);
    expect(rs.map((r) => [r.id, r.code ?? 'ok'])).toEqual([
      [null, 'LINE_TOO_LONG'],
      [2, 'ok'],
    ]);
    expect(rs[0]).toMatchObject({errno: 7, error: 'E2BIG'});
  });

  test('unknown op, missing op, bad id, other protocol version, unknown argument, duplicate key', () => {
    const rs = responses(
      runEngine([
        {id: 'x-1', op: 'frobnicate'},
        {id: 2},
        '{"id":{"a":1},"op":"hello"}',
        {v: 2, id: 4, op: 'hello'},
        {id: 5, op: 'hello', extra: true},
        '{"id":6,"op":"hello","op":"quit"}',
      ]).replies,
    );
    expect(rs.map((r) => [r.id, r.code, r.error])).toEqual([
      ['x-1', 'UNKNOWN_OP', 'ENOSYS'],
      [2, 'BAD_REQUEST', 'EINVAL'],
      [null, 'BAD_REQUEST', 'EINVAL'],
      [4, 'PROTOCOL_VERSION', 'EPROTONOSUPPORT'],
      [5, 'BAD_REQUEST', 'EINVAL'],
      [null, 'BAD_JSON', 'EINVAL'],
    ]);
    expect(rs[4]?.message).toBe("unknown argument 'extra' for op hello");
    expect(rs[5]?.message).toMatch(/duplicate key/);
  });

  test('device ops without a device: NO_DEVICE / NO_DATA_FD; stream ops without a stream: NO_STREAM', () => {
    const rs = responses(
      runEngine([
        {id: 1, op: 'get_state'},
        {id: 2, op: 'set_state', state: 'STOP'},
        {id: 3, op: 'data_size'},
        {id: 4, op: 'reset'},
        {id: 5, op: 'precopy_info'},
        {id: 6, op: 'save', mode: 'until_eof'},
        {id: 7, op: 'load'},
        {id: 8, op: 'save_end'},
      ]).replies,
    );
    expect(rs.map((r) => r.code)).toEqual(['NO_DEVICE', 'NO_DEVICE', 'NO_DEVICE', 'NO_DEVICE', 'NO_DATA_FD', 'NO_STREAM', 'NO_STREAM', 'NO_STREAM']);
    expect(rs[0]).toMatchObject({errno: 19, error: 'ENODEV'});
  });

  test('descriptors 0-2 are refused for data; an unopened descriptor is refused', () => {
    const rs = responses(
      runEngine([
        {id: 1, op: 'pack', in_fd: 0, out_path: path.join(tmp.dir, 'x'), header: {}},
        {id: 2, op: 'verify', in_fd: 1},
        {id: 3, op: 'verify', in_fd: 77},
      ]).replies,
    );
    expect(rs.map((r) => r.code)).toEqual(['BAD_REQUEST', 'BAD_REQUEST', 'BAD_FD']);
    expect(rs[2]).toMatchObject({errno: 9, error: 'EBADF'});
  });

  test('header must be a JSON object', () => {
    writeFileSync(path.join(tmp.dir, 'h-src'), 'x');
    const base = {op: 'pack', in_path: path.join(tmp.dir, 'h-src'), out_path: path.join(tmp.dir, 'h-out')};
    const rs = responses(
      runEngine([
        {id: 1, ...base, header: '[1,2]'},
        {id: 2, ...base, header: '{"a":'},
        {id: 3, ...base},
        {id: 4, ...base, header: 7},
      ]).replies,
    );
    expect(rs.map((r) => r.code)).toEqual(['BAD_HEADER', 'BAD_HEADER', 'BAD_REQUEST', 'BAD_REQUEST']);
  });

  test('EOF on stdin: exit 0; quit: bye and exit 0; --version and --selftest', () => {
    expect(runEngine([]).status).toBe(0);
    const q = runEngine([{id: 1, op: 'quit'}, {id: 2, op: 'hello'}]);
    expect(q.status).toBe(0);
    expect(responses(q.replies)).toEqual([{v: 1, id: 1, op: 'quit', ok: true, bye: true}]);
    const v = spawnSync(ENGINE, ['--version']);
    expect(v.stdout.toString()).toMatch(/^vfio-mig-engine \d+\.\d+\.\d+ \(protocol 1, stream format 1, crc32c \S+\)\n$/);
    for (const crc of ['hw', 'sw']) {
      const st = spawnSync(ENGINE, ['--selftest'], {env: {...process.env, VFIO_MIG_ENGINE_CRC: crc}});
      expect(st.status).toBe(0);
      expect(st.stdout.toString()).toMatch(/vectors=5 random=400 failures=0/);
    }
  });

  test('selftest op: CRC32C vectors and hardware/software agreement on random buffers', () => {
    const [r] = responses(runEngine([{id: 1, op: 'selftest'}]).replies);
    expect(r).toMatchObject({ok: true, vectors: 5, random_cases: 400, failures: 0});
    expect(['sse4.2-3way', 'sw-slice8']).toContain(r?.crc32c);
  });
});

describe('open: device names and the paths the caller resolved', () => {
  const root = () => path.join(tmp.dir, 'root');
  const group = () => ({group_path: `${root()}/dev/vfio/7`, container_path: `${root()}/dev/vfio/vfio`});
  const cdev = () => ({cdev_path: `${root()}/dev/vfio/devices/vfio0`, iommufd_path: `${root()}/dev/iommu`});
  beforeAll(() => {
    // Regular files stand in for the character devices: every ioctl answers ENOTTY.
    const r = root();
    mkdirSync(path.join(r, 'dev/vfio/devices'), {recursive: true});
    for (const f of ['dev/vfio/vfio', 'dev/vfio/7', 'dev/vfio/devices/vfio0', 'dev/iommu']) writeFileSync(path.join(r, f), '');
  });

  test.each(['../x', '../../etc', 'x', '', '0000:00:02.0/../..', '0000:00:02.8', '0000:00:20.0', '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f', 'g0000000-0000-0000-0000-000000000000', '0000:00:02.0\n'])(
    'invalid name %j is rejected before any path is opened',
    (device) => {
      const [r] = responses(runEngine([{id: 1, op: 'open', device, ...group()}]).replies);
      expect(r).toMatchObject({ok: false, code: 'UNSAFE_NAME', errno: 22, error: 'EINVAL'});
      expect(r?.message).not.toMatch(/\//);
    },
  );

  test('relative or dotted paths are refused; the engine builds no path of its own (no sysfs_root)', () => {
    const rs = responses(
      runEngine([
        {id: 1, op: 'open', device: '0000:00:02.0', group_path: 'dev/vfio/7', container_path: '/dev/vfio/vfio'},
        {id: 2, op: 'open', device: '0000:00:02.0', cdev_path: `${root()}/../root/dev/vfio/devices/vfio0`, iommufd_path: '/dev/iommu'},
        {id: 3, op: 'open', device: '0000:00:02.0', sysfs_root: '/'},
      ]).replies,
    );
    expect(rs.map((r) => r.code)).toEqual(['UNSAFE_NAME', 'UNSAFE_NAME', 'BAD_REQUEST']);
    expect(rs[2]?.message).toBe("unknown argument 'sysfs_root' for op open");
  });

  test('exactly one interface: the group pair or the cdev pair, complete', () => {
    const rs = responses(
      runEngine([
        {id: 1, op: 'open', device: '0000:00:02.0'},
        {id: 2, op: 'open', device: '0000:00:02.0', ...group(), ...cdev()},
        {id: 3, op: 'open', device: '0000:00:02.0', group_path: group().group_path},
        {id: 4, op: 'open', device: '0000:00:02.0', cdev_path: cdev().cdev_path},
      ]).replies,
    );
    expect(rs.map((r) => r.code)).toEqual(['BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST', 'BAD_REQUEST']);
    expect(rs[0]?.message).toBe("give 'group_path' and 'container_path', or 'cdev_path' and 'iommufd_path'");
  });

  test('the group path opens the container it is given first, then the group (mdev UUID upper-cased, short BDF)', () => {
    const rs = responses(
      runEngine([
        {id: 1, op: 'open', device: '0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0', ...group()},
        {id: 2, op: 'open', device: '00:02.0', ...group()},
        {id: 3, op: 'open', device: '0000:00:02.0', group_path: group().group_path, container_path: path.join(tmp.dir, 'nodev/vfio')},
      ]).replies,
    );
    // A regular file is not a VFIO container: the ioctl says ENOTTY = not supported.
    expect(rs[0]).toMatchObject({ok: false, errno: 25, error: 'ENOTTY', code: 'NOT_SUPPORTED'});
    expect(rs[0]?.message).toBe(`VFIO_GET_API_VERSION ${group().container_path}: not supported by this device or kernel`);
    expect(rs[1]).toMatchObject({ok: false, code: 'NOT_SUPPORTED'});
    expect(rs[2]).toMatchObject({ok: false, errno: 2, error: 'ENOENT', code: 'ENOENT'});
    expect(rs[2]?.message).toBe(`open ${path.join(tmp.dir, 'nodev/vfio')}: No such file or directory`);
  });

  test('the cdev path opens the cdev, then the iommufd, then binds (each step named with its node)', () => {
    const rs = responses(
      runEngine([
        {id: 1, op: 'open', device: '0000:00:02.0', ...cdev()},
        {id: 2, op: 'open', device: '0000:00:02.0', cdev_path: cdev().cdev_path, iommufd_path: path.join(tmp.dir, 'nodev/iommu')},
        {id: 3, op: 'open', device: '0000:00:02.0', cdev_path: path.join(tmp.dir, 'nodev/vfio0'), iommufd_path: cdev().iommufd_path},
      ]).replies,
    );
    expect(rs[0]).toMatchObject({ok: false, errno: 25, code: 'NOT_SUPPORTED'});
    expect(rs[0]?.message).toBe(`VFIO_DEVICE_BIND_IOMMUFD ${cdev().cdev_path}: not supported by this device or kernel`);
    expect(rs[1]).toMatchObject({ok: false, errno: 2, code: 'ENOENT'});
    expect(rs[1]?.message).toBe(`open ${path.join(tmp.dir, 'nodev/iommu')}: No such file or directory`);
    expect(rs[2]?.message).toBe(`open ${path.join(tmp.dir, 'nodev/vfio0')}: No such file or directory`);
  });
});

describe('data path against a stand-in data_fd (attach_data)', () => {
  test('PRE_COPY-style rounds (until_empty) then STOP_COPY (until_eof) into one stream; load it back', async () => {
    const {spawn} = await import('node:child_process');
    const {readFileSync} = await import('node:fs');
    const {EngineProcess} = await import('../../src/lib/engine/index.js');
    const {randomBytes} = await import('node:crypto');
    // The "device": a pipe the test writes into, standing in for a data_fd.
    const writer = spawn('sh', ['-c', 'cat'], {stdio: ['pipe', 'pipe', 'inherit']});
    const eng = await EngineProcess.start({binary: TEST_ENGINE, data: writer.stdout});
    writer.stdout.destroy();
    const stream = path.join(tmp.dir, 'rounds.vms');
    await eng.attachData({fd: 3, mode: 'read'});
    await eng.saveBegin({path: stream, header: {device: {model: 'm'}}});
    const a = randomBytes(300000);
    const b = randomBytes(5000);
    const c = randomBytes(2 * 1024 * 1024 + 1);
    // Round 1: nothing available yet -> empty for now.
    const r0 = await eng.save({mode: 'until_empty'});
    expect(r0).toMatchObject({ok: true, bytes: 0, chunks: 0});
    writer.stdin.write(a);
    await waitFor(async () => (await eng.save({mode: 'until_empty'})).total_bytes === a.length);
    writer.stdin.write(b);
    await waitFor(async () => (await eng.save({mode: 'until_empty'})).total_bytes === a.length + b.length);
    // STOP_COPY: everything to the end of the data.
    writer.stdin.end(c);
    const last = await eng.save({mode: 'until_eof'});
    expect(last.total_bytes).toBe(a.length + b.length + c.length);
    const end = await eng.saveEnd();
    expect(end).toMatchObject({complete: true, payload_bytes: a.length + b.length + c.length});
    await eng.closeData();

    // Destination: read the header first (no device touched), then load into the "device".
    const dest = path.join(tmp.dir, 'rounds.dest');
    const lb = await eng.loadBegin({path: stream});
    expect(JSON.parse(lb.header as string)).toEqual({device: {model: 'm'}});
    await eng.attachData({path: dest, mode: 'write'});
    const ld = await eng.load();
    expect(ld).toMatchObject({complete: true, bytes: a.length + b.length + c.length});
    await eng.loadEnd();
    expect(await eng.close()).toBe(0);
    expect(readFileSync(dest).equals(Buffer.concat([a, b, c]))).toBe(true);
  });
});

describe('failed transfers poison their stream session', () => {
  test('a failed save: later saves and save_end refuse; the file never gets a trailer', () => {
    const out = path.join(tmp.dir, 'failed.vms');
    // A directory as the "data_fd": read(2) fails with EISDIR.
    const rs = responses(
      runEngine([
        {id: 1, op: 'attach_data', path: tmp.dir, mode: 'read'},
        {id: 2, op: 'save_begin', path: out, header: {h: 1}},
        {id: 3, op: 'save', mode: 'until_eof'},
        {id: 4, op: 'save', mode: 'until_eof'},
        {id: 5, op: 'save_end'},
        {id: 6, op: 'verify', in_path: out},
      ]).replies,
    );
    expect(rs.map((r) => [r.id, r.ok, r.code])).toEqual([
      [1, true, undefined],
      [2, true, undefined],
      [3, false, 'EISDIR'],
      [4, false, 'STREAM_FAILED'],
      [5, false, 'STREAM_FAILED'],
      [6, false, 'STREAM_CORRUPT'],
    ]);
    expect(rs[2]).toMatchObject({errno: 21, error: 'EISDIR'});
    // 24 preamble + 7 header + 4 header CRC: the stream ends where the first record should start.
    expect(rs[5]?.offset).toBe(35);
  });
});

async function waitFor(cond: () => Promise<boolean>, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!(await cond())) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
