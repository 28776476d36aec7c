/** The OpenAI-compatible server (Node only): `startServer(model, options)`. */
export { startServer, type GemmaServer, type ServedModel, type ServerOptions } from './server.js';
export { ApiError } from './errors.js';
export { Scheduler, Generation, QueueFullError, ContextOverflowError, SchedulerClosedError, type SchedulerOptions, type SchedulerStats } from '../engine/scheduler.js';
