export type { CoverageCounter, CoverageSummary } from './coverage/summary.js';
export { findFiles, globToRegExp, matchPaths } from './glob.js';
export { checkInputs, findTask, TASKS, taskCatalog, unsupportedReason } from './registry.js';
export { runTask } from './run-task.js';
export type { TestCaseResult, TestRunSummary } from './test-results/summary.js';
export type { ArtifactAccess, ScriptRun, TaskContext, TaskDefinition, TaskOutcome } from './types.js';
