import { type PipelineError, PipelineErrors } from '../shared/errors.js';
import { FILE_START, Issues } from './issues.js';
import { checkJobGraph } from './job-graph.js';
import { loadYaml } from './load-yaml.js';
import { type JobDefaults, type JobDraft, readJobBody, readJobs } from './read-job.js';
import { readPool } from './read-pool.js';
import { readVariables, variableRecord } from './read-variables.js';
import { checkKeys, entryOf, readString } from './reader.js';
import type { PipelinePlan } from './types.js';
import { buildTree, describeNode, type YEntry, type YMap } from './yaml-tree.js';

/** The job a top-level `steps:` becomes (Azure calls it `__default`). */
export const SHORTHAND_JOB_NAME = 'job';

/** Job keys that may sit at the top level next to a top-level `steps:`. */
const SHORTHAND_JOB_KEYS = ['container', 'services', 'docker', 'timeoutInMinutes'];
const TOP_LEVEL_KEYS = {
  context: 'pipeline',
  known: ['name', 'pool', 'variables', 'jobs', 'steps', ...SHORTHAND_JOB_KEYS],
  unsupported: [
    'stages',
    'strategy',
    'template',
    'extends',
    'parameters',
    'resources',
    'trigger',
    'pr',
    'schedules',
    'lockBehavior',
    'appendCommitMessageToRunName',
    'workspace',
  ],
};

/** Pipeline YAML → typed plan. Throws PipelineErrors listing every problem found. */
export function parsePipeline(text: string, file: string): PipelinePlan {
  const { plan, errors } = compilePipeline(text, file);
  if (errors.length > 0 || plan === undefined) throw new PipelineErrors(errors);
  return plan;
}

/** Every problem in a pipeline file, in reading order; empty when it is valid. Never throws. */
export function validatePipeline(text: string, file: string): PipelineError[] {
  return compilePipeline(text, file).errors;
}

function compilePipeline(text: string, file: string): { plan?: PipelinePlan; errors: PipelineError[] } {
  const issues = new Issues(file);
  const loaded = loadYaml(text, issues);
  const root = loaded && buildTree(loaded, issues);
  if (root === undefined) return { errors: issues.sorted() };
  if (root.kind !== 'map') {
    issues.add(
      FILE_START,
      `a pipeline must be a mapping (with 'jobs:' or 'steps:'), found ${describeNode(root)}`,
    );
    return { errors: issues.sorted() };
  }
  const plan = readPipeline(issues, root, file);
  return { plan, errors: issues.sorted() };
}

function readPipeline(issues: Issues, root: YMap, file: string): PipelinePlan {
  checkKeys(issues, root, TOP_LEVEL_KEYS);
  const poolEntry = entryOf(root, 'pool');
  const variablesEntry = entryOf(root, 'variables');
  const nameEntry = entryOf(root, 'name');
  const pool = poolEntry && readPool(issues, poolEntry);
  const variables = variablesEntry ? readVariables(issues, variablesEntry) : [];
  const defaults: JobDefaults = pool ? { pool, variables } : { variables };
  const drafts = readTopLevelJobs(issues, root, defaults);
  checkJobGraph(issues, drafts);
  const plan: PipelinePlan = { file, variables: variableRecord(variables), jobs: drafts.map((d) => d.plan) };
  const name = nameEntry && readString(issues, nameEntry);
  if (name !== undefined) plan.name = name;
  return plan;
}

function readTopLevelJobs(issues: Issues, root: YMap, defaults: JobDefaults): JobDraft[] {
  const jobs = entryOf(root, 'jobs');
  const steps = entryOf(root, 'steps');
  if (jobs && steps) {
    const { line, col } = jobs.keyPos;
    const later =
      line > steps.keyPos.line || (line === steps.keyPos.line && col > steps.keyPos.col) ? jobs : steps;
    issues.add(later.keyPos, "use either 'jobs' or 'steps' at the top level, not both");
  }
  if (steps && !jobs) return readShorthandJob(issues, root, steps, defaults);
  if (!jobs) {
    issues.add(root.pos, "a pipeline needs 'jobs' (or 'steps' for a single job)");
    return [];
  }
  for (const e of root.entries.filter((e) => SHORTHAND_JOB_KEYS.includes(e.key))) {
    issues.add(e.keyPos, `top-level '${e.key}' goes with top-level 'steps'; with 'jobs', set it on each job`);
  }
  return readJobs(issues, jobs, defaults);
}

function readShorthandJob(issues: Issues, root: YMap, steps: YEntry, defaults: JobDefaults): JobDraft[] {
  const entries = root.entries.filter((e) => e === steps || SHORTHAND_JOB_KEYS.includes(e.key));
  const job: YMap = { kind: 'map', entries, pos: steps.keyPos };
  return [readJobBody(issues, job, SHORTHAND_JOB_NAME, steps.keyPos, defaults)];
}
