/**
 * The typed plan a pipeline file compiles to, as zod schemas: the one source of the plan's
 * types (`types.ts` derives them) and of the check the agent makes on the job it receives.
 * The server stores the plan with the run; the agent receives one job of it. Strings keep their
 * `$(macro)` references: macros are expanded by the agent, where the predefined variables
 * (Agent.Name, …) are known. Templates, parameters and `${{ }}` expressions are already
 * expanded: nothing in the plan refers to another file.
 *
 * Fields marked "optional" were added after the first release of the plan; each says what a
 * server or agent must do with it. An absent optional field always means the old behaviour.
 * Unknown fields are dropped when parsed, as an older agent would ignore them.
 */
import { z } from 'zod';

const strings = z.record(z.string(), z.string());

/** The result of a finished job or step, as in Azure Pipelines. */
export const taskResult = z.enum(['succeeded', 'succeededWithIssues', 'failed', 'canceled', 'skipped']);

/** Why a run was queued, as Azure's `Build.Reason` says it. */
export const buildReason = z.enum(['Manual', 'IndividualCI', 'BatchedCI', 'PullRequest', 'Schedule']);
export type BuildReason = z.infer<typeof buildReason>;

/** Where a value came from, for errors found after parsing. */
export const sourcePos = z.object({
  line: z.number(),
  col: z.number(),
  /** The template file the value was written in; absent when it is the pipeline file itself. */
  file: z.string().optional(),
});

/** `name` (the capability exists) or `name -equals value` (Azure Pipelines demand syntax). */
export const demand = z.discriminatedUnion('op', [
  z.object({ name: z.string(), op: z.literal('exists') }),
  z.object({ name: z.string(), op: z.literal('equals'), value: z.string() }),
]);

export const poolRef = z.object({
  name: z.string(),
  demands: z.array(demand),
  /**
   * Optional. `pool: { vmImage }` as written (macros expanded). The pipeline leaves `name` at
   * the default pool; the server maps the image to one of its pools (and maybe a job image)
   * when it queues the run, and records what it chose in `vmImageMapping`.
   */
  vmImage: z.string().optional(),
  /** Optional, with `vmImage`: the pool (and image, when the mapping names one) the server chose. */
  vmImageMapping: z.object({ pool: z.string(), image: z.string().optional() }).optional(),
});

/** none: no Docker in the job; dind: a per-job docker-in-docker sidecar; socket: the host's (pool must allow). */
/**
 * Docker inside a job: none; an engine of its own (`dind`); the host's socket (`socket`); or
 * `rootless`: no engine at all, a daemonless builder (buildah, podman) in the job's own container,
 * which the fleet starts with the few extra rights such a builder needs.
 */
export const dockerMode = z.enum(['none', 'dind', 'socket', 'rootless']);

/** The `options:` of a container or service that Slipway honours (`container-options.ts`). */
export const containerOptions = z.object({
  /** `--hostname`. */
  hostname: z.string().optional(),
  /** `--env`/`-e NAME=value`, after the container's `env:` (as `docker run` orders them). */
  env: strings.optional(),
  /** `--shm-size`: size of /dev/shm. */
  shmSizeBytes: z.number().int().positive().optional(),
  /** `--ulimit name=soft[:hard]` (-1: unlimited). */
  ulimits: z.array(z.object({ name: z.string(), soft: z.number().int(), hard: z.number().int() })).optional(),
  /** `--cpus`; never above the fleet's limit. */
  cpus: z.number().positive().optional(),
  /** `--memory`/`-m`; never above the fleet's limit. */
  memoryBytes: z.number().int().positive().optional(),
  /** `--user`/`-u`: `name|uid[:group|gid]`. */
  user: z.string().optional(),
});

export const containerRef = z.object({
  image: z.string(),
  env: strings,
  /** Container ports to publish, as written (`8080:80`, `80`). */
  ports: z.array(z.string()),
  /** What `options:` asked for; absent when none. */
  options: containerOptions.optional(),
});

