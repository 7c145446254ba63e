import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import {EngineProcess} from '../../src/lib/engine/index.js';
import {InterruptedError} from '../../src/lib/migrate/guard.js';
import {type Channel, ChannelLostError, describeChannel, openChannel, parseChannel} from '../../src/lib/migrate/remote/channel.js';
import {causeOf, errorOf, Inbox, PeerSilentError} from '../../src/lib/migrate/remote/peer.js';
import {
  ABORT_PADDING,
  control,
  crc32c,
  encodeControl,
  parseControl,
  ProtocolError,
  RecordScanner,
  REMOTE_PROTOCOL,
} from '../../src/lib/migrate/remote/record.js';
import {ENGINE, ensureEngine} from '../engine/helpers.js';

let dir: string;
beforeAll(() => {
  ensureEngine();
  dir = mkdtempSync(path.join(os.tmpdir(), 'vfio-mig-remote-'));
});
afterAll(() => rmSync(dir, {recursive: true, force: true}));

const abort = control('abort', 'destination', {cause: {code: 'ARC_FAILED', message: 'RESUMING -> STOP failed: EINVAL', exit_code: 3}});

describe('control records in the stream format', () => {
  test('CRC32C is the Castagnoli CRC the engine uses', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  test("a record is a stream of no chunks the engine's own reader accepts, header verbatim", async () => {
    const file = path.join(dir, 'abort.vms');
    writeFileSync(file, encodeControl(abort));
    const eng = await EngineProcess.start({binary: ENGINE});
    try {
      const v = await eng.verify({in_path: file});
      expect(v).toMatchObject({payload_bytes: 0, chunks: 0});
      expect(JSON.parse(v.header as string)).toEqual(abort);
    } finally {
      await eng.close();
    }
  });

  test('the scanner finds records split anywhere, and past garbage and abort padding', () => {
    const one = encodeControl(control('ready', 'destination', {host: 'h', devices: ['d'], states: ['RESUMING']}));
    const two = encodeControl(abort);
    const junk = Buffer.concat([Buffer.from('VFIOMIGS half a preamble'), Buffer.alloc(ABORT_PADDING)]);
    const all = Buffer.concat([Buffer.from([1, 2, 3]), one, junk, two]);
    for (const step of [1, 7, 4096, all.length]) {
      const sc = new RecordScanner();
      const got: string[] = [];
      for (let i = 0; i < all.length; i += step) {
        sc.push(all.subarray(i, i + step));
        for (let t = sc.next(); t !== undefined; t = sc.next()) got.push(JSON.parse(t).type);
      }
      expect(got).toEqual(['ready', 'abort']);
      expect(sc.skipped).toBe(3 + junk.length);
    }
  });

  test('a record with any byte changed is not delivered; a truncated one waits for more', () => {
    const rec = encodeControl(abort);
    for (let i = 0; i < rec.length; i += 5) {
      const bad = Buffer.from(rec);
      bad[i] = bad[i]! ^ 0x20;
      const sc = new RecordScanner();
      sc.push(bad);
      expect(sc.next()).toBeUndefined();
    }
    const sc = new RecordScanner();
    sc.push(rec.subarray(0, rec.length - 1));
    expect(sc.next()).toBeUndefined();
    sc.push(rec.subarray(rec.length - 1));
    expect(JSON.parse(sc.next()!)).toEqual(abort);
  });

  test('records are checked against the schema, per type', () => {
    expect(parseControl(JSON.stringify(abort), 'the destination')).toEqual(abort);
    const noCause = {...abort, cause: undefined};
    expect(() => parseControl(JSON.stringify(noCause), 'the destination')).toThrow(/missing required property "cause"/);
    const wrongSide = control('ready', 'source', {host: 'h', devices: ['d'], states: ['RESUMING']});
    expect(() => parseControl(JSON.stringify(wrongSide), 'the source')).toThrow(ProtocolError);
    expect(() => parseControl('{"protocol": 2}', 'the source')).toThrow(
      `the source speaks remote migration protocol 2, this vfio-mig speaks ${REMOTE_PROTOCOL}: run the same vfio-mig version on both hosts`,
    );
    expect(() => parseControl('not json', 'the source')).toThrow('the source: a control record is not JSON');
  });

  test("the peer's cause keeps its code and exit code; an interrupt stays one", () => {
    const e = errorOf(causeOf(new InterruptedError('SIGTERM')), 'source');
    expect(e).toBeInstanceOf(InterruptedError);
    expect(e.exitCode).toBe(143);
    const f = errorOf(abort.cause!, 'destination');
    expect(f).toMatchObject({code: 'ARC_FAILED', exitCode: 3, message: 'destination: RESUMING -> STOP failed: EINVAL'});
  });
});

describe('channel arguments', () => {
  test.each([
    ['tcp:dst.example:7410', 'send', {kind: 'tcp', host: 'dst.example', port: 7410}],
    ['tcp:[::1]:7410', 'send', {kind: 'tcp', host: '::1', port: 7410}],
    ['tcp-listen:7410', 'receive', {kind: 'tcp-listen', host: undefined, port: 7410}],
    ['tcp-listen:0.0.0.0:7410', 'receive', {kind: 'tcp-listen', host: '0.0.0.0', port: 7410}],
    ['tcp-listen:[::]:7410', 'receive', {kind: 'tcp-listen', host: '::', port: 7410}],
    ['unix:/run/m.sock', 'send', {kind: 'unix', path: '/run/m.sock'}],
    ['unix-listen:/run/m.sock', 'receive', {kind: 'unix-listen', path: '/run/m.sock'}],
    ['dev:/dev/vport0p1', 'receive', {kind: 'dev', path: '/dev/vport0p1'}],
    ["exec:ssh dst vfio-mig migrate receive x --from stdio", 'send', {kind: 'exec', command: 'ssh dst vfio-mig migrate receive x --from stdio'}],
    ['stdio', 'receive', {kind: 'stdio'}],
  ] as const)('%s (%s)', (text, role, spec) => {
    const parsed = parseChannel(text, role);
    expect(parsed).toEqual(spec);
    expect(parseChannel(describeChannel(parsed), role)).toEqual(spec);
  });

  test.each([
    ['tcp:7410', /tcp needs HOST:PORT/],
    ['tcp:h:0', /the port must be 1\.\.65535/],
    ['tcp:h:65536', /the port must be 1\.\.65535/],
    ['unix:', /unix needs a path/],
    ['ftp:x', /unknown channel kind "ftp"/],
    ['/tmp/sock', /not a channel/],
  ])('%s is a usage error naming the forms', (text, why) => {
    expect(() => parseChannel(text, 'send')).toThrow(why);
    expect(() => parseChannel(text, 'send')).toThrow(/give one of tcp:HOST:PORT/);
    try {
      parseChannel(text, 'send');
    } catch (e) {
      expect((e as {exitCode: number}).exitCode).toBe(2);
    }
  });

  test('exec is for the sender: the receiver is told to take stdio', () => {
    expect(() => parseChannel('exec:ssh src', 'receive')).toThrow(/the receiver takes 'stdio'/);
  });
});

describe('records between two ends of a real channel', () => {
  async function pair(kind: 'unix' | 'tcp'): Promise<[Channel, Channel]> {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const sock = path.join(dir, `c${port}.sock`);
    const listen = openChannel(kind === 'unix' ? {kind: 'unix-listen', path: sock} : {kind: 'tcp-listen', host: '127.0.0.1', port}, 'receive', {timeoutMs: 5000});
    await new Promise((r) => setTimeout(r, 100));
    const connect = await openChannel(kind === 'unix' ? {kind: 'unix', path: sock} : {kind: 'tcp', host: '127.0.0.1', port}, 'send', {timeoutMs: 5000});
    return [await listen, connect];
  }

  test.each(['unix', 'tcp'] as const)('%s: in order, typed; abort reaches the peer at once; the end is a loss', async (kind) => {
    const [recv, send] = await pair(kind);
    const aborted: Error[] = [];
    const inbox = new Inbox(send, 'destination', (e) => aborted.push(e));
    await recv.write(encodeControl(control('ready', 'destination', {host: 'h', devices: ['d'], states: ['RESUMING']})));
    await recv.write(encodeControl(control('accepted', 'destination', {bytes: [5]})));
    expect((await inbox.next('ready', 2000)).states).toEqual(['RESUMING']);
    // A record of another type than the one due is a protocol error.
    await expect(inbox.next('loaded', 2000)).rejects.toThrow("the destination sent 'accepted' where 'loaded' was due");
    await expect(inbox.next('loaded', 200)).rejects.toBeInstanceOf(PeerSilentError);
    await recv.write(encodeControl(abort));
    await expect(inbox.next('loaded', 2000)).rejects.toMatchObject({code: 'ARC_FAILED', exitCode: 3});
    expect(aborted[0]).toMatchObject({code: 'ARC_FAILED'});
    await recv.write(encodeControl(control('recovered', 'destination', {recoveries: []})));
    expect(await inbox.recovered(2000)).toEqual([]);
    await recv.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(inbox.ended).toBeDefined();
    expect(aborted[1]).toBeInstanceOf(ChannelLostError);
    await send.close();
  });

  test('the receiving end does not read the channel until told (its engine reads it)', async () => {
    const [recv, send] = await pair('unix');
    await send.write(Buffer.from('data for the engine'));
    await new Promise((r) => setTimeout(r, 100));
    const got: Buffer[] = [];
    recv.startReading((d) => got.push(d), () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    expect(Buffer.concat(got).toString()).toBe('data for the engine');
    await recv.close();
    await send.close();
  });

  test('nobody connecting within the deadline is PEER_SILENT', async () => {
    const err = await openChannel({kind: 'unix-listen', path: path.join(dir, 'lonely.sock')}, 'receive', {timeoutMs: 200}).catch((e: unknown) => e);
    expect(err).toMatchObject({code: 'PEER_SILENT'});
    const err2 = await openChannel({kind: 'unix', path: path.join(dir, 'nobody.sock')}, 'send', {timeoutMs: 2000}).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(ChannelLostError);
  });

  test('a listener refuses to replace a file that is not a socket', async () => {
    const f = path.join(dir, 'plain');
    writeFileSync(f, 'x');
    await expect(openChannel({kind: 'unix-listen', path: f}, 'receive', {timeoutMs: 200})).rejects.toThrow(/exists and is not a socket/);
  });
});

void net;
