/**
 * The typed plan a pipeline file compiles to. The server stores it with the run; the agent
 * receives one job of it. Strings keep their `$(macro)` references: macros are expanded by the
 * agent, where the predefined variables (Agent.Name, …) are known.
 */

/** Where a value came from in the pipeline file, for errors found after parsing. */
export interface SourcePos {
  line: number;
  col: number;
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

export type StepKind = 'script' | 'bash';

export interface StepPlan {
  kind: StepKind;
  /** The script text, macros not yet expanded. */
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
}

export interface JobPlan {
  /** The job's identifier (`job:`), unique in the pipeline (case-insensitively). */
  name: string;
  displayName: string;
  dependsOn: string[];
  /** Expression source; `succeeded()` when not given. */
  condition: string;
  pool: PoolRef;
  /** The pipeline's variables overlaid with the job's own (job wins). */
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
}

export interface PipelinePlan {
  /** The file name as the user gave it, used in every error message. */
  file: string;
  /** `name:` (build number format), when given. */
  name?: string;
  variables: Record<string, string>;
  jobs: JobPlan[];
}

/** The result of a finished job or step, as in Azure Pipelines. */
export type TaskResult = 'succeeded' | 'succeededWithIssues' | 'failed' | 'canceled' | 'skipped';