/**
 * script/bash: run `script` with bash (sh when the image has no bash), as today.
 * pwsh: run `script` with PowerShell 7 (`pwsh -NoLogo -NoProfile -NonInteractive -File x.ps1`);
 *   `powershell:` steps compile to this kind too, as Azure does on Linux. When the image has no
 *   `pwsh`, the step fails with "this step needs pwsh, which image X does not have".
 *   Before the script the agent prepends `$ErrorActionPreference = '<errorActionPreference>'`
 *   and, unless `ignoreLASTEXITCODE`, appends
 *   `if ((Test-Path -LiteralPath variable:\LASTEXITCODE)) { exit $LASTEXITCODE }`.
 * checkout: `checkout` holds the options; `script` is ''. See JobPlan.checkout.
 * publish: upload the file or folder `publish.path` (relative to Build.SourcesDirectory unless
 *   absolute, macros expanded) as pipeline artifact `publish.artifact`, stored by the
 *   coordinator and scoped to the run; a second artifact with the same name fails the step.
 * download: fetch this run's pipeline artifacts (`download.artifact`, or all when absent)
 *   filtered by the glob `download.patterns`; see StepPlan.download for where they go.
 * cache: restore the cache entry `cache` names into `cache.path` where the step stands (the
 *   `cache:` step, and Azure's `Cache@2`, `CacheBeta@0` and `CacheBeta@1` tasks, compile to it).
 * cacheSave: the post-job step of the cache step at `cacheSave.restoreStep`: after the job
 *   succeeded, save `cache.path` under the key unless the restore hit it exactly.
 * task: run the Slipway task `task.name@task.version` with `task.inputs` (macros expanded by
 *   the agent); `script` is ''. One the agent does not have (or `task.unsupported`) fails.
 * A plan naming another kind is refused when the agent parses it: it never runs `script`.
 */
export const stepKind = z.enum([
  'script',
  'bash',
  'pwsh',
  'checkout',
  'publish',
  'download',
  'cache',
  'cacheSave',
  'task',
]);

/** `task: Name@major` with its `inputs:` as written (values as text, macros not yet expanded). */
export const taskCall = z.object({
  name: z.string(),
  version: z.number(),
  inputs: strings,
  /** Where `task:` is written, for the errors found when the task's inputs are checked. */
  pos: sourcePos,
  /** Set when Slipway has no such task and the run allowed it: the step fails with this reason. */
  unsupported: z.string().optional(),
});

/** A checkout option: the value as written, or a `$(macro)` resolved (and only logged) by the agent. */
const flag = z.union([z.boolean(), z.string()]).optional();

/** `checkout: self` options. Slipway's "self" is the run's workspace (uploaded by the CLI). */
export const checkoutOptions = z.object({
  /** Azure cleans `s` first; a Slipway workspace is fresh, so the agent only logs it. */
  clean: flag,
  /** Azure's shallow-fetch depth; the workspace is a snapshot, so the agent only logs it. */
  fetchDepth: z.union([z.number(), z.string()]).optional(),
  fetchTags: flag,
  /** `true` or `'recursive'`: submodules are part of the uploaded workspace when present. */
  submodules: flag,
  /** Leave the git credentials in the checkout; there are none in a Slipway workspace. */
  persistCredentials: flag,
  lfs: flag,
  /** Where to put the sources, relative to Agent.BuildDirectory (Azure's default is `s`). */
  path: z.string().optional(),
});

export const publishOptions = z.object({
  /** File or folder to publish, macros not yet expanded. */
  path: z.string(),
  /** Artifact name; defaults to the job's `name` (unique in the run). */
  artifact: z.string(),
});

export const downloadOptions = z.object({
  /** The artifact to fetch; absent: every artifact of the run published so far. */
  artifact: z.string().optional(),
  /** Glob of files to fetch inside the artifact(s); default `**`. */
  patterns: z.string(),
  /**
   * Destination, macros not yet expanded. Absent: `$(Pipeline.Workspace)/<artifact>` for each
   * artifact, as Azure does. Given: one artifact goes straight into `path`, several go into
   * `path/<artifact>`.
   */
  path: z.string().optional(),
});

/** A cache step's inputs as written; macros and file segments are resolved by the agent. */
export const cacheOptions = z.object({
  /** Segments split on `|`: strings (`"quoted"` ones always), file paths and globs (hashed). */
  key: z.string(),
  /** Keys tried as prefixes, in order, when `key` does not hit exactly. */
  restoreKeys: z.array(z.string()),
  /** The folder restored and saved, relative to Build.SourcesDirectory unless absolute. */
  path: z.string(),
  /** Variable set to `true` (exact hit), `inexact` (a restore key hit) or `false`. */
  cacheHitVar: z.string().optional(),
});

