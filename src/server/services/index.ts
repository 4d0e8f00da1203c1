export { AgentService, type AgentServiceOptions } from './agents.js';
export { type ArtifactInfo, ArtifactService, type ArtifactServiceOptions } from './artifacts.js';
export { CacheService, type CacheServiceOptions } from './caches.js';
export { type JobCredential, JobService, type JobServiceOptions, LOG_PAGE_BYTES, logLimits } from './jobs.js';
export { PoolService, type PoolServiceOptions } from './pools.js';
export { findRun, type RunFeedPage, RunService, type RunServiceOptions, runView } from './runs.js';
export { TokenService, type TokenServiceOptions } from './tokens.js';
