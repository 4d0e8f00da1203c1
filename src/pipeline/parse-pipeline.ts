import { type PipelineError, PipelineErrors } from '../shared/errors.js';
import { checkGraph } from './dependency-graph.js';
import { FILE_START, Issues } from './issues.js';
import { loadYaml } from './load-yaml.js';
import { planJobs, type StageJobs } from './plan-jobs.js';
import { type JobDraft, readJobBody, readJobs } from './read-job.js';
import { readPool } from './read-pool.js';
import { readResources } from './read-resources.js';
import { readStages } from './read-stages.js';
import { checkTaskSteps, type TaskCatalog } from './read-task.js';
import { readVariables, variableRecord } from './read-variables.js';
import { checkKeys, entryOf, mismatch, readBoolean, readString } from './reader.js';
import { TemplateExpander } from './template-expander.js';
import { type ReadFile, TemplateFiles } from './template-files.js';
import { PIPELINE_KEYS, SHORTHAND_JOB_KEYS } from './top-level-keys.js';
import type { JsonValue, PipelinePlan } from './types.js';
import { toJson } from './values.js';
import { buildTree, describeNode, type YEntry, type YMap, type YNode } from './yaml-tree.js';

/** The job a top-level `steps:` becomes (Azure calls it `__default`). */
export const SHORTHAND_JOB_NAME = 'job';

export interface ParseOptions {
  /**
   * Reads a template file by path: relative to the pipeline's `file` path, `/` separated (see
   * resolveTemplatePath). Default: none, so a pipeline that includes templates is an error.
   */
  readFile?: ReadFile;
  /** Values of the pipeline's own `parameters`, as text (objects as JSON). Default: their defaults. */
  parameters?: Record<string, string>;
  /** The tasks Slipway has, to check `task:` steps against. Default: none, so every task is refused. */
  tasks?: TaskCatalog;
  /** A task Slipway does not have becomes a step that fails saying so, instead of an error. Default false. */
  allowUnsupportedTasks?: boolean;
  /** Queue-time variables, seen by `${{ variables.x }}` and by `$(x)` in pools and containers. Default: none. */
  variables?: Record<string, string>;
}

const TOP_LEVEL_KEYS = { context: 'pipeline', known: PIPELINE_KEYS };
const BODY_KEYS = ['stages', 'jobs', 'steps'] as const;
const LOCK_BEHAVIORS = ['sequential', 'runLatest'] as const;

/** Pipeline YAML → typed plan. Throws PipelineErrors listing every problem found. */
export function parsePipeline(text: string, file: string, options: ParseOptions = {}): PipelinePlan {
  const { plan, errors } = compilePipeline(text, file, options);
  if (errors.length > 0 || plan === undefined) throw new PipelineErrors(errors);
  return plan;
}

/** Every problem in a pipeline file (and its templates), in reading order; empty when valid. Never throws. */
export function validatePipeline(text: string, file: string, options: ParseOptions = {}): PipelineError[] {
  return compilePipeline(text, file, options).errors;
}

/** Every problem in a pipeline, and the notes on what it leaves to the server. Never throws. */
export function checkPipeline(
  text: string,
  file: string,
  options: ParseOptions = {},
): { errors: PipelineError[]; notes: PipelineError[] } {
  const { errors, notes } = compilePipeline(text, file, options);
  return { errors, notes };
}

/**
 * Every template file the pipeline includes (directly or not), path → text, so a client can send
 * them along and the server compiles the same pipeline with `readFile: (p) => files[p]`. Pass
 * the same `parameters` and `variables` as the run will: they decide conditional includes.
 * Files that could not be read are left out (compiling then reports them).
 */
export function collectTemplateFiles(
  text: string,
  file: string,
  readFile: ReadFile,
  options: Omit<ParseOptions, 'readFile'> = {},
): Record<string, string> {
  const files = compilePipeline(text, file, { ...options, readFile }).templates;
  return Object.fromEntries(files);
}

function compilePipeline(
  text: string,
  file: string,
  options: ParseOptions,
): { plan?: PipelinePlan; errors: PipelineError[]; notes: PipelineError[]; templates: Map<string, string> } {
  const issues = new Issues(file);
  const templates = new TemplateFiles(issues, options.readFile);
  const loaded = loadYaml(text, issues);
  const root = loaded && buildTree(loaded, issues);
  const done = (plan?: PipelinePlan) => ({
    plan,
    errors: issues.sorted(),
    notes: issues.notes(),
    templates: templates.texts,
  });
  if (root === undefined) return done();
  if (root.kind !== 'map') {
    issues.add(
      FILE_START,
      `a pipeline must be a mapping (with 'stages:', 'jobs:' or 'steps:'), found ${describeNode(root)}`,
    );
    return done();
  }
  const expander = new TemplateExpander(issues, templates, file, options);
  const expanded = expander.expandPipeline(root);
  if (expanded.stopped) return done();
  const plan = readPipeline(issues, expanded.root, file, options, expanded.incomplete);
  checkTaskSteps(issues, plan, options.tasks, options.allowUnsupportedTasks ?? false);
  const parameters = toJson(expanded.parameters);
  if (parameters !== null && typeof parameters === 'object' && Object.keys(parameters).length > 0)
    plan.parameters = parameters as Record<string, JsonValue>;
  return done(plan);
}

