/**
 * The plan's types, derived from the schemas in `plan-schema.ts` (their one source, with the
 * documentation of every field): the agent checks the job it receives with the same schema.
 */
import type { z } from 'zod';
import type * as s from './plan-schema.js';

export type TaskResult = z.infer<typeof s.taskResult>;
export type SourcePos = z.infer<typeof s.sourcePos>;
export type Demand = z.infer<typeof s.demand>;
export type PoolRef = z.infer<typeof s.poolRef>;
export type DockerMode = z.infer<typeof s.dockerMode>;
export type ContainerRef = z.infer<typeof s.containerRef>;
export type StepKind = z.infer<typeof s.stepKind>;
export type CheckoutOptions = z.infer<typeof s.checkoutOptions>;
export type PublishOptions = z.infer<typeof s.publishOptions>;
export type DownloadOptions = z.infer<typeof s.downloadOptions>;
export type CacheOptions = z.infer<typeof s.cacheOptions>;
export type CacheSaveOptions = z.infer<typeof s.cacheSaveOptions>;
export type StepPlan = z.infer<typeof s.stepPlan>;
export type TaskCall = z.infer<typeof s.taskCall>;
export type JobPlan = z.infer<typeof s.jobPlan>;
export type StagePlan = z.infer<typeof s.stagePlan>;
export type JsonValue = z.infer<typeof s.jsonValue>;
export type RepositoryResource = z.infer<typeof s.repositoryResource>;
export type PipelinePlan = z.infer<typeof s.pipelinePlan>;
