export {DeviceControl, ArcFailedError, type EngineLike, type StepRecord} from './control.js';
export {recoverSource, recoverDestination, MigrationFailedError, type Recovery, type RecoveryOutcome} from './recover.js';
export {buildHeader, parseHeader, checkHeaderAgainst, type StreamHeader} from './header.js';
export {saveDevice, type SaveOptions, type SaveResult, type PrecopyRound, type FinalState} from './save.js';
export {loadDevice, type LoadOptions, type LoadResult} from './load.js';
export {runMigration, type RunOptions, type RunResult} from './run.js';
export {startEngine, type EngineStarter, type Endpoint, type MigrationEvent} from './session.js';
export {Guard, InterruptedError, TimeoutError, type StopSignal} from './guard.js';
export {precopyPhase, DEFAULT_MAX_DOWNTIME_MS, DEFAULT_PRECOPY_ROUNDS, type DowntimeBudget, type PrecopyOutcome} from './precopy.js';
