import { z } from 'zod';
import { downloadInto, inputPath } from './artifact-paths.js';
import { choice, lines, text } from './inputs.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  source: choice(['current', 'specific'], 'current'),
  artifact: text(),
  patterns: lines('**'),
  path: text(),
  project: text(),
  pipeline: text(),
  runVersion: text(),
  runBranch: text(),
  runId: text(),
  tags: text(),
  allowPartiallySucceededBuilds: text(),
  allowFailedBuilds: text(),
  preferTriggeringPipeline: text(),
});

/** DownloadPipelineArtifact@2 for this run (the `download: current` step shares its code). */
export const downloadPipelineArtifact: TaskDefinition<typeof inputs> = {
  name: 'DownloadPipelineArtifact',
  version: 2,
  summary: "downloads this run's artifacts (the `download` step), patterns honoured",
  inputs,
  aliases: {
    buildType: 'source',
    artifactName: 'artifact',
    itemPattern: 'patterns',
    targetPath: 'path',
    downloadPath: 'path',
    definition: 'pipeline',
    buildVersionToDownload: 'runVersion',
    branchName: 'runBranch',
    pipelineId: 'runId',
    buildId: 'runId',
  },
  run(ctx, o) {
    if (o.source === 'specific')
      return Promise.resolve({
        result: 'failed',
        reason: "source 'specific' (another pipeline's run) is not supported by Slipway; only 'current'",
      });
    const target = o.path ? inputPath(ctx, o.path, ctx.workspaceDir) : ctx.workspaceDir;
    // As Azure: one named artifact goes straight into the path, all of them into a folder each.
    return downloadInto(ctx, o.artifact, target, () => o.patterns, false);
  },
};
