/** The client of the bundled C migration engine (engine/). */
export {buildEngine, engineVersion, type EngineBuildResult} from './build.js';
export {EngineProcess, DATA_FD, type EngineOptions, type RequestOptions} from './process.js';
export {EngineError, StreamCorruptError, EngineNotFoundError, engineError, type EngineErrorResponse} from './errors.js';
export {enginePath, checkEngine, locateEngine, findEngine, engineCandidates, userEngineDir, packageRoot, packageVersion, ENGINE_ENV, type EngineCandidate, type EngineSource} from './locate.js';
export * from './protocol.js';