/** The post-job half of a cache step. */
export const cacheSaveOptions = cacheOptions.extend({
  /** Index in the job's steps of the cache step this one saves for. */
  restoreStep: z.number().int().min(0),
});

export const stepPlan = z.object({
  kind: stepKind,
  /** The script text, macros not yet expanded; '' for checkout, publish and download. */
  script: z.string(),
  /** What the UI and CLI show; defaults to the first line of the script. */
  displayName: z.string(),
  /** The step's reference name (`name:`), when given. */
  name: z.string().optional(),
  env: strings,
  workingDirectory: z.string().optional(),
  continueOnError: z.boolean(),
  /** 0 means no step-level limit (the job's still applies). */
  timeoutInMinutes: z.number(),
  /** Expression source; `succeeded()` when not given. */
  condition: z.string(),
  pos: sourcePos,
  /** Optional. true: a line on stderr fails the step (after it ends), as Azure's failOnStderr. */
  failOnStderr: z.boolean().optional(),
  /**
   * Optional. When the step fails, run it again up to this many times (Azure caps it at 10),
   * waiting 1 s, 4 s, 9 s, … between attempts; each attempt's log is kept.
   */
  retryCountOnTaskFailure: z.number().optional(),
  /** Optional, pwsh only: `stop` (Azure's default), `continue` or `silentlyContinue`. */
  errorActionPreference: z.enum(['stop', 'continue', 'silentlyContinue']).optional(),
  /** Optional, pwsh only: do not fail the step on the script's last exit code. */
  ignoreLASTEXITCODE: z.boolean().optional(),
  /** Present exactly when kind is checkout. */
  checkout: checkoutOptions.optional(),
  /** Present exactly when kind is publish. */
  publish: publishOptions.optional(),
  /** Present exactly when kind is download. */
  download: downloadOptions.optional(),
  /** Present exactly when kind is cache. */
  cache: cacheOptions.optional(),
  /** Present exactly when kind is cacheSave. */
  cacheSave: cacheSaveOptions.optional(),
  /** Present exactly when kind is task. */
  task: taskCall.optional(),
});

export const jobPlan = z.object({
  /**
   * The job's identifier, unique in the plan (case-insensitively): the `job:` (or `deployment:`)
   * name; `<stage>.<job>` when the pipeline has stages; `<job>_<leg>` (leg made identifier-safe,
   * `_2`, `_3`, … appended on a clash) for each leg of a matrix or parallel strategy.
   */
  name: z.string(),
  displayName: z.string(),
  /**
   * Names (as `name`) of every job that must finish before this one starts: its own
   * dependencies in its stage (every leg of a strategy job), plus every job of every stage its
   * stage depends on.
   */
  dependsOn: z.array(z.string()),
  /** Expression source; `succeeded()` when not given. See `prepareJobStart` for its status. */
  condition: z.string(),
  pool: poolRef,
  /** The pipeline's variables overlaid with the stage's, the job's and the matrix leg's. */
  variables: strings,
  /** Variables declared `readonly: true`: steps may not overwrite them (absent when none are). */
  readonlyVariables: z.array(z.string()).optional(),
  /** Default 60, as in Azure Pipelines; 0 means the server maximum. */
  timeoutInMinutes: z.number(),
  /** Time the job's steps get to stop after a cancel before they are killed. Default 1. */
  cancelTimeoutInMinutes: z.number(),
  continueOnError: z.boolean(),
  /** New attempts after the agent is lost mid-job (killed, OOM, cut off); default: the pool's. */
  retryCountOnAgentLoss: z.number().optional(),
  container: containerRef.optional(),
  /** Service containers by the hostname the job reaches them at. */
  services: z.record(z.string(), containerRef),
  docker: dockerMode,
  steps: z.array(stepPlan),
  pos: sourcePos,

  /** Optional. The `job:`/`deployment:` name as written, when `name` differs from it. */
  shortName: z.string().optional(),
  /** Optional. The stage the job belongs to (its `stage:` name); absent without stages. */
  stage: z.string().optional(),
  /** Optional. The stage's displayName (its name when not given). */
  stageDisplayName: z.string().optional(),
  /** Optional, with `stage`. The stages this job's stage depends on, by name. */
  stageDependsOn: z.array(z.string()).optional(),
  /**
   * Optional, with `stage`. The stage's condition source (`succeeded()` when not given). It is
   * evaluated, before the job's own condition, once the jobs of `stageDependsOn` have finished,
   * with the status of those stages; when false, the job is skipped (so the whole stage is).
   * `prepareJobStart` does both evaluations.
   */
  stageCondition: z.string().optional(),
  /** Optional. The matrix leg name, or the position (`1`…`N`) for `strategy: parallel`. */
  leg: z.string().optional(),
  /**
   * Optional. Legs of one matrix or parallel job share this group (their job's `<stage>.<job>`
   * name); at most `maxParallel` jobs of one group may run at once.
   */
  parallelGroup: z.string().optional(),
  /** Optional, with `parallelGroup`. Absent or 0: no limit. */
  maxParallel: z.number().optional(),
  /** Optional. true for a `deployment:` job. */
  deployment: z.literal(true).optional(),
  /** Optional. The deployment job's `environment` name; recorded, not enforced. */
  environment: z.string().optional(),
  /**
   * Optional. Variables defined by a runtime expression (`$[ … ]`), name → expression source,
   * in definition order. They are not in `variables`; `prepareJobStart` evaluates them when the
   * job starts, and their values overlay `variables`.
   */
  runtimeVariables: strings.optional(),
  /**
   * `- group: NAME` references in the job's variables (pipeline, stage and job levels), in
   * order. The coordinator puts each group's values beneath the job's own variables (a value
   * the pipeline defines wins) and its secrets into the job's secrets, at queue time.
   */
  variableGroups: z.array(z.string()).optional(),
  /** Optional. `workspace: { clean }`. Slipway workspaces are fresh, so the agent only logs it. */
  workspace: z.object({ clean: z.enum(['outputs', 'resources', 'all']) }).optional(),
  /**
   * Optional. 'none' when the job checks nothing out (`checkout: none`, or a deployment job
   * without `checkout: self`): the agent leaves Build.SourcesDirectory empty instead of
   * unpacking the run's workspace into it.
   */
  checkout: z.literal('none').optional(),
});

