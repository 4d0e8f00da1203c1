import { join } from 'node:path';
import { z } from 'zod';
import { downloadInto, inputPath } from './artifact-paths.js';
import { choice, flag, lines, text } from './inputs.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  buildType: choice(['current', 'specific'], 'current'),
  downloadType: choice(['single', 'specific'], 'single'),
  artifactName: text(),
  itemPattern: lines('**'),
  downloadPath: text(),
  cleanDestinationFolder: flag(false),
  parallelizationLimit: text(),
  checkDownloadedFiles: flag(false),
  retryDownloadCount: text(),
  extractTars: flag(false),
  project: text(),
  pipeline: text(),
  buildVersionToDownload: text(),
  branchName: text(),
  buildId: text(),
  tags: text(),
  allowPartiallySucceededBuilds: flag(false),
});

/**
 * DownloadBuildArtifacts@0/@1 for this run: each artifact into `<downloadPath>/<name>`, its
 * `itemPattern` written from the artifact's name (`drop/**`) or from inside it (`**`).
 */
function downloadBuildArtifacts(version: number): TaskDefinition<typeof inputs> {
  return {
    name: 'DownloadBuildArtifacts',
    version,
    summary: "downloads this run's artifacts into a folder each",
    inputs,
    aliases: { definition: 'pipeline', specificBuildWithTriggering: 'allowPartiallySucceededBuilds' },
    run(ctx, o) {
      if (o.buildType === 'specific')
        return Promise.resolve({
          result: 'failed',
          reason: "buildType 'specific' (another pipeline's run) is not supported by Slipway; only 'current'",
        });
      if (o.downloadType === 'single' && !o.artifactName)
        return Promise.resolve({ result: 'failed', reason: "downloadType 'single' needs artifactName" });
      const base =
        ctx.variable('System.ArtifactsDirectory') ??
        ctx.variable('Build.ArtifactStagingDirectory') ??
        join(ctx.workspaceDir, 'a');
      const target = o.downloadPath ? inputPath(ctx, o.downloadPath, ctx.workspaceDir) : base;
      const name = o.downloadType === 'single' ? o.artifactName : '';
      const within = (artifact: string) =>
        o.itemPattern.map((p) => {
          const negated = p.startsWith('!');
          const body = negated ? p.slice(1) : p;
          const inside = body.startsWith(`${artifact}/`) ? body.slice(artifact.length + 1) : body;
          return negated ? `!${inside}` : inside;
        });
      return downloadInto(ctx, name, target, within, true);
    },
  };
}

export const downloadBuildArtifacts0 = downloadBuildArtifacts(0);
export const downloadBuildArtifacts1 = downloadBuildArtifacts(1);
