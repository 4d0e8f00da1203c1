/**
 * The typed plan a pipeline file compiles to. The server stores it with the run; the agent
 * receives one job of it. Strings keep their `$(macro)` references: macros are expanded by the
 * agent, where the predefined variables (Agent.Name, …) are known. Templates, parameters and
 * `${{ }}` expressions are already expanded: nothing in the plan refers to another file.
 *
 * Fields marked "optional" were added after the first release of the plan; each says what a
 * server or agent must do with it. An absent optional field always means the old behaviour.
 */

/** Where a value came from, for errors found after parsing. */
export interface SourcePos {
  line: number;
  col: number;
  /** The template file the value was written in; absent when it is the pipeline file itself. */
  file?: string;
}

/** `name` (the capability exists) or `name -equals value` (Azure Pipelines demand syntax). */
export type Demand = { name: string; op: 'exists' } | { name: string; op: 'equals'; value: string };

export interface PoolRef {
  name: string;
  demands: Demand[];
}

/** none: no Docker in the job; dind: a per-job docker-in-docker sidecar; socket: the host's (pool must allow). */
export type DockerMode = 'none' | 'dind' | 'socket';

export interface ContainerRef {
  image: string;
  env: Record<string, string>;
  /** Container ports to publish, as written (`8080:80`, `80`). */
  ports: string[];
}

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
 * Agents that do not know a kind must fail the step naming it, never run `script`.
 */
export type StepKind = 'script' | 'bash' | 'pwsh' | 'checkout' | 'publish' | 'download';

/** `checkout: self` options. Slipway's "self" is the run's workspace (uploaded by the CLI). */
/** Checkout options; each may also be a `$(macro)` as written, resolved (and only logged) by the agent. */
export interface CheckoutOptions {
  /** Azure cleans `s` first; a Slipway workspace is fresh, so the agent only logs it. */
  clean?: boolean | string;
  /** Azure's shallow-fetch depth; the workspace is a snapshot, so the agent only logs it. */
  fetchDepth?: number | string;
  fetchTags?: boolean | string;
  /** `true` or `'recursive'`: submodules are part of the uploaded workspace when present. */
  submodules?: boolean | string;
  /** Leave the git credentials in the checkout; there are none in a Slipway workspace. */
  persistCredentials?: boolean | string;
  lfs?: boolean | string;
  /** Where to put the sources, relative to Agent.BuildDirectory (Azure's default is `s`). */
  path?: string;
}

export interface PublishOptions {
  /** File or folder to publish, macros not yet expanded. */
  path: string;
  /** Artifact name; defaults to the job's `name` (unique in the run). */
  artifact: string;
}

export interface DownloadOptions {
  /** The artifact to fetch; absent: every artifact of the run published so far. */
  artifact?: string;
  /** Glob of files to fetch inside the artifact(s); default `**`. */
  patterns: string;
  /**
   * Destination, macros not yet expanded. Absent: `$(Pipeline.Workspace)/<artifact>` for each
   * artifact, as Azure does. Given: one artifact goes straight into `path`, several go into
   * `path/<artifact>`.
   */
  path?: string;
}

export interface StepPlan {
  kind: StepKind;
  /** The script text, macros not yet expanded; '' for checkout, publish and download. */
  script: string;
  /** What the UI and CLI show; defaults to the first line of the script. */
  displayName: string;
  /** The step's reference name (`name:`), when given. */
  name?: string;
  env: Record<string, string>;
  workingDirectory?: string;
  continueOnError: boolean;
  /** 0 means no step-level limit (the job's still applies). */
  timeoutInMinutes: number;
  /** Expression source; `succeeded()` when not given. */
  condition: string;
  pos: SourcePos;
  /** Optional. true: a line on stderr fails the step (after it ends), as Azure's failOnStderr. */
  failOnStderr?: boolean;
  /**
   * Optional. When the step fails, run it again up to this many times (Azure caps it at 10),
   * waiting 1 s, 4 s, 9 s, … between attempts; each attempt's log is kept.
   */
  retryCountOnTaskFailure?: number;
  /** Optional, pwsh only: `stop` (Azure's default), `continue` or `silentlyContinue`. */
  errorActionPreference?: 'stop' | 'continue' | 'silentlyContinue';
  /** Optional, pwsh only: do not fail the step on the script's last exit code. */
  ignoreLASTEXITCODE?: boolean;
  /** Present exactly when kind is checkout. */
  checkout?: CheckoutOptions;
  /** Present exactly when kind is publish. */
  publish?: PublishOptions;
  /** Present exactly when kind is download. */
  download?: DownloadOptions;
}

