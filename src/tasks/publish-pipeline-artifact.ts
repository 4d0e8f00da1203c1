import { z } from 'zod';
import { inputPath, publishAs } from './artifact-paths.js';
import { choice, text } from './inputs.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  targetPath: text(),
  artifact: text(),
  publishLocation: choice(['pipeline', 'filepath'], 'pipeline'),
  fileSharePath: text(),
  parallel: text(),
  parallelCount: text(),
  properties: text(),
});

/** PublishPipelineArtifact@1 (the `publish` step is its shortcut and shares its code). */
export const publishPipelineArtifact: TaskDefinition<typeof inputs> = {
  name: 'PublishPipelineArtifact',
  version: 1,
  summary: "publishes a file or folder as one of the run's artifacts (the `publish` step)",
  inputs,
  aliases: { path: 'targetPath', artifactName: 'artifact', artifactType: 'publishLocation' },
  async run(ctx, o) {
    if (o.publishLocation === 'filepath')
      return {
        result: 'failed',
        reason: "publishLocation 'filepath' (a file share) is not supported by Slipway",
      };
    // Azure names an unnamed artifact after the job's attempt; Slipway after the job.
    const name = o.artifact || ctx.variable('System.JobName') || 'drop';
    const path = o.targetPath ? inputPath(ctx, o.targetPath) : ctx.workspaceDir;
    return publishAs(ctx, name, path);
  },
};
