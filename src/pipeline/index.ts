export {
  aggregateStatus,
  type ConditionContext,
  type ConditionStatus,
  type DependencyState,
  type Expr,
  ExpressionError,
  evaluateCondition,
  type FunctionName,
  type Literal,
  parseExpression,
} from './expressions.js';
export { MAX_NESTING_DEPTH, MAX_PIPELINE_BYTES } from './load-yaml.js';
export { createVariableLookup, expandMacros, toEnvName } from './macros.js';
export { parsePipeline, SHORTHAND_JOB_NAME, validatePipeline } from './parse-pipeline.js';
export { type PredefinedVariablesInput, predefinedVariables } from './predefined-variables.js';
export { DEFAULT_CONDITION } from './read-condition.js';
export { DEFAULT_CANCEL_TIMEOUT, DEFAULT_JOB_TIMEOUT, MAX_JOBS } from './read-job.js';
export { DEFAULT_POOL, parseDemand } from './read-pool.js';
export { defaultDisplayName, MAX_STEPS } from './read-steps.js';
export { MAX_VARIABLES } from './read-variables.js';
export type {
  ContainerRef,
  Demand,
  DockerMode,
  JobPlan,
  PipelinePlan,
  PoolRef,
  SourcePos,
  StepKind,
  StepPlan,
  TaskResult,
} from './types.js';
export { MAX_ALIAS_EXPANSIONS, MAX_ALIAS_NODES } from './yaml-tree.js';
