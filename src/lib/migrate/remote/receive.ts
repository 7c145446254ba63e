import type {DeviceInterfaceChoice} from '../../enumerate/access.js';
import {hostName} from '../../enumerate/index.js';
import {InputError} from '../../errors.js';
import {MigState, stateName} from '../../fsm/states.js';
import {recoverInterruptedPrepare, type RecoveredPrepare} from '../../prepare/journal.js';
import type {SysfsRoot} from '../../sysfs/root.js';
import {DeviceControl, stepsInOrder, type EngineLike, type StepRecord} from '../control.js';
import {distinctDevices, quiesceAll, requireP2P, stepAll} from '../group.js';
import {Guard, TimeoutError} from '../guard.js';
import {checkHeaderAgainst, type HeaderCheckOptions, parseHeader, type StreamHeader} from '../header.js';
import {MigrationFailedError, recoverDestination, type Recovery} from '../recover.js';
import {type EngineStarter, type MigrationEvent, progressOf, startEngine} from '../session.js';
import {type Channel, ChannelLostError, type ChannelSpec, describeChannel, openChannel} from './channel.js';
import {causeOf, channelCause, trace, errorOf, Inbox, PeerSilentError, Watchdog} from './peer.js';
import {control, type ControlRecord, type ControlType, encodeControl, parseControl, ProtocolError} from './record.js';
import {bounded, DEFAULT_PEER_TIMEOUT_MS} from './send.js';

const RECOVERY_REPORT_MS = 15_000;

interface ReceiveCommon {
  sysfs: SysfsRoot;
  channel: ChannelSpec;
  /** How long to wait for the source to connect and to begin, and any later silence (ms) until the source's own deadline is known. */
  peerTimeoutMs?: number;
  signal?: AbortSignal;
  onEvent?: (ev: MigrationEvent) => void;
  start?: EngineStarter;
  headerCheck?: HeaderCheckOptions;
  deviceInterface?: DeviceInterfaceChoice;
}

export interface ReceiveOptions extends ReceiveCommon {
  device: string;
}

export interface ReceiveGroupOptions extends ReceiveCommon {
  /** The destination devices, matched by position to the source's (its `begin` lists them in order). */
  devices: string[];
}

/** One device's part of a migration from another host. */
export interface ReceiveMember {
  device: string;
  source: {host: string; device: string};
  payload_bytes: number;
  precopy_bytes: number;
  stream_bytes: number;
  final_state: string;
  /** An interrupted prepare of the destination, rolled back before the migration. */
  recovered_prepare?: RecoveredPrepare;
}

export type ReceiveResult = ReceiveMember & {channel: string; steps: StepRecord[]};
export interface ReceiveGroupResult {
  channel: string;
  members: ReceiveMember[];
  steps: StepRecord[];
}

/** One device from another host: the one-device case of receiveGroup, reported flat. */
export async function receiveMigration(options: ReceiveOptions): Promise<ReceiveResult> {
  const {device, ...rest} = options;
  const {members, ...totals} = await receiveGroup({...rest, devices: [device]});
  return {...members[0]!, ...totals};
}

interface Member {
  device: string;
  engine: EngineLike;
  header?: StreamHeader;
  ctl?: DeviceControl;
  recovered?: RecoveredPrepare;
  streamBytes: number;
  precopyBytes: number;
  bytes: number;
}

/**
 * The destination side of a migration from another host (see sendGroup for the order). Every
 * header is checked against its destination before any device is touched; several devices
 * each need P2P; the devices run only after the source committed, together (RUNNING_P2P, then
 * RUNNING). Any failure, signal, the source's --timeout or its silence: every destination is
 * reset (QEMU's policy), and the cause goes to the source.
 */