export interface JobPlan {
  /**
   * The job's identifier, unique in the plan (case-insensitively): the `job:` (or `deployment:`)
   * name; `<stage>.<job>` when the pipeline has stages; `<job>_<leg>` (leg made identifier-safe,
   * `_2`, `_3`, … appended on a clash) for each leg of a matrix or parallel strategy.
   */
  name: string;
  displayName: string;
  /**
   * Names (as `name`) of every job that must finish before this one starts: its own
   * dependencies in its stage (every leg of a strategy job), plus every job of every stage its
   * stage depends on.
   */
  dependsOn: string[];
  /** Expression source; `succeeded()` when not given. See `prepareJobStart` for its status. */
  condition: string;
  pool: PoolRef;
  /** The pipeline's variables overlaid with the stage's, the job's and the matrix leg's. */
  variables: Record<string, string>;
  /** Variables declared `readonly: true`: steps may not overwrite them (absent when none are). */
  readonlyVariables?: string[];
  /** Default 60, as in Azure Pipelines; 0 means the server maximum. */
  timeoutInMinutes: number;
  /** Time the job's steps get to stop after a cancel before they are killed. Default 1. */
  cancelTimeoutInMinutes: number;
  continueOnError: boolean;
  /** New attempts after the agent is lost mid-job (killed, OOM, cut off); default: the pool's. */
  retryCountOnAgentLoss?: number;
  container?: ContainerRef;
  /** Service containers by the hostname the job reaches them at. */
  services: Record<string, ContainerRef>;
  docker: DockerMode;
  steps: StepPlan[];
  pos: SourcePos;

  /** Optional. The `job:`/`deployment:` name as written, when `name` differs from it. */
  shortName?: string;
  /** Optional. The stage the job belongs to (its `stage:` name); absent without stages. */
  stage?: string;
  /** Optional. The stage's displayName (its name when not given). */
  stageDisplayName?: string;
  /** Optional, with `stage`. The stages this job's stage depends on, by name. */
  stageDependsOn?: string[];
  /**
   * Optional, with `stage`. The stage's condition source (`succeeded()` when not given). It is
   * evaluated, before the job's own condition, once the jobs of `stageDependsOn` have finished,
   * with the status of those stages; when false, the job is skipped (so the whole stage is).
   * `prepareJobStart` does both evaluations.
   */
  stageCondition?: string;
  /** Optional. The matrix leg name, or the position (`1`…`N`) for `strategy: parallel`. */
  leg?: string;
  /**
   * Optional. Legs of one matrix or parallel job share this group (their job's `<stage>.<job>`
   * name); at most `maxParallel` jobs of one group may run at once.
   */
  parallelGroup?: string;
  /** Optional, with `parallelGroup`. Absent or 0: no limit. */
  maxParallel?: number;
  /** Optional. true for a `deployment:` job. */
  deployment?: true;
  /** Optional. The deployment job's `environment` name; recorded, not enforced. */
  environment?: string;
  /**
   * Optional. Variables defined by a runtime expression (`$[ … ]`), name → expression source,
   * in definition order. They are not in `variables`; `prepareJobStart` evaluates them when the
   * job starts, and their values overlay `variables`.
   */
  runtimeVariables?: Record<string, string>;
  /** Optional. `workspace: { clean }`. Slipway workspaces are fresh, so the agent only logs it. */
  workspace?: { clean: 'outputs' | 'resources' | 'all' };
  /**
   * Optional. 'none' when the job checks nothing out (`checkout: none`, or a deployment job
   * without `checkout: self`): the agent leaves Build.SourcesDirectory empty instead of
   * unpacking the run's workspace into it.
   */
  checkout?: 'none';
}

/** A stage as the UI shows it; its jobs carry the fields the scheduler needs. */
export interface StagePlan {
  name: string;
  displayName: string;
  dependsOn: string[];
  condition: string;
  /** Plan names of the stage's jobs, in order. */
  jobs: string[];
  pos: SourcePos;
}

/** YAML as plain JSON: scalars stay the strings they were written as. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** `resources.repositories` item, as written. Only `self` can be checked out or used for templates. */
export interface RepositoryResource {
  repository: string;
  type: string;
  /** The repository's name at its forge; optional (`self` has none). */
  name?: string;
  ref?: string;
  endpoint?: string;
}

export interface PipelinePlan {
  /** The file name as the user gave it, used in every error message. */
  file: string;
  /** `name:` (build number format, see `formatBuildNumber`), when given. */
  name?: string;
  variables: Record<string, string>;
  jobs: JobPlan[];
  /** Optional. The stages, in order, when the pipeline has `stages:`. */
  stages?: StagePlan[];
  /**
   * Optional. `trigger`, `pr` and `schedules` as written (JSON). Slipway runs are started by
   * `slipway run`, so they are only shown ("not applicable to a local run").
   */
  triggers?: { trigger?: JsonValue; pr?: JsonValue; schedules?: JsonValue };
  /** Optional. `resources.repositories` (recorded) and `resources.containers` (by alias). */
  resources?: { repositories: RepositoryResource[]; containers: Record<string, ContainerRef> };
  /** Optional. The pipeline's parameters as the run used them (defaults or given values). */
  parameters?: Record<string, JsonValue>;
  /** Optional. `lockBehavior`; recorded (Slipway has no exclusive-lock checks yet). */
  lockBehavior?: 'sequential' | 'runLatest';
  /** Optional. `appendCommitMessageToRunName`; recorded (local runs have no commit message). */
  appendCommitMessageToRunName?: boolean;
}

/** The result of a finished job or step, as in Azure Pipelines. */
export type TaskResult = 'succeeded' | 'succeededWithIssues' | 'failed' | 'canceled' | 'skipped';
