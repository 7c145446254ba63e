import type {DeviceInterfaceChoice} from '../../enumerate/access.js';
import {hostName} from '../../enumerate/index.js';
import {InputError} from '../../errors.js';
import {MigState, stateName} from '../../fsm/states.js';
import {recoverInterruptedPrepare, type RecoveredPrepare} from '../../prepare/journal.js';
import type {SysfsRoot} from '../../sysfs/root.js';
import {deviceArg} from '../args.js';
import {DeviceControl, type EngineLike, type StepRecord} from '../control.js';
import {Guard, TimeoutError} from '../guard.js';
import {checkHeaderAgainst, type HeaderCheckOptions, parseHeader, type StreamHeader} from '../header.js';
import {MigrationFailedError, recoverDestination, type Recovery} from '../recover.js';
import {type EngineStarter, type MigrationEvent, progressOf, startEngine} from '../session.js';
import {type Channel, ChannelLostError, type ChannelSpec, describeChannel, openChannel} from './channel.js';
import {causeOf, channelCause, trace, errorOf, Inbox, PeerSilentError, Watchdog} from './peer.js';
import {control, type ControlRecord, type ControlType, encodeControl, parseControl, ProtocolError} from './record.js';
import {bounded, DEFAULT_PEER_TIMEOUT_MS} from './send.js';

const RECOVERY_REPORT_MS = 15_000;

export interface ReceiveOptions {
  sysfs: SysfsRoot;
  device: string;
  channel: ChannelSpec;
  /** How long to wait for the source to connect and to begin, and any later silence (ms) until the source's own deadline is known. */
  peerTimeoutMs?: number;
  signal?: AbortSignal;
  onEvent?: (ev: MigrationEvent) => void;
  start?: EngineStarter;
  headerCheck?: HeaderCheckOptions;
  deviceInterface?: DeviceInterfaceChoice;
  /** Called with the opened channel (a listening receiver is then ready for the sender). */
  onListening?: () => void;
}

export interface ReceiveResult {
  device: string;
  channel: string;
  source: {host: string; device: string};
  payload_bytes: number;
  precopy_bytes: number;
  stream_bytes: number;
  final_state: string;
  steps: StepRecord[];
  /** An interrupted prepare of the destination, rolled back before the migration. */
  recovered_prepare?: RecoveredPrepare;
}

/**
 * The destination side of a migration from another host (see sendMigration for the order).
 * The header is checked against the destination before the device is touched; the device is
 * RUNNING only after the source committed. Any failure, signal, the source's --timeout or its
 * silence: the destination is reset (QEMU's policy), and the cause goes to the source.
 */