export async function receiveGroup(options: ReceiveGroupOptions): Promise<ReceiveGroupResult> {
  const devices = distinctDevices(options.devices);
  const several = devices.length > 1;
  const emit = options.onEvent ?? (() => undefined);
  const start = options.start ?? startEngine;
  let peerMs = options.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS;
  const guard = new Guard(options.signal);
  const channel: Channel = await openChannel(options.channel, 'receive', {timeoutMs: peerMs, ...(options.signal ? {signal: options.signal} : {})});
  const inbox = new Inbox(channel, 'source', (e) => guard.abort(e));
  const members: Member[] = [];
  let resuming = false;
  let sourceAbort: ControlRecord | undefined;
  const send = (rec: ControlRecord) => {
    trace(`send ${rec.type}`);
    return channel.write(encodeControl(rec));
  };
  // A stream's header from the source: the record due (for `device`, when given), or its abort.
  const segment = (text: string | null, type: ControlType, device?: string): ControlRecord => {
    const rec = parseControl(text ?? 'null', 'the source');
    if (rec.type === 'abort') {
      sourceAbort = rec;
      throw errorOf(rec.cause!, 'source');
    }
    if (rec.type !== type) throw new ProtocolError(`the source sent '${rec.type}' where '${type}' was due`);
    if (device !== undefined && rec.devices?.[0] !== device) {
      throw new ProtocolError(`the source sent '${type}' of ${JSON.stringify(rec.devices?.[0])} where ${device}'s was due`);
    }
    return rec;
  };
  try {
    const first = await start(channel.engineData(2));
    guard.watch(first);
    members.push({device: devices[0]!, engine: first, streamBytes: 0, precopyBytes: 0, bytes: 0});
    const silence = () => guard.abort(new PeerSilentError('source', peerMs));
    let dog = new Watchdog(peerMs, silence);
    const begun = await guard.run(() => first.request('load_begin', {fd: 3, check_eof: false})).finally(() => dog.stop());
    const begin = segment(begun.header, 'begin');
    members[0]!.streamBytes += begun.stream_bytes;
    trace('begin received');
    peerMs = begin.session!.peer_timeout_ms;
    const sent = begin.devices!;
    if (sent.length !== devices.length || begin.streams!.length !== sent.length) {
      throw new InputError(
        `the source sends ${sent.length} device${sent.length === 1 ? '' : 's'} (${sent.join(', ')}), this receiver was given ${devices.length}: give one destination per source device, in the same order`,
        'DEVICE_COUNT',
      );
    }
    const sources = sent.map((device) => ({host: begin.host!, device}));
    for (const device of devices.slice(1)) {
      const engine = await start(channel.engineData(2));
      guard.watch(engine);
      members.push({device, engine, streamBytes: 0, precopyBytes: 0, bytes: 0});
    }
    for (const [i, m] of members.entries()) {
      m.header = parseHeader(JSON.stringify(begin.streams![i]), `the source (${sent[i]})`);
      // A prepare that died half-way left the destination neither old nor new: roll it back first.
      m.recovered = await recoverInterruptedPrepare(options.sysfs, m.device);
      await checkHeaderAgainst(options.sysfs, m.device, m.header, options.headerCheck);
    }
    for (const m of members) {
      m.ctl = await DeviceControl.open(m.engine, m.device, options.sysfs, options.deviceInterface);
      const state = await m.ctl.state();
      if (state !== MigState.RUNNING && state !== MigState.STOP) {
        throw new InputError(`${m.device}: the destination is ${stateName(state)}, not RUNNING or STOP; see 'vfio-mig migrate state ${m.device}'`, 'BAD_STATE');
      }
    }
    const dests = members.map((m) => m.ctl!);
    requireP2P(dests, several);
    guard.check();
    resuming = true;
    await stepAll(dests, MigState.RESUMING);
    await send(control('ready', 'destination', {host: await hostName(options.sysfs), devices, states: devices.map(() => 'RESUMING')}));
    // One stream of data: loaded into m's device as it comes; the watchdog restarts on every chunk.
    const load = async (m: Member) => {
      dog = new Watchdog(peerMs, silence);
      const r = await guard
        .run(() =>
          m.engine.request('load', m.header?.size_estimate ? {estimate: m.header.size_estimate} : {}, {
            onProgress: (ev) => {
              dog.kick();
              emit(progressOf(m.device, 'load', ev));
            },
          }),
        )
        .finally(() => dog.stop());
      await m.engine.request('load_end', {});
      m.streamBytes += r.stream_bytes;
      m.bytes += r.bytes;
      return r.bytes;
    };
    // The header of member i's next stream, read by its engine.
    const next = async (i: number, fd: 3 | 4, type: ControlType) => {
      const m = members[i]!;
      dog = new Watchdog(peerMs, silence);
      const b = await guard.run(() => m.engine.request('load_begin', {fd, check_eof: false})).finally(() => dog.stop());
      segment(b.header, type, sent[i]);
      m.streamBytes += b.stream_bytes;
    };
    // PRE_COPY data (none when a source has no PRE_COPY): each device's, one after the other.
    for (const [i, m] of members.entries()) {
      if (i > 0) await next(i, 3, 'precopy');
      m.precopyBytes = await load(m);
      trace(`${m.device}: pre-copy loaded: ${m.precopyBytes} bytes`);
    }
    await send(control('accepted', 'destination', {bytes: members.map((m) => m.precopyBytes)}));
    // The sources stop now; their --timeout bounds our wait too.
    const timeoutMs = begin.session!.timeout_ms;
    const disarm = guard.deadline(timeoutMs ?? undefined, () => new TimeoutError(timeoutMs!));
    for (const [i, m] of members.entries()) {
      await next(i, 4, 'stop_copy');
      const n = await load(m);
      trace(`${m.device}: stop-copy loaded: ${n} bytes`);
    }
    const earlier = new Set(stepsInOrder(dests));
    await stepAll(dests, MigState.STOP); // the drivers validate the data here
    guard.check();
    disarm();
    await send(control('loaded', 'destination', {bytes: members.map((m) => m.bytes)}));
    // Only the source's commit lets the devices run: silence now means reset (the source,
    // committed or not, keeps its state; running here without its word could run it twice).
    await inbox.next('commit', peerMs, guard);
    if (several) await quiesceAll(dests);
    await stepAll(dests, MigState.RUNNING);
    const states = await Promise.all(dests.map(async (d) => stateName(await d.state())));
    await send(control('running', 'destination', {states}));
    for (const s of stepsInOrder(dests).filter((x) => !earlier.has(x))) emit({event: 'step', device: s.device, from: s.from, to: s.to});
    return {
      channel: describeChannel(options.channel),
      members: members.map((m, i) => ({
        device: m.device,
        source: sources[i]!,
        payload_bytes: m.bytes,
        precopy_bytes: m.precopyBytes,
        stream_bytes: m.streamBytes,
        final_state: states[i]!,
        ...(m.recovered ? {recovered_prepare: m.recovered} : {}),
      })),
      steps: stepsInOrder(dests),
    };
  } catch (caught) {
    trace(`failed: ${(guard.error ?? (caught as Error)).message}`);
    let cause = guard.error ?? (caught as Error);
    guard.abort(cause);
    // Our engines stop reading before we do.
    await Promise.all(members.map((m) => m.engine.request('load_end', {}).catch(() => undefined)));
    inbox.start();
    let reachable = true;
    if (!sourceAbort && !inbox.peerAbort) reachable = await bounded(send(control('abort', 'destination', {cause: causeOf(cause)})), peerMs);
    const recoveries: Recovery[] = [];
    if (resuming) for (const m of members) if (m.ctl) recoveries.push(await recoverDestination(m.ctl));
    const theirs = reachable && (await bounded(send(control('recovered', 'destination', {recoveries})), peerMs)) ? await inbox.recovered(Math.min(peerMs, RECOVERY_REPORT_MS)) : undefined;
    // Both ends report the source's cause when it gave one (it drives); a stream cut short
    // with the channel gone is the channel's loss, as the source sees it.
    const abort = sourceAbort ?? inbox.peerAbort;
    if (abort) cause = errorOf(abort.cause!, 'source');
    else cause = channelCause(cause, inbox, channel.name);
    recoveries.unshift(...(theirs ?? []));
    if (recoveries.length === 0) throw cause;
    throw new MigrationFailedError(cause, recoveries);
  } finally {
    await Promise.all(members.map((m) => m.engine.close().catch(() => undefined)));
    await channel.close().catch(() => undefined);
  }
}

export {ChannelLostError};