/** A stage as the UI shows it; its jobs carry the fields the scheduler needs. */
export const stagePlan = z.object({
  name: z.string(),
  displayName: z.string(),
  dependsOn: z.array(z.string()),
  condition: z.string(),
  /** Plan names of the stage's jobs, in order. */
  jobs: z.array(z.string()),
  pos: sourcePos,
});

/** YAML as plain JSON: scalars stay the strings they were written as. */
export const jsonValue = z.json();

/** `resources.repositories` item, as written. Only `self` can be checked out or used for templates. */
export const repositoryResource = z.object({
  repository: z.string(),
  type: z.string(),
  /** The repository's name at its forge; optional (`self` has none). */
  name: z.string().optional(),
  ref: z.string().optional(),
  endpoint: z.string().optional(),
});

export const pipelinePlan = z.object({
  /** The file name as the user gave it, used in every error message. */
  file: z.string(),
  /** `name:` (build number format, see `formatBuildNumber`), when given. */
  name: z.string().optional(),
  variables: strings,
  jobs: z.array(jobPlan),
  /** Optional. The stages, in order, when the pipeline has `stages:`. */
  stages: z.array(stagePlan).optional(),
  /**
   * Optional. `trigger`, `pr` and `schedules` as written (JSON). Slipway runs are started by
   * `slipway run`, so they are only shown ("not applicable to a local run").
   */
  triggers: z
    .object({ trigger: jsonValue.optional(), pr: jsonValue.optional(), schedules: jsonValue.optional() })
    .optional(),
  /** Optional. `resources.repositories` (recorded) and `resources.containers` (by alias). */
  resources: z
    .object({ repositories: z.array(repositoryResource), containers: z.record(z.string(), containerRef) })
    .optional(),
  /** Optional. The pipeline's parameters as the run used them (defaults or given values). */
  parameters: z.record(z.string(), jsonValue).optional(),
  /** Optional. `lockBehavior`; recorded (Slipway has no exclusive-lock checks yet). */
  lockBehavior: z.enum(['sequential', 'runLatest']).optional(),
  /** Optional. `appendCommitMessageToRunName`; recorded (local runs have no commit message). */
  appendCommitMessageToRunName: z.boolean().optional(),
});
