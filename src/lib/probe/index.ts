/** The non-disruptive compatibility probe: the destination's own driver judges the source's first bytes. */
export {
  captureProbe,
  checkMaxBytes,
  DEFAULT_MAX_STOP_MS,
  DEFAULT_PROBE_MAX_BYTES,
  PROBE_MAX_BYTES_LIMIT,
  type CaptureOptions,
  type CaptureResult,
} from './capture.js';
export {judgeProbe, type JudgeOptions, type ProbeReason, type ProbeVerdict} from './judge.js';
export {parseProbeHeader, type ProbeHeader} from './header.js';
export {createScratchMdev, type ScratchMdev} from './scratch.js';
export {CleanupGuard, guarded, processSignals, type Cleanup, type SignalHost} from './guard.js';
