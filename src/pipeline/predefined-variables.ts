import { posix } from 'node:path';
import type { BuildReason } from './plan-schema.js';

export interface PredefinedVariablesInput {
  agentName: string;
  agentId: string | number;
  /** Azure's `Agent.OS` spelling; Slipway agents run Linux images. Default `Linux`. */
  agentOs?: 'Linux' | 'Darwin' | 'Windows_NT';
  /** Node's `process.arch` (`x64`, `arm64`, …), turned into Azure's `X64`, `ARM64`. */
  arch: string;
  workFolder: string;
  tempDirectory: string;
  sourcesDirectory: string;
  /** Where this run's folders live; default: the parent of `sourcesDirectory` (Azure's `<work>/<n>`). */
  buildDirectory?: string;
  buildId: string | number;
  buildNumber: string;
  runId: string | number;
  jobId: string;
  /** The job's identifier (`job:`). */
  jobName: string;
  jobDisplayName: string;
  attempt: number;
  /** The pipeline file as the user gave it. */
  pipelineFile: string;
  /** `Build.DefinitionName`; default: the pipeline file's name without its extension. */
  pipelineName?: string;
  poolName: string;
  /** The job's stage (`JobPlan.stage`); Azure's `__default` without stages. */
  stageName?: string;
  /** `JobPlan.stageDisplayName`; default the stage name. */
  stageDisplayName?: string;
}

const ARCHITECTURES: Record<string, string> = { x64: 'X64', arm64: 'ARM64', arm: 'ARM', ia32: 'X86' };

/**
 * The variables Azure Pipelines defines for every job, under the names scripts rely on, plus
 * a few `Slipway.*` ones for what Azure has no name for. `Agent.JobStatus` starts as
 * `Succeeded`; the agent updates it as steps finish. `TF_BUILD` and `CI` are what scripts test
 * to know they run in CI; they pass through `toEnvName` unchanged.
 */
export function predefinedVariables(input: PredefinedVariablesInput): Record<string, string> {
  const buildDirectory = input.buildDirectory ?? posix.dirname(input.sourcesDirectory);
  const artifactStaging = posix.join(buildDirectory, 'a');
  return {
    'Agent.Name': input.agentName,
    'Agent.Id': String(input.agentId),
    'Agent.OS': input.agentOs ?? 'Linux',
    'Agent.OSArchitecture': ARCHITECTURES[input.arch] ?? input.arch.toUpperCase(),
    'Agent.WorkFolder': input.workFolder,
    'Agent.TempDirectory': input.tempDirectory,
    'Agent.BuildDirectory': buildDirectory,
    'Agent.JobName': input.jobDisplayName,
    'Agent.JobStatus': 'Succeeded',
    'Build.BuildId': String(input.buildId),
    'Build.BuildNumber': input.buildNumber,
    'Build.SourcesDirectory': input.sourcesDirectory,
    'Build.Repository.LocalPath': input.sourcesDirectory,
    'Build.ArtifactStagingDirectory': artifactStaging,
    'Build.StagingDirectory': artifactStaging,
    'Build.BinariesDirectory': posix.join(buildDirectory, 'b'),
    'Build.DefinitionName': input.pipelineName ?? definitionName(input.pipelineFile),
    'System.JobId': input.jobId,
    'System.JobName': input.jobName,
    'System.JobDisplayName': input.jobDisplayName,
    'System.JobAttempt': String(input.attempt),
    'System.DefaultWorkingDirectory': input.sourcesDirectory,
    'System.StageName': input.stageName ?? '__default',
    'System.StageDisplayName': input.stageDisplayName ?? input.stageName ?? '__default',
    'System.TeamProject': 'slipway',
    'Pipeline.Workspace': buildDirectory,
    'Slipway.RunId': String(input.runId),
    'Slipway.PoolName': input.poolName,
    'Slipway.PipelineFile': input.pipelineFile,
    TF_BUILD: 'True',
    CI: 'true',
  };
}

function definitionName(pipelineFile: string): string {
  const base = posix.basename(pipelineFile.replace(/\\/g, '/'));
  return base.replace(/\.ya?ml$/i, '') || base;
}

/** Where a run's workspace came from, as far as the client knows (a git work tree, or a folder). */
export interface RunSource {
  /** The checked-out ref, `refs/heads/main`; none when HEAD is detached or outside git. */
  branch?: string;
  /** The commit HEAD is at. */
  commit?: string;
  /** The repository's (or folder's) name. */
  repository?: string;
  /** The repository's default branch (`refs/heads/main`): caches of it are readable by every branch. */
  defaultBranch?: string;
}

/**
 * The `Build.*` variables a run has from its source, which conditions often test
 * (`eq(variables['Build.SourceBranch'], 'refs/heads/main')`). A run queued by hand is `Manual`.
 * Known at compile time too, as in Azure, so `${{ if }}` may use them.
 */
export function sourceVariables(
  source: RunSource = {},
  reason: BuildReason = 'Manual',
): Record<string, string> {
  const variables: Record<string, string> = { 'Build.Reason': reason };
  if (source.repository) variables['Build.Repository.Name'] = source.repository;
  if (source.branch) {
    variables['Build.SourceBranch'] = source.branch;
    // Azure: the last path segment of the ref (`refs/heads/feature/x` → `x`).
    variables['Build.SourceBranchName'] = source.branch.split('/').pop() ?? source.branch;
  }
  if (source.commit) variables['Build.SourceVersion'] = source.commit;
  return variables;
}
