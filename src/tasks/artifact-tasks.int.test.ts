import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { runCli, serverWithAgent } from '../test-support/harness.js';

const server = serverWithAgent('artifacts-agent');

const PIPELINE = `
jobs:
- job: produce
  steps:
  - bash: |
      mkdir -p $(Build.ArtifactStagingDirectory)/skip out/sub
      echo one > $(Build.ArtifactStagingDirectory)/one.txt
      echo no > $(Build.ArtifactStagingDirectory)/skip/two.txt
      echo bin > $(Build.ArtifactStagingDirectory)/app.bin
      echo report > out/report.txt
      echo deep > out/sub/deep.txt
  - task: PublishBuildArtifacts@1
    inputs: { ArtifactName: drop }
  - task: PublishPipelineArtifact@1
    inputs: { targetPath: out, artifactName: reports }
  - publish: out/report.txt
    artifact: single
- job: consume
  dependsOn: produce
  steps:
  - task: DownloadPipelineArtifact@2
    inputs:
      artifact: drop
      patterns: |
        **/*.txt
        !skip/**
      path: $(Pipeline.Workspace)/picked
  - task: DownloadBuildArtifacts@0
    inputs: { downloadType: specific, itemPattern: 'reports/sub/**' }
  - task: DownloadBuildArtifacts@1
    inputs: { artifactName: single, downloadPath: $(Pipeline.Workspace)/build1 }
  - download: current
    artifact: drop
    patterns: '*.bin'
  - task: DownloadPipelineArtifact@2
    inputs: { artifact: missing }
    continueOnError: true
  - bash: |
      cd $(Pipeline.Workspace)
      find picked a build1 drop -type f | sort | sed 's/^/file: /'
`;

it('publishes and downloads artifacts with the tasks and the step shortcuts, patterns honoured', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'slipway-artifact-tasks-'));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'azure-pipelines.yml'), PIPELINE);
  const { code, output } = await runCli(server(), ['--dir', dir]);
  expect(output).toMatch(/Published artifact 'drop' \(\d+ bytes\) from \S+\/a\n/);
  expect(output).toContain("Published artifact 'reports'");
  expect(output).toContain("Published artifact 'single'");
  expect(output).toContain("artifact 'missing' has not been published in this run");
  const files = [...output.matchAll(/file: (\S+)/g)].map((m) => m[1]);
  expect(files).toEqual([
    // DownloadBuildArtifacts@0 into System.ArtifactsDirectory (a/), a folder per artifact.
    'a/reports/sub/deep.txt',
    'build1/single/report.txt',
    'drop/app.bin',
    'picked/one.txt',
  ]);
  expect(code).toBe(0);
});
