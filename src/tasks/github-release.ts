import { z } from 'zod';
import { choice, flag, required, text } from './inputs.js';
import { serviceConnection } from './service-connection.js';
import type { TaskDefinition } from './types.js';

const inputs = z.object({
  gitHubConnection: required(),
  /** Default: $(Build.Repository.Name). */
  repositoryName: text().refine((v) => v === '' || /^[\w.-]+\/[\w.-]+$/.test(v.trim()), {
    message: 'must be owner/name',
  }),
  action: choice(['create', 'edit', 'delete'], 'create'),
  target: text('$(Build.SourceVersion)'),
  tagSource: choice(['gitTag', 'userSpecifiedTag', 'auto', 'manual'], 'gitTag'),
  tagPattern: text(),
  tag: text(),
  title: text(),
  releaseNotesSource: choice(['filePath', 'inline', 'file', 'input'], 'filePath'),
  releaseNotesFilePath: text(),
  releaseNotesInline: text(),
  assets: text('$(Build.ArtifactStagingDirectory)/*'),
  assetUploadMode: choice(['delete', 'replace'], 'delete'),
  isDraft: flag(false),
  isPreRelease: flag(false),
  addChangeLog: flag(true),
  changeLogCompareToRelease: choice(
    ['lastFullRelease', 'lastNonDraftRelease', 'lastNonDraftReleaseByTag'],
    'lastFullRelease',
  ),
  changeLogCompareToReleaseTag: text(),
  changeLogType: choice(['commitBased', 'issueBased'], 'commitBased'),
  changeLogLabels: text(),
});

/**
 * GitHubRelease@0: checks its inputs and refuses to run, saying which secret would map the
 * connection. Slipway does not talk to the GitHub API for a job.
 */
export const gitHubRelease: TaskDefinition<typeof inputs> = {
  name: 'GitHubRelease',
  version: 0,
  summary: 'checks its inputs; refused at run time, naming the token mapping it needs',
  inputs,
  async run(ctx, o) {
    const repository = o.repositoryName || ctx.variable('Build.Repository.Name') || '';
    const manualTag = o.tagSource === 'userSpecifiedTag' || o.tagSource === 'manual';
    if (o.action !== 'create' || manualTag) {
      if (o.tag === '')
        return {
          result: 'failed',
          reason: `input 'tag' is required for action '${o.action}'${manualTag ? ` with tagSource '${o.tagSource}'` : ''}`,
        };
    }
    const found = serviceConnection(ctx, 'gitHubConnection', o.gitHubConnection, [
      {
        name: 'token',
        secret: true,
        what: `a GitHub token with contents: write on ${repository || 'the repository'}`,
      },
    ]);
    if ('failure' in found) return { result: 'failed', reason: `GitHubRelease@0 refused: ${found.failure}` };
    return {
      result: 'failed',
      reason: `GitHubRelease@0 refused: the token ${o.gitHubConnection}.token is mapped, but Slipway does not call the GitHub API for jobs; ${o.action} the release of ${repository || 'the repository'} from a script step with that secret in its env (gh release ${o.action} or curl)`,
    };
  },
};