export async function receiveMigration(options: ReceiveOptions): Promise<ReceiveResult> {
  const device = deviceArg(options.device);
  const emit = options.onEvent ?? (() => undefined);
  const start = options.start ?? startEngine;
  let peerMs = options.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS;
  const guard = new Guard(options.signal);
  const channel: Channel = await openChannel(options.channel, 'receive', {timeoutMs: peerMs, ...(options.signal ? {signal: options.signal} : {})});
  const inbox = new Inbox(channel, 'source', (e) => guard.abort(e));
  let engine: EngineLike | undefined;
  let ctl: DeviceControl | undefined;
  let resuming = false;
  let sourceAbort: ControlRecord | undefined;
  const send = (rec: ControlRecord) => {
    trace(`send ${rec.type}`);
    return channel.write(encodeControl(rec));
  };
  // A stream's header from the source: the record due, or its abort.
  const segment = (text: string | null, type: ControlType): ControlRecord => {
    const rec = parseControl(text ?? 'null', 'the source');
    if (rec.type === 'abort') {
      sourceAbort = rec;
      throw errorOf(rec.cause!, 'source');
    }
    if (rec.type !== type) throw new ProtocolError(`the source sent '${rec.type}' where '${type}' was due`);
    return rec;
  };
  try {
    engine = await start(channel.engineData(2));
    const eng = engine;
    guard.watch(eng);
    const silence = () => guard.abort(new PeerSilentError('source', peerMs));
    let dog = new Watchdog(peerMs, silence);
    const begun = await guard.run(() => eng.request('load_begin', {fd: 3, check_eof: false})).finally(() => dog.stop());
    const begin = segment(begun.header, 'begin');
    trace('begin received');
    peerMs = begin.session!.peer_timeout_ms;
    if (begin.devices!.length !== 1) {
      throw new InputError(`the source sends ${begin.devices!.length} devices, this receiver was given 1`, 'DEVICE_COUNT');
    }
    const header: StreamHeader = parseHeader(JSON.stringify(begin.streams![0]), 'the source');
    const source = {host: begin.host!, device: begin.devices![0]!};
    // A prepare that died half-way left the destination neither old nor new: roll it back first.
    const recovered = await recoverInterruptedPrepare(options.sysfs, device);
    await checkHeaderAgainst(options.sysfs, device, header, options.headerCheck);
    ctl = await DeviceControl.open(eng, device, options.sysfs, options.deviceInterface);
    const d = ctl;
    const state = await d.state();
    if (state !== MigState.RUNNING && state !== MigState.STOP) {
      throw new InputError(`${device}: the destination is ${stateName(state)}, not RUNNING or STOP; see 'vfio-mig migrate state ${device}'`, 'BAD_STATE');
    }
    guard.check();
    resuming = true;
    await d.stepTo(MigState.RESUMING);
    await send(control('ready', 'destination', {host: await hostName(options.sysfs), devices: [device], states: ['RESUMING']}));
    // PRE_COPY data (none when the source has no PRE_COPY): written to the device as it comes.
    dog = new Watchdog(peerMs, silence);
    const kick = (phase: 'load') => (ev: Parameters<typeof progressOf>[2]) => {
      dog.kick();
      emit(progressOf(device, phase, ev));
    };
    const pre = await guard.run(() => eng.request('load', {}, {onProgress: kick('load')})).finally(() => dog.stop());
    trace(`pre-copy loaded: ${pre.bytes} bytes`);
    await eng.request('load_end', {});
    await send(control('accepted', 'destination', {bytes: [pre.bytes]}));
    // The source stops now; its --timeout bounds our wait too.
    const timeoutMs = begin.session!.timeout_ms;
    const disarm = guard.deadline(timeoutMs ?? undefined, () => new TimeoutError(timeoutMs!));
    dog = new Watchdog(peerMs, silence);
    const b = await guard.run(() => eng.request('load_begin', {fd: 4, check_eof: false}));
    segment(b.header, 'stop_copy');
    const estimate = header.size_estimate ?? undefined;
    const loaded = await guard
      .run(() => eng.request('load', estimate ? {estimate} : {}, {onProgress: kick('load')}))
      .finally(() => dog.stop());
    await eng.request('load_end', {});
    trace(`stop-copy loaded: ${loaded.bytes} bytes`);
    const before = d.steps.length;
    await d.stepTo(MigState.STOP); // the driver validates the data here
    guard.check();
    disarm();
    await send(control('loaded', 'destination', {bytes: [pre.bytes + loaded.bytes]}));
    // Only the source's commit lets the device run: silence now means reset (the source,
    // committed or not, keeps its state; running here without its word could run it twice).
    await inbox.next('commit', peerMs, guard);
    await d.stepTo(MigState.RUNNING);
    const now = stateName(await d.state());
    await send(control('running', 'destination', {states: [now]}));
    for (const s of d.steps.slice(before)) emit({event: 'step', device, from: s.from, to: s.to});
    return {
      device,
      channel: describeChannel(options.channel),
      source,
      payload_bytes: pre.bytes + loaded.bytes,
      precopy_bytes: pre.bytes,
      stream_bytes: begun.stream_bytes + pre.stream_bytes + b.stream_bytes + loaded.stream_bytes,
      final_state: now,
      steps: d.steps,
      ...(recovered ? {recovered_prepare: recovered} : {}),
    };
  } catch (caught) {
    trace(`failed: ${(guard.error ?? (caught as Error)).message}`);
    let cause = guard.error ?? (caught as Error);
    guard.abort(cause);
    // Our engine stops reading before we do.
    if (engine) await engine.request('load_end', {}).catch(() => undefined);
    inbox.start();
    if (!sourceAbort && !inbox.peerAbort) await bounded(send(control('abort', 'destination', {cause: causeOf(cause)})), peerMs);
    const recoveries: Recovery[] = [];
    if (ctl && resuming) recoveries.push(await recoverDestination(ctl));
    await bounded(send(control('recovered', 'destination', {recoveries})), peerMs);
    const theirs = await inbox.recovered(Math.min(peerMs, RECOVERY_REPORT_MS));
    // Both ends report the source's cause when it gave one (it drives); a stream cut short
    // with the channel gone is the channel's loss, as the source sees it.
    const abort = sourceAbort ?? inbox.peerAbort;
    if (abort) cause = errorOf(abort.cause!, 'source');
    else cause = channelCause(cause, inbox, channel.name);
    recoveries.unshift(...(theirs ?? []));
    if (recoveries.length === 0) throw cause;
    throw new MigrationFailedError(cause, recoveries);
  } finally {
    await engine?.close().catch(() => undefined);
    await channel.close().catch(() => undefined);
  }
}

export {ChannelLostError};
