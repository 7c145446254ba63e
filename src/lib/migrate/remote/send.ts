import type {DeviceInterfaceChoice} from '../../enumerate/access.js';
import {hostName} from '../../enumerate/index.js';
import {ExitCode, InputError, VfioMigError} from '../../errors.js';
import {MigState, stateName} from '../../fsm/states.js';
import type {SysfsRoot} from '../../sysfs/root.js';
import {deviceArg} from '../args.js';
import {DeviceControl, type EngineLike, type StepRecord} from '../control.js';
import {Guard, TimeoutError} from '../guard.js';
import {buildHeader} from '../header.js';
import {DEFAULT_MAX_DOWNTIME_MS, DEFAULT_PRECOPY_ROUNDS, precopyPhase, type PrecopyOutcome, type PrecopyRound} from '../precopy.js';
import {MigrationFailedError, recoverSource, type Recovery} from '../recover.js';
import {type EngineStarter, type MigrationEvent, progressOf, startEngine} from '../session.js';
import {type Channel, ChannelLostError, type ChannelSpec, describeChannel, openChannel} from './channel.js';
import {causeOf, channelCause, trace, Inbox, PeerSilentError, Watchdog} from './peer.js';
import {ABORT_PADDING, control, type ControlRecord, encodeControl} from './record.js';

/** How long either side waits for the other to say or send anything (ms). */
export const DEFAULT_PEER_TIMEOUT_MS = 30_000;
/** After a failure: how long to wait for the peer's account of its devices (ms). */
const RECOVERY_REPORT_MS = 15_000;

export interface SendOptions {
  sysfs: SysfsRoot;
  device: string;
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

export interface SendResult {
  device: string;
  channel: string;
  dest: {host: string; device: string};
  payload_bytes: number;
  stream_bytes: number;
  precopy_rounds: PrecopyRound[];
  precopy: Omit<PrecopyOutcome, 'rounds'>;
  /** From the end of PRE_COPY until the destination accepted what it got (the source still running). */
  ack_ms: number;
  /** From STOP_COPY until the destination reported RUNNING: the downtime, over both hosts. */
  stop_copy_ms: number;
  max_downtime_ms: number;
  source_state: string;
  dest_state: string;
  steps: StepRecord[];
}

/** The destination was told to run but never confirmed: the source stays stopped. */
export class InDoubtError extends VfioMigError {
  constructor(device: string, why: Error) {
    super(
      `${device}: the destination was told to run but did not confirm (${why.message}); the source stays stopped, ` +
        "as the guest may be running there: check the destination, then resume the source only if it is not running ('vfio-mig migrate state')",
      ExitCode.recoveryFailed,
      'IN_DOUBT',
      {cause: why.message},
    );
  }
}

/** Bounded write of this side's records after a failure (the peer may no longer read). */
export async function bounded(p: Promise<void>, ms: number): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p.catch(() => undefined), new Promise<void>((r) => (t = setTimeout(r, ms)))]);
  clearTimeout(t);
}

/**
 * The source side of a migration to another host: sends its device's state on the channel
 * while the destination (`receiveMigration`) loads it, and stops the device only on the
 * destination's word. Order: `begin` (the stream header); the destination answers `ready`
 * (RESUMING); PRE_COPY rounds under the downtime budget; the destination answers `accepted`
 * (every PRE_COPY byte written to its device: QEMU's switchover-ack); STOP_COPY; the
 * destination answers `loaded` (RESUMING -> STOP passed, the driver validated the data); the
 * source commits and says `commit`; the destination answers `running`; the source goes to STOP.
 * Any failure, signal, --timeout or silence before the commit: the source goes back to
 * RUNNING, the destination resets, and each side sends the other its cause and recoveries,
 * so both report the same outcome.
 */
