export { AgentService, type AgentServiceOptions } from './agents.js';
export { type ArtifactInfo, ArtifactService, type ArtifactServiceOptions } from './artifacts.js';
export { CacheService, type CacheServiceOptions } from './caches.js';
export { type FeedStreamOptions, feedStream } from './feed-stream.js';
export { type JobCredential, JobService, type JobServiceOptions, LOG_PAGE_BYTES, logLimits } from './jobs.js';
export { PoolService, type PoolServiceOptions } from './pools.js';
export { QueueService, type QueueServiceOptions } from './queue.js';
export {
  historyDepth,
  MAX_PENDING_DELIVERIES,
  RepositoryService,
  type RepositoryServiceOptions,
} from './repositories.js';
export { findRun, type RunFeedPage, RunService, type RunServiceOptions, runView } from './runs.js';
export { TokenService, type TokenServiceOptions } from './tokens.js';
export { VariableGroupService, type VariableGroupServiceOptions } from './variable-groups.js';
