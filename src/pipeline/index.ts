export {
  type BuildNumberInput,
  buildNumberRevisionKey,
  DEFAULT_BUILD_NUMBER_FORMAT,
  formatBuildNumber,
  MAX_BUILD_NUMBER,
} from './build-number.js';
export {
  aggregateStatus,
  type ConditionContext,
  type ConditionStatus,
  type DependencyState,
  type Expr,
  ExpressionError,
  evaluateCondition,
  evaluateRuntimeValue,
  type FunctionName,
  type Literal,
  parseExpression,
} from './expressions.js';
export { type FinishedJob, type JobStart, type JobStartInput, prepareJobStart } from './job-start.js';
export { MAX_NESTING_DEPTH, MAX_PIPELINE_BYTES } from './load-yaml.js';
export {
  type FormatName,
  isTruthy,
  type LoggingCommand,
  mayBecomeCommand,
  parseLoggingCommand,
  unescapeValue,
} from './logging-commands.js';
export { createVariableLookup, expandMacros, expandVariables, toEnvName } from './macros.js';
export {
  checkPipeline,
  collectTemplateFiles,
  type ParseOptions,
  parsePipeline,
  SHORTHAND_JOB_NAME,
  validatePipeline,
} from './parse-pipeline.js';
export {
  type BuildReason,
  buildReason,
  cacheOptions,
  cacheSaveOptions,
  checkoutOptions,
  containerRef,
  demand,
  dockerMode,
  downloadOptions,
  jobPlan,
  jsonValue,
  pipelinePlan,
  poolRef,
  publishOptions,
  repositoryResource,
  sourcePos,
  stagePlan,
  stepKind,
  stepPlan,
  taskCall,
  taskResult,
} from './plan-schema.js';
export {
  type PredefinedVariablesInput,
  predefinedVariables,
  type RunSource,
  sourceVariables,
} from './predefined-variables.js';
export { CACHE_TASKS } from './read-cache.js';
export { DEFAULT_CONDITION } from './read-condition.js';
export { DEFAULT_CANCEL_TIMEOUT, DEFAULT_JOB_TIMEOUT, MAX_JOBS } from './read-job.js';
export { DEFAULT_POOL, parseDemand } from './read-pool.js';
export { MAX_STAGES } from './read-stages.js';
export { defaultDisplayName, MAX_STEP_RETRIES, MAX_STEPS } from './read-steps.js';
export type { TaskCallInput, TaskCatalog } from './read-task.js';
export { MAX_VARIABLES } from './read-variables.js';
export { MAX_EXPANSION, MAX_TEMPLATE_DEPTH } from './template-expander.js';
export { MAX_TEMPLATE_FILES, type ReadFile, resolveTemplatePath } from './template-files.js';
export type {
  CacheOptions,
  CacheSaveOptions,
  CheckoutOptions,
  ContainerRef,
  Demand,
  DockerMode,
  DownloadOptions,
  JobPlan,
  JsonValue,
  PipelinePlan,
  PoolRef,
  PublishOptions,
  RepositoryResource,
  SourcePos,
  StagePlan,
  StepKind,
  StepPlan,
  TaskCall,
  TaskResult,
} from './types.js';
export { MAX_ALIAS_EXPANSIONS, MAX_ALIAS_NODES } from './yaml-tree.js';
