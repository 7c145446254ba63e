import {execFileSync, spawn, type ChildProcess} from 'node:child_process';
import {closeSync, constants as fsc, openSync, readFileSync, statSync, writeFileSync} from 'node:fs';
import path from 'node:path';

import {EngineProcess} from '../../src/lib/engine/index.js';
import type {ProgressEvent} from '../../src/lib/engine/index.js';
import {TEST_ENGINE, ensureEngine, parseStream, random, responses, runEngine, tempDir} from './helpers.js';

const CHUNK = 4096;
let tmp: {dir: string; cleanup: () => void};

beforeAll(() => {
  ensureEngine();
  tmp = tempDir();
});
afterAll(() => tmp.cleanup());

const header = {device: {model: 'test-mdev', version: 1}, parameters: [{name: 'a', value: '1'}], estimate: 123};

/** A FIFO opened in the parent as a (read fd, write fd) pair: plain numbers, nobody else reads. */
function fifoPair(name: string): {rfd: number; wfd: number} {
  const p = path.join(tmp.dir, name);
  execFileSync('mkfifo', [p]);
  const rfd = openSync(p, fsc.O_RDONLY | fsc.O_NONBLOCK);
  const wfd = openSync(p, fsc.O_WRONLY);
  return {rfd, wfd};
}

describe('pack -> verify -> unpack through files', () => {
  const sizes = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7, 5 * 1024 * 1024 + 3];
  test.each(sizes)('%i bytes, byte for byte', (size) => {
    const data = random(size);
    const src = path.join(tmp.dir, `src-${size}`);
    const stream = path.join(tmp.dir, `s-${size}.vms`);
    const back = path.join(tmp.dir, `back-${size}`);
    writeFileSync(src, data);
    const chunk = size > 1024 * 1024 ? 1024 * 1024 : CHUNK;
    const {replies, status} = runEngine([
      {id: 1, op: 'pack', in_path: src, out_path: stream, header, chunk_size: chunk},
      {id: 2, op: 'verify', in_path: stream},
      {id: 3, op: 'unpack', in_path: stream, out_path: back},
    ]);
    expect(status).toBe(0);
    const [pack, verify, unpack] = responses(replies);
    const chunks = Math.ceil(size / chunk);
    expect(pack).toMatchObject({id: 1, ok: true, payload_bytes: size, chunks});
    const s = readFileSync(stream);
    expect(pack?.stream_bytes).toBe(s.length);
    expect(verify).toMatchObject({id: 2, ok: true, payload_bytes: size, chunks, stream_bytes: s.length, format_version: 1});
    expect(JSON.parse(verify?.header as string)).toEqual(header);
    expect(unpack).toMatchObject({id: 3, ok: true, payload_bytes: size, chunks});
    expect(readFileSync(back).equals(data)).toBe(true);
    // The stream follows the documented format (checked by an independent TS reader).
    const parsed = parseStream(s);
    expect(parsed.payload.equals(data)).toBe(true);
    expect(parsed.chunks.length).toBe(chunks);
    expect(JSON.parse(parsed.header)).toEqual(header);
  });

  test('the read() input path (mmap off) round-trips too', () => {
    const data = random(2 * 1024 * 1024 + 5);
    const src = path.join(tmp.dir, 'nomap-src');
    const stream = path.join(tmp.dir, 'nomap.vms');
    const back = path.join(tmp.dir, 'nomap-back');
    writeFileSync(src, data);
    const {replies} = runEngine(
      [
        {id: 1, op: 'pack', in_path: src, out_path: stream, header, chunk_size: 65536},
        {id: 2, op: 'unpack', in_path: stream, out_path: back},
      ],
      {...process.env, VFIO_MIG_ENGINE_MMAP: '0'},
    );
    expect(responses(replies).map((r) => r.ok)).toEqual([true, true]);
    expect(readFileSync(back).equals(data)).toBe(true);
    expect(parseStream(readFileSync(stream)).chunks.length).toBe(33);
  });

  test('the header is stored verbatim when given as a string', () => {
    const text = '{ "b": 2,  "a": [1, {"x": "\\u00e9"}] }';
    const src = path.join(tmp.dir, 'verbatim-src');
    const stream = path.join(tmp.dir, 'verbatim.vms');
    writeFileSync(src, 'abc');
    const {replies} = runEngine([
      {id: 1, op: 'pack', in_path: src, out_path: stream, header: text},
      {id: 2, op: 'verify', in_path: stream},
    ]);
    expect(responses(replies)[1]?.header).toBe(text);
    expect(parseStream(readFileSync(stream)).header).toBe(text);
  });

  test('raw mode: bare bytes, no framing', () => {
    const data = random(10000);
    const src = path.join(tmp.dir, 'raw-src');
    const out = path.join(tmp.dir, 'raw-out');
    writeFileSync(src, data);
    const {replies} = runEngine([{id: 1, op: 'pack', in_path: src, out_path: out, raw: true}]);
    expect(responses(replies)[0]).toMatchObject({ok: true, payload_bytes: 10000, stream_bytes: 10000});
    expect(readFileSync(out).equals(data)).toBe(true);
  });
});

