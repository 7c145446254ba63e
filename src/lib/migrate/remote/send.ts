import type {DeviceInterfaceChoice} from '../../enumerate/access.js';
import {hostName} from '../../enumerate/index.js';
import {ExitCode, InputError, VfioMigError} from '../../errors.js';
import {MigState, stateName} from '../../fsm/states.js';
import type {SysfsRoot} from '../../sysfs/root.js';
import {DeviceControl, stepsInOrder, type EngineLike, type StepRecord} from '../control.js';
import {distinctDevices, quiesceAll, requireP2P, stepAll} from '../group.js';
import {Guard, TimeoutError} from '../guard.js';
import {buildHeader, type StreamHeader} from '../header.js';
import {DEFAULT_MAX_DOWNTIME_MS, DEFAULT_PRECOPY_ROUNDS, precopyPhase, type PrecopyOutcome} from '../precopy.js';
import {MigrationFailedError, recoverSource, type Recovery} from '../recover.js';
import type {PairResult} from '../run.js';
import {type EngineStarter, type MigrationEvent, progressOf, startEngine} from '../session.js';
import {type Channel, ChannelLostError, type ChannelSpec, describeChannel, openChannel} from './channel.js';
import {causeOf, channelCause, trace, Inbox, PeerSilentError, Watchdog} from './peer.js';
import {ABORT_PADDING, control, type ControlRecord, encodeControl, ProtocolError} from './record.js';

/** How long either side waits for the other to say or send anything (ms). */
export const DEFAULT_PEER_TIMEOUT_MS = 30_000;
/** After a failure: how long to wait for the peer's account of its devices (ms). */
const RECOVERY_REPORT_MS = 15_000;

interface SendCommon {
  sysfs: SysfsRoot;
  channel: ChannelSpec;
  precopyRounds?: number;
  maxDowntimeMs?: number;
  /** From STOP_COPY until the destination reports RUNNING (both hosts): abort after this long. */
  timeoutMs?: number;
  /** Silence of the destination past this (ms) is a failure. */
  peerTimeoutMs?: number;
  signal?: AbortSignal;
  onEvent?: (ev: MigrationEvent) => void;
  start?: EngineStarter;
  deviceInterface?: DeviceInterfaceChoice;
}

export interface SendOptions extends SendCommon {
  device: string;
}

export interface SendGroupOptions extends SendCommon {
  /** The source devices, in order: the receiver's devices are matched to them by position. */
  devices: string[];
}

/** One device's part of a migration to another host: a pair of `migrate run`, its destination on the other host. */
export type SendMember = {device: string; dest: {host: string; device: string}} & Pick<
  PairResult,
  'payload_bytes' | 'stream_bytes' | 'precopy_rounds' | 'precopy' | 'source_state' | 'dest_state'
>;

interface SendTotals {
  channel: string;
  /** From the end of PRE_COPY until the destination accepted what it got (the sources still running). */
  ack_ms: number;
  /** From STOP_COPY until the destination reported RUNNING: the downtime, over both hosts. */
  stop_copy_ms: number;
  max_downtime_ms: number;
  steps: StepRecord[];
}

export type SendResult = SendMember & SendTotals;
export interface SendGroupResult extends SendTotals {
  members: SendMember[];
}

/** The destination was told to run but never confirmed: the sources stay stopped. */
export class InDoubtError extends VfioMigError {
  constructor(devices: string[], why: Error) {
    super(
      `${devices.join(', ')}: the destination was told to run but did not confirm (${why.message}); the source stays stopped, ` +
        "as the guest may be running there: check the destination, then resume the source only if it is not running ('vfio-mig migrate state')",
      ExitCode.recoveryFailed,
      'IN_DOUBT',
      {cause: why.message},
    );
  }
}

/**
 * Bounded write of this side's records after a failure (the peer may no longer read): true
 * when it was written in time. A peer that does not take even that is not waited for again.
 */
export async function bounded(p: Promise<void>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const ok = await Promise.race([p.then(() => true, () => false), new Promise<boolean>((r) => (t = setTimeout(() => r(false), ms)))]);
  clearTimeout(t);
  return ok;
}

/** One device to another host: the one-device case of sendGroup, reported flat. */
export async function sendMigration(options: SendOptions): Promise<SendResult> {
  const {device, ...rest} = options;
  const {members, ...totals} = await sendGroup({...rest, devices: [device]});
  return {...members[0]!, ...totals};
}

interface Member {
  device: string;
  engine: EngineLike;
  ctl?: DeviceControl;
  header?: StreamHeader;
}

