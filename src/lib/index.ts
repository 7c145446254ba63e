/**
 * vfio-mig as a library, for orchestrators: import from 'vfio-mig'. Nothing here imports
 * oclif or prints; failures are VfioMigError subclasses carrying the CLI's exit code.
 */
export * from './errors.js';
export * from './model/types.js';
export {
  SAFE_PARAM_NAME,
  isSafeParamName,
  isAllowed,
  valueProblem,
  parseIntRange,
  formatAllowed,
  parseSysfsValue,
  formatSysfsValue,
} from './model/params.js';
export {parseMigrationInfo, parseDeviceModels, typeMigrationFromInfo} from './model/metadata.js';
export {SysfsRoot, SysfsWriteError} from './sysfs/root.js';
export {
  readTypes,
  readDevices,
  readDevice,
  readInventory,
  hostName,
  normalizeDeviceId,
  deviceDir,
  deviceId,
  deviceType,
  deviceTypeMigration,
  findTypes,
} from './enumerate/index.js';
export {validateFile, validateText, validateHost, type ValidationReport} from './validate/index.js';
export {schemaProblems, type Problem} from './schema/index.js';
export * from './fsm/index.js';
export {buildParamList, paramListFromDevice, parseParamList, readParamListFile, validateParamList, serializeDocument} from './paramlist/index.js';
export {
  checkCompat,
  checkMetadata,
  typeVerdict,
  type CompatOptions,
  keptValueWarnings,
  type CompatResult,
  type Destination,
  type DestinationRef,
  type Reason,
  type ReasonCode,
  type SourceRef,
  type WarningCode,
} from './compat/index.js';
export {liveDestination, inventoryDestination, inventoryDestinations, resolveSource} from './compat/resolve.js';
export {parseInventory, readInventoryFile, readInventoryFiles, validateInventory} from './inventory/index.js';
export {selectDestinations, type Candidate, type Rejected, type SelectOptions, type SelectResult} from './select/index.js';
export {
  planPreparation,
  plannedWrites,
  countPlan,
  type PlannedWrite,
  prepareDevice,
  prepareError,
  sysfsIO,
  acquireDeviceLock,
  recoverInterruptedPrepare,
  type DeviceLock,
  type PrepareHooks,
  type RecoveredPrepare,
  type ParamIO,
  type Plan,
  type PlanStep,
  type PrepareOptions,
  type PrepareResult,
  type PrepareStatus,
  type RollbackEntry,
  type StepOutcome,
  type WriteFailure,
} from './prepare/index.js';
export * from './migrate/index.js';
export {EngineProcess, type EngineOptions} from './engine/process.js';
export {EngineError, StreamCorruptError, EngineNotFoundError} from './engine/errors.js';
export {
  loadRuleSets,
  readRuleSetFile,
  parseRuleSetText,
  ruleSetFor,
  checkIdentity,
  describeBasis,
  describeIdentity,
  IDENTITY_FIELDS,
  DEFAULT_RULE_SET,
  USER_RULES_DIR,
  type Basis,
  type IdentityReason,
  type LoadedRuleSet,
  type Rule,
  type RuleSet,
  type RuleSetSources,
} from './rules/index.js';
export {locateEngine, engineCandidates, userEngineDir, ENGINE_ENV, type EngineCandidate, type EngineSource} from './engine/locate.js';
export {buildEngine, engineVersion, type EngineBuildResult} from './engine/build.js';
export * from './probe/index.js';