describe('through pipes', () => {
  test('pack from a pipe fed by cat (inherited non-blocking fd 3), unpack into a pipe read by cat', async () => {
    const data = random(3 * 1024 * 1024 + 17);
    const src = path.join(tmp.dir, 'pipe-src');
    const stream = path.join(tmp.dir, 'pipe.vms');
    const back = path.join(tmp.dir, 'pipe-back');
    writeFileSync(src, data);

    const a = fifoPair('fifo-a');
    const cat = spawn('cat', [src], {stdio: ['ignore', a.wfd, 'inherit']});
    const catExit = exited(cat);
    closeSync(a.wfd);
    const e1 = await EngineProcess.start({binary: TEST_ENGINE, data: a.rfd});
    closeSync(a.rfd);
    const packed = await e1.pack({in_fd: 3, out_path: stream, header});
    expect(packed).toMatchObject({ok: true, payload_bytes: data.length, chunks: 4});
    expect(await e1.close()).toBe(0);
    expect(await catExit).toBe(0);

    const b = fifoPair('fifo-b');
    const sink = spawn('sh', ['-c', 'cat > "$0"', back], {stdio: [b.rfd, 'inherit', 'inherit']});
    const sinkExit = exited(sink);
    closeSync(b.rfd);
    const e2 = await EngineProcess.start({binary: TEST_ENGINE, data: b.wfd});
    closeSync(b.wfd);
    const unpacked = await e2.unpack({in_path: stream, out_fd: 3});
    expect(unpacked).toMatchObject({ok: true, payload_bytes: data.length});
    expect(await e2.close()).toBe(0);
    expect(await sinkExit).toBe(0);
    expect(readFileSync(back).equals(data)).toBe(true);
  });

  test('a slow reader gets the data intact; engine memory stays bounded; progress is reported', async () => {
    const size = 48 * 1024 * 1024;
    const data = random(size);
    const src = path.join(tmp.dir, 'slow-src');
    const got = path.join(tmp.dir, 'slow-got.vms');
    writeFileSync(src, data);
    const f = fifoPair('fifo-slow');
    const reader = spawn(process.execPath, [path.join(__dirnameOf(), 'fixtures', 'slow-reader.mjs'), got, '65536', '1'], {
      stdio: [f.rfd, 'pipe', 'inherit'],
    });
    const readerExit = exited(reader);
    closeSync(f.rfd);
    let readerOut = '';
    reader.stdout?.on('data', (d: Buffer) => (readerOut += d.toString()));
    const eng = await EngineProcess.start({binary: TEST_ENGINE, data: f.wfd});
    closeSync(f.wfd);
    const events: ProgressEvent[] = [];
    const res = await eng.pack({in_path: src, out_fd: 3, header}, {onProgress: (ev) => events.push(ev)});
    const status = readFileSync(`/proc/${eng.pid}/status`, 'utf8');
    const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1]);
    expect(await eng.close()).toBe(0);
    expect(await readerExit).toBe(0);
    expect(res.payload_bytes).toBe(size);
    expect(Number(readerOut)).toBe(res.stream_bytes);
    expect(parseStream(readFileSync(got)).payload.equals(data)).toBe(true);
    // 48 MiB went through a ring of 4 x 1 MiB buffers.
    expect(hwmKb).toBeGreaterThan(0);
    expect(hwmKb).toBeLessThan(16 * 1024);
    expect(events.length).toBeGreaterThan(0);
    for (const ev of events) {
      expect(ev).toMatchObject({event: 'progress', op: 'pack', estimate: size});
      expect(ev.bytes).toBeLessThanOrEqual(size);
    }
    const times = events.map((e) => e.elapsed_ms);
    for (let i = 1; i < times.length; i++) expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(190);
  }, 60000);
});

