import { describe, expect, it } from 'vitest';
import { toEnvName } from './macros.js';
import {
  type PredefinedVariablesInput,
  predefinedVariables,
  sourceVariables,
} from './predefined-variables.js';

const input: PredefinedVariablesInput = {
  agentName: 'default-1',
  agentId: 7,
  arch: 'x64',
  workFolder: '/work',
  tempDirectory: '/work/_temp',
  sourcesDirectory: '/work/1/s',
  buildId: 12,
  buildNumber: '20240101.1',
  runId: 'run_12',
  jobId: 'job_34',
  jobName: 'build',
  jobDisplayName: 'Build it',
  attempt: 2,
  pipelineFile: 'ci/azure-pipelines.yml',
  poolName: 'default',
};

describe('predefinedVariables', () => {
  it('defines the names scripts rely on', () => {
    expect(predefinedVariables(input)).toEqual({
      'Agent.Name': 'default-1',
      'Agent.Id': '7',
      'Agent.OS': 'Linux',
      'Agent.OSArchitecture': 'X64',
      'Agent.WorkFolder': '/work',
      'Agent.TempDirectory': '/work/_temp',
      'Agent.BuildDirectory': '/work/1',
      'Agent.JobName': 'Build it',
      'Agent.JobStatus': 'Succeeded',
      'Build.BuildId': '12',
      'Build.BuildNumber': '20240101.1',
      'Build.SourcesDirectory': '/work/1/s',
      'Build.Repository.LocalPath': '/work/1/s',
      'Build.ArtifactStagingDirectory': '/work/1/a',
      'Build.StagingDirectory': '/work/1/a',
      'Build.BinariesDirectory': '/work/1/b',
      'Build.DefinitionName': 'azure-pipelines',
      'System.JobId': 'job_34',
      'System.JobName': 'build',
      'System.JobDisplayName': 'Build it',
      'System.JobAttempt': '2',
      'System.DefaultWorkingDirectory': '/work/1/s',
      'System.StageName': '__default',
      'System.StageDisplayName': '__default',
      'System.TeamProject': 'slipway',
      'Pipeline.Workspace': '/work/1',
      'Slipway.RunId': 'run_12',
      'Slipway.PoolName': 'default',
      'Slipway.PipelineFile': 'ci/azure-pipelines.yml',
      TF_BUILD: 'True',
      CI: 'true',
    });
  });

  it('maps architectures to Azure spelling and honours explicit directories and names', () => {
    const vars = predefinedVariables({
      ...input,
      arch: 'arm64',
      buildDirectory: '/b',
      pipelineName: 'CI',
      agentOs: 'Darwin',
      stageName: 'Build',
    });
    expect(vars).toMatchObject({
      'Agent.OSArchitecture': 'ARM64',
      'Agent.OS': 'Darwin',
      'Agent.BuildDirectory': '/b',
      'Build.ArtifactStagingDirectory': '/b/a',
      'Build.DefinitionName': 'CI',
      'System.StageName': 'Build',
      'System.StageDisplayName': 'Build',
    });
    expect(predefinedVariables({ ...input, arch: 'riscv64' })['Agent.OSArchitecture']).toBe('RISCV64');
  });

  it('gives the environment names Azure agents export', () => {
    const env = Object.keys(predefinedVariables(input)).map(toEnvName);
    expect(env).toEqual(
      expect.arrayContaining(['AGENT_WORKFOLDER', 'BUILD_SOURCESDIRECTORY', 'SYSTEM_JOBID', 'TF_BUILD']),
    );
  });
});

describe('sourceVariables', () => {
  it('names the branch, its last segment, the commit and the repository of a run queued by hand', () => {
    expect(
      sourceVariables({ branch: 'refs/heads/feature/login', commit: 'a'.repeat(40), repository: 'shop' }),
    ).toEqual({
      'Build.Reason': 'Manual',
      'Build.SourceBranch': 'refs/heads/feature/login',
      'Build.SourceBranchName': 'login',
      'Build.SourceVersion': 'a'.repeat(40),
      'Build.Repository.Name': 'shop',
    });
    expect(sourceVariables()).toEqual({ 'Build.Reason': 'Manual' });
  });
});