function readPipeline(
  issues: Issues,
  root: YMap,
  file: string,
  options: ParseOptions,
  incomplete: boolean,
): PipelinePlan {
  checkKeys(issues, root, TOP_LEVEL_KEYS);
  const read = <T>(key: string, reader: (entry: YEntry) => T | undefined): T | undefined => {
    const entry = entryOf(root, key);
    return entry === undefined ? undefined : reader(entry);
  };
  const pool = read('pool', (e) => readPool(issues, e));
  const variables = read('variables', (e) => readVariables(issues, e)) ?? [];
  const resources = read('resources', (e) => readResources(issues, e));
  const stages = readBody(issues, root, incomplete);
  const { jobs, stages: stagePlans } = planJobs(
    {
      issues,
      variables,
      ...(pool ? { pool } : {}),
      containers: resources?.containers ?? {},
      queueVariables: options.variables ?? {},
    },
    stages,
  );
  const plan: PipelinePlan = { file, variables: variableRecord(variables), jobs };
  if (stagePlans) plan.stages = stagePlans;
  const name = read('name', (e) => readString(issues, e));
  if (name !== undefined) plan.name = name;
  const triggers = Object.fromEntries(
    (['trigger', 'pr', 'schedules'] as const).flatMap((key) => {
      const entry = entryOf(root, key);
      return entry ? [[key, nodeJson(entry.value)]] : [];
    }),
  );
  if (Object.keys(triggers).length > 0) plan.triggers = triggers;
  if (resources) plan.resources = resources;
  const lock = read('lockBehavior', (e) => readLockBehavior(issues, e));
  if (lock) plan.lockBehavior = lock;
  const append = read('appendCommitMessageToRunName', (e) => readBoolean(issues, e));
  if (append !== undefined) plan.appendCommitMessageToRunName = append;
  return plan;
}

/** `stages`, `jobs` or `steps` → the jobs of each stage, their graphs checked. */
function readBody(issues: Issues, root: YMap, incomplete: boolean): StageJobs[] {
  const present = BODY_KEYS.flatMap((key) => entryOf(root, key) ?? []);
  const [first, ...others] = present.sort(
    (a, b) => a.keyPos.line - b.keyPos.line || a.keyPos.col - b.keyPos.col,
  );
  for (const other of others) {
    issues.add(
      other.keyPos,
      `use one of 'stages', 'jobs' or 'steps' at the top level, not '${first?.key}' and '${other.key}'`,
    );
  }
  if (first === undefined) {
    if (!incomplete) issues.add(root.pos, "a pipeline needs 'stages', 'jobs' or 'steps'");
    return [];
  }
  if (first.key !== 'steps') {
    for (const e of root.entries.filter((e) => SHORTHAND_JOB_KEYS.includes(e.key))) {
      issues.add(
        e.keyPos,
        `top-level '${e.key}' goes with top-level 'steps'; with '${first.key}', set it on each job`,
      );
    }
  }
  if (first.key === 'steps') return [{ jobs: [readShorthandJob(issues, root, first)] }];
  if (first.key === 'jobs') {
    const jobs = readJobs(issues, first);
    checkGraph(issues, jobs, 'job');
    return [{ jobs }];
  }
  const stages = readStages(issues, first);
  checkGraph(issues, stages, 'stage');
  for (const stage of stages) checkGraph(issues, stage.jobs, 'job');
  return stages.map((stage) => ({ stage, jobs: stage.jobs }));
}

function readShorthandJob(issues: Issues, root: YMap, steps: YEntry): JobDraft {
  const entries = root.entries.filter((e) => e === steps || SHORTHAND_JOB_KEYS.includes(e.key));
  const job: YMap = { kind: 'map', entries, pos: steps.keyPos };
  return readJobBody(issues, job, SHORTHAND_JOB_NAME, steps.keyPos);
}

function readLockBehavior(issues: Issues, entry: YEntry): PipelinePlan['lockBehavior'] {
  const { value } = entry;
  const found = LOCK_BEHAVIORS.find(
    (b) => value.kind === 'scalar' && b.toLowerCase() === value.value.toLowerCase(),
  );
  return found ?? mismatch(issues, entry, `one of ${LOCK_BEHAVIORS.join(', ')}`);
}

function nodeJson(node: YNode): JsonValue {
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'null':
      return null;
    case 'seq':
      return node.items.map(nodeJson);
    case 'map':
      return Object.fromEntries(node.entries.map((e) => [e.key, nodeJson(e.value)]));
    default:
      return node satisfies never;
  }
}