describe("EngineOptions.data = 'pipe'", () => {
  test('pack into descriptor 3; the parent reads the stream from dataStream', async () => {
    const data = random(2 * 1024 * 1024 + 99);
    const src = path.join(tmp.dir, 'dpipe-src');
    writeFileSync(src, data);
    const eng = await EngineProcess.start({binary: TEST_ENGINE, data: 'pipe'});
    const stream = eng.dataStream as NodeJS.ReadableStream;
    const parts: Buffer[] = [];
    const ended = new Promise<void>((resolve) => {
      stream.on('data', (d: Buffer) => parts.push(d));
      stream.on('end', () => resolve());
    });
    const res = await eng.pack({in_path: src, out_fd: 3, header});
    await ended;
    const got = Buffer.concat(parts);
    expect(got.length).toBe(res.stream_bytes);
    expect(parseStream(got).payload.equals(data)).toBe(true);
    expect(await eng.close()).toBe(0);
  });
});

describe('cancellation', () => {
  test('a consumer that goes away (EPIPE) stops a producer blocked on an idle pipe; the engine keeps serving', async () => {
    // fd 3: a pipe whose writer (this test) sends 2 MiB and then stays open without sending more.
    // A blocking read end (the writer side is opened O_RDWR first so the open does not block):
    // the producer sits in read(2) and only a signal gets it out.
    const fifo = path.join(tmp.dir, 'fifo-idle');
    execFileSync('mkfifo', [fifo]);
    const a = {wfd: openSync(fifo, fsc.O_RDWR | fsc.O_NONBLOCK), rfd: -1};
    a.rfd = openSync(fifo, fsc.O_RDONLY);
    const eng = await EngineProcess.start({binary: TEST_ENGINE, data: a.rfd});
    closeSync(a.rfd);
    const {writeSync} = await import('node:fs');
    // Exactly one chunk (64 KiB, what an unresized pipe holds) is waiting; nothing follows, so
    // the producer reads it and then sits in read(2).
    expect(writeSync(a.wfd, random(65536))).toBe(65536);
    // The output: a FIFO read by `head`, which exits after 100 bytes; the 64 KiB + 16 chunk
    // record cannot fit in the pipe, so its write fails with EPIPE.
    const outFifo = path.join(tmp.dir, 'fifo-head');
    execFileSync('mkfifo', [outFifo]);
    const head = spawn('sh', ['-c', 'head -c 100 "$0" > /dev/null', outFifo], {stdio: 'inherit'});
    const headExit = exited(head);
    const t0 = Date.now();
    const packing = eng
      .pack({in_fd: 3, out_path: outFifo, header, chunk_size: 65536, progress: false})
      .catch((e: unknown) => e);
    const err = (await packing) as {errno?: number; errnoName?: string; message?: string};
    expect(err).toMatchObject({errno: 32, errnoName: 'EPIPE'});
    expect(Date.now() - t0).toBeLessThan(10000);
    expect(await headExit).toBe(0);
    expect((await eng.hello()).ok).toBe(true);
    closeSync(a.wfd);
    expect(await eng.close()).toBe(0);
  });
});

describe('files written by the engine', () => {
  test('a stream file is created with mode 0600', () => {
    const src = path.join(tmp.dir, 'mode-src');
    const stream = path.join(tmp.dir, 'mode.vms');
    writeFileSync(src, 'x');
    runEngine([{id: 1, op: 'pack', in_path: src, out_path: stream, header}]);
    expect(statSync(stream).mode & 0o777).toBe(0o600);
  });

  test('exclusive refuses to overwrite', () => {
    const src = path.join(tmp.dir, 'excl-src');
    const stream = path.join(tmp.dir, 'excl.vms');
    writeFileSync(src, 'x');
    writeFileSync(stream, 'keep');
    const {replies} = runEngine([{id: 1, op: 'pack', in_path: src, out_path: stream, header, exclusive: true}]);
    expect(responses(replies)[0]).toMatchObject({ok: false, errno: 17, error: 'EEXIST'});
    expect(readFileSync(stream, 'utf8')).toBe('keep');
  });
});

function __dirnameOf(): string {
  return path.join(path.dirname(TEST_ENGINE), '..', '..', 'test', 'engine');
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
