import { z } from 'zod';
import { inputPath, publishAs, stagingDir } from './artifact-paths.js';
import { choice, flag, text } from './inputs.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  PathtoPublish: text(),
  ArtifactName: text('drop'),
  publishLocation: choice(['Container', 'FilePath'], 'Container'),
  TargetPath: text(),
  Parallel: flag(false),
  ParallelCount: text(),
  FileCopyOptions: text(),
  StoreAsTar: flag(false),
});

/** PublishBuildArtifacts@1: a file or folder as this run's artifact, on the coordinator. */
export const publishBuildArtifacts: TaskDefinition<typeof inputs> = {
  name: 'PublishBuildArtifacts',
  version: 1,
  summary: "publishes a file or folder as one of the run's artifacts",
  inputs,
  run(ctx, o) {
    if (o.publishLocation === 'FilePath')
      return Promise.resolve({
        result: 'failed',
        reason: "publishLocation 'FilePath' (a file share) is not supported by Slipway; use 'Container'",
      });
    const path = o.PathtoPublish ? inputPath(ctx, o.PathtoPublish) : stagingDir(ctx);
    return publishAs(ctx, o.ArtifactName, path);
  },
};