export async function sendMigration(options: SendOptions): Promise<SendResult> {
  const device = deviceArg(options.device);
  const emit = options.onEvent ?? (() => undefined);
  const start = options.start ?? startEngine;
  const peerMs = options.peerTimeoutMs ?? DEFAULT_PEER_TIMEOUT_MS;
  const maxDowntimeMs = options.maxDowntimeMs ?? DEFAULT_MAX_DOWNTIME_MS;
  const guard = new Guard(options.signal);
  const channel: Channel = await openChannel(options.channel, 'send', {timeoutMs: peerMs, ...(options.signal ? {signal: options.signal} : {})});
  const inbox = new Inbox(channel, 'destination', (e) => guard.abort(e));
  let engine: EngineLike | undefined;
  let ctl: DeviceControl | undefined;
  let moved = false;
  let committed = false;
  // Once our engine wrote on the channel, our first record must be padded (record.ts).
  let pad = false;
  const send = async (rec: ControlRecord) => {
    trace(`send ${rec.type}`);
    const bytes = encodeControl(rec);
    const out = pad ? Buffer.concat([Buffer.alloc(ABORT_PADDING), bytes]) : bytes;
    pad = false;
    await channel.write(out);
  };
  try {
    engine = await start(channel.engineData(2));
    const eng = engine;
    guard.watch(eng);
    inbox.start();
    ctl = await DeviceControl.open(eng, device, options.sysfs, options.deviceInterface);
    const s = ctl;
    const state = await s.state();
    if (state !== MigState.RUNNING) {
      throw new InputError(`${device}: the source is ${stateName(state)}, not RUNNING; see 'vfio-mig migrate state ${device}'`, 'BAD_STATE');
    }
    const host = await hostName(options.sysfs);
    const header = await buildHeader(options.sysfs, device, s.flags, host, await s.dataSize());
    const begin = control('begin', 'source', {
      host,
      devices: [device],
      streams: [header as unknown as Record<string, unknown>],
      session: {peer_timeout_ms: peerMs, timeout_ms: options.timeoutMs ?? null, max_downtime_ms: maxDowntimeMs},
    });
    guard.check();
    pad = true;
    await eng.request('save_begin', {fd: 3, header: begin as unknown as Record<string, unknown>});
    trace('begin sent');
    const ready = await inbox.next('ready', peerMs, guard);
    const dest = {host: ready.host!, device: ready.devices![0]!};
    moved = true;
    const silence = () => guard.abort(new PeerSilentError('destination', peerMs));
    const dog = new Watchdog(peerMs, silence);
    const pre = await precopyPhase(
      s,
      eng,
      {maxDowntimeMs, maxRounds: options.precopyRounds ?? DEFAULT_PRECOPY_ROUNDS},
      guard,
      (ev) => {
        dog.kick();
        emit(ev);
      },
    ).finally(() => dog.stop());
    trace(`pre-copy done: ${pre.switchover}, ${pre.rounds.length} rounds`);
    await eng.request('save_end', {});
    const ackStart = performance.now();
    await inbox.next('accepted', peerMs, guard);
    const ackMs = performance.now() - ackStart;
    guard.check();
    // The downtime starts here, and --timeout counts until the destination runs.
    const stopStart = performance.now();
    const disarm = guard.deadline(options.timeoutMs, () => new TimeoutError(options.timeoutMs!));
    await s.stepTo(MigState.STOP_COPY);
    const estimate = await s.dataSize();
    await eng.request('save_begin', {fd: 4, header: control('stop_copy', 'source') as unknown as Record<string, unknown>});
    const dog2 = new Watchdog(peerMs, silence);
    await guard
      .run(() =>
        eng.request('save', {mode: 'until_eof', ...(estimate ? {estimate} : {})}, {
          onProgress: (ev) => {
            dog2.kick();
            emit(progressOf(device, 'stop_copy', ev));
          },
        }),
      )
      .finally(() => dog2.stop());
    const end = await eng.request('save_end', {});
    trace(`stop-copy sent: ${end.payload_bytes} bytes`);
    await inbox.next('loaded', peerMs, guard);
    guard.check();
    disarm();
    // The hand-over: from here the destination holds the state; if we die now, our engine
    // must not resume the source beside a destination that may run.
    await eng.request('commit', {});
    committed = true;
    await send(control('commit', 'source'));
    // Only the destination decides now: a signal no longer aborts.
    const running = await inbox.next('running', peerMs);
    const stopCopyMs = performance.now() - stopStart;
    await s.stepTo(MigState.STOP);
    for (const step of s.steps) emit({event: 'step', device: step.device, from: step.from, to: step.to});
    const {rounds, ...precopy} = pre;
    return {
      device,
      channel: describeChannel(options.channel),
      dest,
      payload_bytes: end.payload_bytes,
      stream_bytes: end.stream_bytes,
      precopy_rounds: rounds,
      precopy,
      ack_ms: Math.round(ackMs),
      stop_copy_ms: Math.round(stopCopyMs),
      max_downtime_ms: maxDowntimeMs,
      source_state: stateName(await s.state()),
      dest_state: running.states![0]!,
      steps: s.steps,
    };
  } catch (caught) {
    trace(`failed: ${(guard.error ?? (caught as Error)).message}`);
    const cause = channelCause(guard.error ?? (caught as Error), inbox, channel.name);
    guard.abort(cause);
    if (engine) await engine.request('save_end', {abort: true}).catch(() => undefined);
    if (committed && !inbox.peerAbort) {
      // Told to run, no word back: resuming here could run the guest twice.
      if (ctl) await ctl.stepTo(MigState.STOP).catch(() => undefined);
      throw new InDoubtError(device, cause);
    }
    const lost = cause instanceof ChannelLostError;
    if (!lost && !inbox.peerAbort) await bounded(send(control('abort', 'source', {cause: causeOf(cause)})), peerMs);
    const recoveries: Recovery[] = [];
    if (ctl && moved) recoveries.push(await recoverSource(ctl));
    if (!lost) {
      await bounded(send(control('recovered', 'source', {recoveries})), peerMs);
      recoveries.push(...((await inbox.recovered(Math.min(peerMs, RECOVERY_REPORT_MS))) ?? []));
    }
    if (recoveries.length === 0) throw cause;
    throw new MigrationFailedError(cause, recoveries);
  } finally {
    await engine?.close().catch(() => undefined);
    await channel.close().catch(() => undefined);
  }
}
