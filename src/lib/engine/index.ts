/** The client of the bundled C migration engine (engine/). */
export {EngineProcess, DATA_FD, type EngineOptions, type RequestOptions} from './process.js';
export {EngineError, StreamCorruptError, EngineNotFoundError, engineError, type EngineErrorResponse} from './errors.js';
export {enginePath, checkEngine, packageRoot, ENGINE_ENV} from './locate.js';
export * from './protocol.js';