/**
 * The source side of a migration to another host: sends its devices' state on the channel
 * while the destination (`receiveGroup`) loads it, and stops the devices only on the
 * destination's word. Order: `begin` (the stream headers); the destination answers `ready`
 * (every destination RESUMING); each device's PRE_COPY rounds under the downtime budget, one
 * device after the other on the channel; the destination answers `accepted` (every PRE_COPY
 * byte written to its device: QEMU's switchover-ack); every source to PRE_COPY_P2P/RUNNING_P2P
 * and STOP_COPY (QEMU's order, group.ts), the STOP_COPY data one device after the other; the
 * destination answers `loaded` (every RESUMING -> STOP passed: the drivers validated the data);
 * the sources commit and say `commit`; the destination answers `running`; the sources go to
 * STOP. Any failure, signal, --timeout or silence before the commit: every source goes back to
 * RUNNING, every destination resets, and each side sends the other its cause and recoveries,
 * so both report the same outcome.
 */
export async function sendGroup(options: SendGroupOptions): Promise<SendGroupResult> {
  const devices = distinctDevices(options.devices);
  const several = devices.length > 1;
  const emit = options.onEvent ?? (() => undefined);
  const start = options.start ?? startEngine;
  const peerMs = options.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS;
  const maxDowntimeMs = options.maxDowntimeMs ?? DEFAULT_MAX_DOWNTIME_MS;
  const guard = new Guard(options.signal);
  const channel: Channel = await openChannel(options.channel, 'send', {timeoutMs: peerMs, ...(options.signal ? {signal: options.signal} : {})});
  const inbox = new Inbox(channel, 'destination', (e) => guard.abort(e));
  const members: Member[] = [];
  let moved = false;
  let committed = false;
  // Once an engine wrote on the channel, our next record must be padded (record.ts).
  let pad = false;
  const send = async (rec: ControlRecord) => {
    trace(`send ${rec.type}`);
    const bytes = encodeControl(rec);
    const out = pad ? Buffer.concat([Buffer.alloc(ABORT_PADDING), bytes]) : bytes;
    pad = false;
    await channel.write(out);
  };
  // A data stream on the channel, headed by `header`, written by m's engine.
  const stream = async (m: Member, fd: 3 | 4, header: ControlRecord) => {
    pad = true;
    await m.engine.request('save_begin', {fd, header: header as unknown as Record<string, unknown>});
  };
  try {
    for (const device of devices) {
      const engine = await start(channel.engineData(2));
      guard.watch(engine);
      members.push({device, engine});
    }
    inbox.start();
    const host = await hostName(options.sysfs);
    for (const m of members) {
      m.ctl = await DeviceControl.open(m.engine, m.device, options.sysfs, options.deviceInterface);
      const state = await m.ctl.state();
      if (state !== MigState.RUNNING) {
        throw new InputError(`${m.device}: the source is ${stateName(state)}, not RUNNING; see 'vfio-mig migrate state ${m.device}'`, 'BAD_STATE');
      }
    }
    const sources = members.map((m) => m.ctl!);
    requireP2P(sources, several);
    for (const m of members) m.header = await buildHeader(options.sysfs, m.device, m.ctl!.flags, host, await m.ctl!.dataSize());
    const begin = control('begin', 'source', {
      host,
      devices,
      streams: members.map((m) => m.header as unknown as Record<string, unknown>),
      session: {peer_timeout_ms: peerMs, timeout_ms: options.timeoutMs ?? null, max_downtime_ms: maxDowntimeMs},
    });
    guard.check();
    await stream(members[0]!, 3, begin);
    trace('begin sent');
    const ready = await inbox.next('ready', peerMs, guard);
    if (ready.devices?.length !== devices.length) {
      throw new ProtocolError(`the destination answered for ${ready.devices?.length ?? 0} devices, ${devices.length} were sent`);
    }
    const dests = ready.devices.map((device) => ({host: ready.host!, device}));
    moved = true;
    const silence = () => guard.abort(new PeerSilentError('destination', peerMs));
    // PRE_COPY: each device's rounds fit its own rest into the budget; one stream after the other.
    const budget = {maxDowntimeMs, maxRounds: options.precopyRounds ?? DEFAULT_PRECOPY_ROUNDS};
    const pre: PrecopyOutcome[] = [];
    for (const [i, m] of members.entries()) {
      if (i > 0) await stream(m, 3, control('precopy', 'source', {devices: [m.device]}));
      const dog = new Watchdog(peerMs, silence);
      const kick = (ev: MigrationEvent) => {
        dog.kick();
        emit(ev);
      };
      pre.push(await precopyPhase(m.ctl!, m.engine, budget, guard, kick).finally(() => dog.stop()));
      trace(`${m.device}: pre-copy done: ${pre[i]!.switchover}, ${pre[i]!.rounds.length} rounds`);
      await m.engine.request('save_end', {});
    }
    const ackStart = performance.now();
    await inbox.next('accepted', peerMs, guard);
    const ackMs = performance.now() - ackStart;
    guard.check();
    // The downtime starts here, and --timeout counts until the destination runs.
    if (several) await quiesceAll(sources);
    const stopStart = performance.now();
    const disarm = guard.deadline(options.timeoutMs, () => new TimeoutError(options.timeoutMs!));
    await stepAll(sources, MigState.STOP_COPY);
    const ends = [];
    for (const m of members) {
      const estimate = await m.ctl!.dataSize();
      await stream(m, 4, control('stop_copy', 'source', {devices: [m.device]}));
      const dog = new Watchdog(peerMs, silence);
      await guard
        .run(() =>
          m.engine.request('save', {mode: 'until_eof', ...(estimate ? {estimate} : {})}, {
            onProgress: (ev) => {
              dog.kick();
              emit(progressOf(m.device, 'stop_copy', ev));
            },
          }),
        )
        .finally(() => dog.stop());
      const end = await m.engine.request('save_end', {});
      trace(`${m.device}: stop-copy sent: ${end.payload_bytes} bytes`);
      ends.push(end);
    }
    await inbox.next('loaded', peerMs, guard);
    guard.check();
    disarm();
    // The hand-over: from here the destination holds the state; if we die now, our engines
    // must not resume the sources beside a destination that may run.
    await Promise.all(members.map((m) => m.engine.request('commit', {})));
    committed = true;
    await send(control('commit', 'source'));
    // Only the destination decides now: a signal no longer aborts.
    const running = await inbox.next('running', peerMs);
    const stopCopyMs = performance.now() - stopStart;
    await stepAll(sources, MigState.STOP);
    const steps = stepsInOrder(sources);
    for (const step of steps) emit({event: 'step', device: step.device, from: step.from, to: step.to});
    const results: SendMember[] = [];
    for (const [i, m] of members.entries()) {
      const {rounds, ...precopy} = pre[i]!;
      results.push({
        device: m.device,
        dest: dests[i]!,
        payload_bytes: ends[i]!.payload_bytes,
        stream_bytes: ends[i]!.stream_bytes,
        precopy_rounds: rounds,
        precopy,
        source_state: stateName(await m.ctl!.state()),
        dest_state: running.states![i]!,
      });
    }
    return {
      channel: describeChannel(options.channel),
      members: results,
      ack_ms: Math.round(ackMs),
      stop_copy_ms: Math.round(stopCopyMs),
      max_downtime_ms: maxDowntimeMs,
      steps,
    };
  } catch (caught) {
    trace(`failed: ${(guard.error ?? (caught as Error)).message}`);
    const cause = channelCause(guard.error ?? (caught as Error), inbox, channel.name);
    guard.abort(cause);
    await Promise.all(members.map((m) => m.engine.request('save_end', {abort: true}).catch(() => undefined)));
    const opened = members.flatMap((m) => (m.ctl ? [m.ctl] : []));
    if (committed && !inbox.peerAbort) {
      // Told to run, no word back: resuming here could run the guest twice.
      await Promise.all(opened.map((c) => c.stepTo(MigState.STOP).catch(() => undefined)));
      throw new InDoubtError(devices, cause);
    }
    let reachable = !(cause instanceof ChannelLostError);
    if (reachable && !inbox.peerAbort) reachable = await bounded(send(control('abort', 'source', {cause: causeOf(cause)})), peerMs);
    const recoveries: Recovery[] = [];
    if (moved) for (const c of opened) recoveries.push(await recoverSource(c));
    if (reachable && (await bounded(send(control('recovered', 'source', {recoveries})), peerMs))) {
      recoveries.push(...((await inbox.recovered(Math.min(peerMs, RECOVERY_REPORT_MS))) ?? []));
    }
    if (recoveries.length === 0) throw cause;
    throw new MigrationFailedError(cause, recoveries);
  } finally {
    await Promise.all(members.map((m) => m.engine.close().catch(() => undefined)));
    await channel.close().catch(() => undefined);
  }
}
