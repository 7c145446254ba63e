import {MigFlag, MigState} from '../fsm/states.js';
import type {DeviceControl, EngineLike} from './control.js';
import type {Guard} from './guard.js';
import {type MigrationEvent, progressOf} from './session.js';

/** QEMU's default downtime limit (migrate-set-parameters downtime-limit). */
export const DEFAULT_MAX_DOWNTIME_MS = 300;
/** Round limit when the device never fits the budget. */
export const DEFAULT_PRECOPY_ROUNDS = 30;

export interface PrecopyRound {
  round: number;
  initial_bytes: number;
  dirty_bytes: number;
  bytes: number;
  ms: number;
}

export interface DowntimeBudget {
  /** STOP_COPY may start once what is left, at the measured rate, takes at most this long. */
  maxDowntimeMs: number;
  /** At most this many PRE_COPY rounds; 0: no PRE_COPY. */
  maxRounds: number;
}

export type SwitchoverReason = 'no_precopy' | 'fits_budget' | 'no_progress' | 'round_limit';

export interface PrecopyOutcome {
  rounds: PrecopyRound[];
  /** Why STOP_COPY started when it did. */
  switchover: SwitchoverReason;
  /** What was left at switchover (PRECOPY_INFO initial + dirty), when PRE_COPY ran. */
  remaining_bytes: number | null;
  /** Bytes per second measured over the last round that moved data. */
  rate: number | null;
  /** remaining_bytes at `rate`: the STOP_COPY transfer time expected. */
  expected_downtime_ms: number | null;
}

/**
 * PRE_COPY rounds under a downtime budget (QEMU's switchover rule): before each round,
 * PRECOPY_INFO says what is left; STOP_COPY starts once that fits the budget at the rate
 * the previous rounds measured, when a round no longer shrinks it, or at the round limit.
 * Leaves the device in PRE_COPY (or untouched, for `no_precopy`).
 */
export async function precopyPhase(
  ctl: DeviceControl,
  engine: EngineLike,
  budget: DowntimeBudget,
  guard: Guard,
  emit: (ev: MigrationEvent) => void,
): Promise<PrecopyOutcome> {
  const none: PrecopyOutcome = {rounds: [], switchover: 'no_precopy', remaining_bytes: null, rate: null, expected_downtime_ms: null};
  if (budget.maxRounds <= 0 || !ctl.has(MigFlag.PRE_COPY)) return none;
  await ctl.stepTo(MigState.PRE_COPY);
  const rounds: PrecopyRound[] = [];
  let rate: number | undefined;
  let previous: number | undefined;
  for (let round = 1; ; round++) {
    guard.check();
    const info = await engine.request('precopy_info', {});
    const remaining = info.initial_bytes + info.dirty_bytes;
    const expected = rate === undefined ? (remaining === 0 ? 0 : undefined) : (remaining / rate) * 1000;
    const done = (switchover: SwitchoverReason): PrecopyOutcome => ({
      rounds,
      switchover,
      remaining_bytes: remaining,
      rate: rate === undefined ? null : Math.round(rate),
      expected_downtime_ms: expected === undefined ? null : Math.round(expected),
    });
    if (expected !== undefined && expected <= budget.maxDowntimeMs) return done('fits_budget');
    if (previous !== undefined && remaining >= previous) return done('no_progress');
    if (round > budget.maxRounds) return done('round_limit');
    const t0 = performance.now();
    const moved = await guard.run(() => engine.request('save', {mode: 'until_empty'}, {onProgress: (ev) => emit(progressOf(ctl.device, 'precopy', ev))}));
    const ms = Math.max(1, performance.now() - t0);
    if (moved.bytes > 0) rate = (moved.bytes / ms) * 1000;
    const entry = {round, initial_bytes: info.initial_bytes, dirty_bytes: info.dirty_bytes, bytes: moved.bytes, ms: Math.round(ms)};
    rounds.push(entry);
    emit({event: 'precopy', device: ctl.device, ...entry});
    previous = remaining;
  }
}
